//! Tracking codes: what a resident reads over the phone to a clerk ("mã phản ánh 7KXM4-R2QHD").
//! Ten characters from an alphabet without look-alikes (no 0/O, 1/I/L, U), nine random and one
//! check character (Luhn mod 30), so a misheard or mistyped character (and nearly every swap of
//! two neighbours) is caught before a lookup.
//! Random, not sequential: a code does not reveal how many reports exist or lead to its neighbours.

use std::fmt;

const ALPHABET: &[u8; 30] = b"23456789ABCDEFGHJKMNPQRSTVWXYZ";
const RANDOM_LEN: usize = 9;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TrackingCode(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrackingCodeError {
    #[error("a tracking code has 10 characters")]
    Length,
    #[error("a tracking code uses digits 2–9 and letters other than I, L, O, U")]
    Character,
    #[error("the tracking code's check character does not match: a character was misread")]
    Check,
}

fn value(c: u8) -> Option<usize> {
    ALPHABET.iter().position(|&a| a == c)
}

/// Luhn mod N check character over `payload`.
fn check_char(payload: &[u8]) -> u8 {
    let n = ALPHABET.len();
    let mut sum = 0;
    for (i, &c) in payload.iter().rev().enumerate() {
        let mut v = value(c).unwrap_or(0);
        if i % 2 == 0 {
            v *= 2;
            v = v / n + v % n;
        }
        sum += v;
    }
    ALPHABET[(n - sum % n) % n]
}

impl TrackingCode {
    pub fn generate() -> Self {
        Self::generate_with(&mut rand::rng())
    }

    /// A code from the given generator (seeded, for synthetic data that must be reproducible).
    pub fn generate_with(rng: &mut impl rand::Rng) -> Self {
        let mut payload: Vec<u8> = (0..RANDOM_LEN)
            .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())])
            .collect();
        let check = check_char(&payload);
        payload.push(check);
        Self(String::from_utf8(payload).unwrap_or_default())
    }

    /// Reads a code as people type it: any case, with or without spaces and dashes.
    pub fn parse(raw: &str) -> Result<Self, TrackingCodeError> {
        let chars: Vec<u8> = raw
            .bytes()
            .filter(|b| !matches!(b, b' ' | b'-' | b'_' | b'.'))
            .map(|b| b.to_ascii_uppercase())
            .collect();
        if chars.len() != RANDOM_LEN + 1 {
            return Err(TrackingCodeError::Length);
        }
        if chars.iter().any(|&c| value(c).is_none()) {
            return Err(TrackingCodeError::Character);
        }
        if check_char(&chars[..RANDOM_LEN]) != chars[RANDOM_LEN] {
            return Err(TrackingCodeError::Check);
        }
        Ok(Self(String::from_utf8(chars).unwrap_or_default()))
    }

    /// The stored form: ten characters, no separator.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The display form, `7KXM4-R2QHD`.
impl fmt::Display for TrackingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (a, b) = self.0.split_at(5.min(self.0.len()));
        write!(f, "{a}-{b}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn generated_codes_parse_back_in_every_spelling() {
        for _ in 0..1000 {
            let code = TrackingCode::generate();
            assert_eq!(code.as_str().len(), 10);
            let shown = code.to_string();
            assert_eq!(TrackingCode::parse(&shown).unwrap(), code);
            assert_eq!(TrackingCode::parse(&shown.to_lowercase()).unwrap(), code);
            let spaced = shown.replace('-', " ");
            assert_eq!(TrackingCode::parse(&spaced).unwrap(), code);
        }
    }

    #[test]
    fn codes_are_not_sequential() {
        let codes: std::collections::HashSet<String> =
            (0..10_000).map(|_| TrackingCode::generate().0).collect();
        assert_eq!(
            codes.len(),
            10_000,
            "no collisions among 10 000 (30^9 possibilities)"
        );
    }

    /// Luhn mod N catches every adjacent swap except of the one pair of values whose doubled
    /// digit sums coincide (as 0↔9 in decimal Luhn): measure it.
    #[test]
    fn nearly_every_adjacent_swap_is_caught() {
        let (mut swaps, mut caught) = (0, 0);
        for _ in 0..2000 {
            let code = TrackingCode::generate();
            for pos in 0..9 {
                let mut bytes = code.as_str().as_bytes().to_vec();
                if bytes[pos] == bytes[pos + 1] {
                    continue;
                }
                bytes.swap(pos, pos + 1);
                swaps += 1;
                if TrackingCode::parse(std::str::from_utf8(&bytes).unwrap()).is_err() {
                    caught += 1;
                }
            }
        }
        assert!(caught * 100 >= swaps * 99, "{caught}/{swaps}");
    }

    #[test]
    fn malformed_codes_are_refused() {
        assert_eq!(TrackingCode::parse("ABC"), Err(TrackingCodeError::Length));
        assert_eq!(
            TrackingCode::parse("0OIL1U2345"),
            Err(TrackingCodeError::Character)
        );
        assert_eq!(
            TrackingCode::parse("';DROPTABL"),
            Err(TrackingCodeError::Character)
        );
        assert_eq!(TrackingCode::parse(""), Err(TrackingCodeError::Length));
    }

    proptest! {
        #[test]
        fn any_single_misread_character_is_caught(pos in 0usize..10, replacement in 0usize..30) {
            let code = TrackingCode::generate();
            let mut bytes = code.as_str().as_bytes().to_vec();
            prop_assume!(bytes[pos] != ALPHABET[replacement]);
            bytes[pos] = ALPHABET[replacement];
            let typo = String::from_utf8(bytes).unwrap();
            prop_assert_eq!(TrackingCode::parse(&typo), Err(TrackingCodeError::Check));
        }
    }
}
