//! Who someone says they are when they register or sign in: phone number, email address, name and
//! a newly chosen password, each checked once at the edge so the rest of the code only ever holds
//! values that passed.

use std::collections::HashSet;
use std::fmt;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// Why an identity value was refused. Variants carry no user input: these errors end up in logs
/// and responses, and phone numbers, emails and passwords are personal data or secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("Enter a Vietnamese mobile or landline number, e.g. 0912 345 678.")]
    InvalidPhone,
    #[error("Enter a valid email address, e.g. ten@example.com.")]
    InvalidEmail,
    #[error("Enter your full name (1 to 100 characters, no control characters).")]
    InvalidName,
    #[error("The password must be at least {min} characters long.")]
    PasswordTooShort { min: usize },
    #[error("The password must be at most {max} characters long.")]
    PasswordTooLong { max: usize },
    #[error("This password is too common or too easy to guess; choose another one.")]
    PasswordTooCommon,
    #[error("The password must not be the same as your phone number or email.")]
    PasswordMatchesLogin,
}

impl IdentityError {
    /// Stable machine code for problem+json responses; clients switch on it, so never rename one.
    pub fn code(&self) -> &'static str {
        match self {
            IdentityError::InvalidPhone => "invalid_phone",
            IdentityError::InvalidEmail => "invalid_email",
            IdentityError::InvalidName => "invalid_name",
            IdentityError::PasswordTooShort { .. } => "password_too_short",
            IdentityError::PasswordTooLong { .. } => "password_too_long",
            IdentityError::PasswordTooCommon => "password_too_common",
            IdentityError::PasswordMatchesLogin => "password_matches_login",
        }
    }

    pub fn message_vi(&self) -> String {
        match self {
            IdentityError::InvalidPhone => {
                "Vui lòng nhập số điện thoại di động hoặc cố định Việt Nam, ví dụ 0912 345 678."
                    .to_owned()
            }
            IdentityError::InvalidEmail => {
                "Vui lòng nhập địa chỉ email hợp lệ, ví dụ ten@example.com.".to_owned()
            }
            IdentityError::InvalidName => {
                "Vui lòng nhập họ và tên (từ 1 đến 100 ký tự, không chứa ký tự điều khiển)."
                    .to_owned()
            }
            IdentityError::PasswordTooShort { min } => {
                format!("Mật khẩu phải có ít nhất {min} ký tự.")
            }
            IdentityError::PasswordTooLong { max } => {
                format!("Mật khẩu không được dài quá {max} ký tự.")
            }
            IdentityError::PasswordTooCommon => {
                "Mật khẩu này quá phổ biến hoặc quá dễ đoán, vui lòng chọn mật khẩu khác."
                    .to_owned()
            }
            IdentityError::PasswordMatchesLogin => {
                "Mật khẩu không được trùng với số điện thoại hoặc email đăng nhập.".to_owned()
            }
        }
    }

    pub fn message_en(&self) -> String {
        self.to_string()
    }
}

/// Longest phone input looked at: generous for separators, small enough to bound the work.
const MAX_PHONE_INPUT_CHARS: usize = 32;

/// A Vietnamese mobile or landline number in E.164 form (`+84912345678`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Phone(String);

impl Phone {
    /// Accepts the ways people write numbers: national (`0912 345 678`, `0912.345.678`),
    /// international (`+84 912-345-678`, `(+84) 912345678`, `84912345678`, `0084…`), and the
    /// `+84 (0) 912…` habit of keeping the trunk 0 after the country code.
    pub fn parse(raw: &str) -> Result<Phone, IdentityError> {
        let raw = raw.trim();
        if raw.is_empty() || raw.chars().count() > MAX_PHONE_INPUT_CHARS {
            return Err(IdentityError::InvalidPhone);
        }
        let mut digits = String::with_capacity(16);
        let mut plus = false;
        for c in raw.chars() {
            match c {
                '0'..='9' => digits.push(c),
                '+' if digits.is_empty() && !plus => plus = true,
                '.' | '-' | '(' | ')' => {}
                // Any whitespace, so a non-breaking space pasted from a web page is fine too.
                c if c.is_whitespace() => {}
                _ => return Err(IdentityError::InvalidPhone),
            }
        }
        let international = if plus {
            Some(digits.as_str())
        } else {
            digits.strip_prefix("00")
        };
        let national = match international {
            Some(intl) => {
                let rest = intl.strip_prefix("84").ok_or(IdentityError::InvalidPhone)?;
                rest.strip_prefix('0').unwrap_or(rest)
            }
            None => match digits.strip_prefix('0') {
                Some(rest) => rest,
                // No `+` and no trunk 0: the only reading left is the country code without `+`.
                None => digits
                    .strip_prefix("84")
                    .ok_or(IdentityError::InvalidPhone)?,
            },
        };
        if !is_national_significant_number(national) {
            return Err(IdentityError::InvalidPhone);
        }
        Ok(Phone(format!("+84{national}")))
    }

    /// E.164, e.g. `+84912345678`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The national spelling with its trunk 0, e.g. `0912345678`.
    pub fn national(&self) -> String {
        format!("0{}", self.significant())
    }

    /// The digits after `+84`.
    fn significant(&self) -> &str {
        self.0.get(3..).unwrap_or_default()
    }
}

/// Mobile numbers (since the 2018 renumbering) are 9 digits after the trunk 0, starting 3, 5, 7, 8
/// or 9; landlines (since 2017) are area code 2x(x) + subscriber, always 10 digits. Only the first
/// digit is checked, so new carrier prefixes (055, 087, 099…) work without a code change.
fn is_national_significant_number(n: &str) -> bool {
    if !n.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    matches!(
        (n.as_bytes().first(), n.len()),
        (Some(b'3' | b'5' | b'7' | b'8' | b'9'), 9) | (Some(b'2'), 10)
    )
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Phone {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// RFC 5321 / RFC 1035 limits, in octets.
const MAX_EMAIL_LEN: usize = 254;
const MAX_EMAIL_LOCAL_LEN: usize = 64;
const MAX_DOMAIN_LABEL_LEN: usize = 63;

/// An email address, trimmed and lower-cased so that one person has one account whatever the
/// capitalisation they typed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// Deliberately narrower than RFC 5322 (no quoted local parts, comments or IP literals): the
    /// address goes into mail headers for password resets, so characters that need quoting there
    /// are refused rather than escaped.
    pub fn parse(raw: &str) -> Result<Email, IdentityError> {
        let s = raw.trim().to_lowercase();
        if s.len() > MAX_EMAIL_LEN {
            return Err(IdentityError::InvalidEmail);
        }
        let (local, domain) = s.split_once('@').ok_or(IdentityError::InvalidEmail)?;
        let local_ok = !local.is_empty()
            && local.len() <= MAX_EMAIL_LOCAL_LEN
            && local.split('.').all(|atom| !atom.is_empty())
            && local.chars().all(|c| c == '.' || is_atext(c));
        let domain_ok = domain.contains('.')
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= MAX_DOMAIN_LABEL_LEN
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c == '-' || c.is_alphanumeric())
            });
        if !local_ok || !domain_ok {
            return Err(IdentityError::InvalidEmail);
        }
        Ok(Email(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What is before the `@`.
    pub fn local_part(&self) -> &str {
        self.0.split_once('@').map_or("", |(local, _)| local)
    }
}

/// RFC 5322 `atext`, widened to Unicode letters and digits (RFC 6531). Excludes whitespace,
/// control characters, `@` and everything that would need quoting.
fn is_atext(c: char) -> bool {
    c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c)
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Email {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

const MAX_NAME_CHARS: usize = 100;

/// A person's full name as they write it ("Nguyễn Thị Minh Khai"), with whitespace tidied.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct FullName(String);

impl FullName {
    /// Tabs and newlines (control characters that are whitespace) are collapsed like spaces, as a
    /// name pasted from elsewhere often carries them; every other control character is refused.
    pub fn parse(raw: &str) -> Result<FullName, IdentityError> {
        if raw
            .chars()
            .any(|c| (c.is_control() && !c.is_whitespace()) || is_invisible_format(c))
        {
            return Err(IdentityError::InvalidName);
        }
        let name = raw.split_whitespace().collect::<Vec<_>>().join(" ");
        let chars = name.chars().count();
        if chars == 0 || chars > MAX_NAME_CHARS {
            return Err(IdentityError::InvalidName);
        }
        Ok(FullName(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Zero-width and bidirectional-override characters: invisible, so they only serve to make one
/// name look like another in the staff console.
fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}' | '\u{FEFF}'
    )
}

impl fmt::Display for FullName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for FullName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

pub const MIN_PASSWORD_CHARS: usize = 10;
/// Bounds the hashing work one request can cause, and no password manager needs more.
pub const MAX_PASSWORD_CHARS: usize = 128;

/// Leaked passwords of 10+ characters (shorter ones fail the length rule anyway): the long ones
/// among the 30 000 most common of the xato corpus as ranked by zxcvbn, plus Vietnamese favourites.
static COMMON_PASSWORDS: OnceLock<HashSet<String>> = OnceLock::new();

fn common_passwords() -> &'static HashSet<String> {
    COMMON_PASSWORDS.get_or_init(|| {
        include_str!("common_passwords.txt")
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(str::to_lowercase)
            .collect()
    })
}

/// A password someone is choosing (registration, reset), checked against the policy. Only ever
/// built from user input and handed to the hasher: no `Serialize`, no `Display`, a redacted `Debug`.
#[derive(Clone)]
pub struct NewPassword(String);

impl NewPassword {
    /// `context` is what the account signs in with (phone, email, in any spelling); the password
    /// may not be one of those. Spaces are kept as typed: they are part of the secret, and
    /// passphrases are welcome.
    pub fn parse(raw: &str, context: &[&str]) -> Result<NewPassword, IdentityError> {
        let chars = raw.chars().count();
        if chars < MIN_PASSWORD_CHARS {
            return Err(IdentityError::PasswordTooShort {
                min: MIN_PASSWORD_CHARS,
            });
        }
        if chars > MAX_PASSWORD_CHARS {
            return Err(IdentityError::PasswordTooLong {
                max: MAX_PASSWORD_CHARS,
            });
        }
        let lower = raw.to_lowercase();
        if context
            .iter()
            .flat_map(|login| login_spellings(login))
            .any(|spelling| spelling == lower)
        {
            return Err(IdentityError::PasswordMatchesLogin);
        }
        let mut chars = lower.chars();
        let first = chars.next();
        let one_repeated_char = chars.all(|c| Some(c) == first);
        if one_repeated_char || common_passwords().contains(&lower) {
            return Err(IdentityError::PasswordTooCommon);
        }
        Ok(NewPassword(raw.to_owned()))
    }

    /// The plain password, for the hasher only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword([redacted])")
    }
}

/// The lower-cased strings a password must not equal for one login: the login itself, its email
/// local part, and every usual spelling of a phone number (`+84…`, `84…`, `0…`, bare digits).
fn login_spellings(login: &str) -> Vec<String> {
    let lower = login.trim().to_lowercase();
    if lower.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(6);
    if let Some((local, _)) = lower.split_once('@') {
        out.push(local.to_owned());
    }
    if let Ok(phone) = Phone::parse(login) {
        let significant = phone.significant();
        out.push(phone.as_str().to_owned());
        out.push(format!("84{significant}"));
        out.push(phone.national());
        out.push(significant.to_owned());
    }
    out.push(lower.split_whitespace().collect());
    out.push(lower);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_usual_spelling_of_a_mobile_number_is_the_same_phone() {
        let spellings = [
            "0912345678",
            "0912 345 678",
            "0912.345.678",
            "0912-345-678",
            "+84912345678",
            "84912345678",
            "+84 912-345-678",
            "(+84) 912345678",
            "+84 (0) 912 345 678",
            "0084 912 345 678",
            "  0912\u{a0}345\u{a0}678\t",
        ];
        for s in spellings {
            let phone = Phone::parse(s).unwrap_or_else(|e| panic!("{s:?} refused: {e}"));
            assert_eq!(phone.as_str(), "+84912345678", "{s:?}");
        }
        let phone = Phone::parse("0912 345 678").unwrap();
        assert_eq!(phone.national(), "0912345678");
        assert_eq!(phone.to_string(), "+84912345678");
    }

    #[test]
    fn every_mobile_prefix_and_landlines_are_accepted() {
        for (raw, e164) in [
            ("0321234567", "+84321234567"),
            ("0551234567", "+84551234567"),
            ("0701234567", "+84701234567"),
            ("0861234567", "+84861234567"),
            ("0991234567", "+84991234567"),
            // Lâm Đồng (Đơn Dương) landline, 0263 area code.
            ("0263 3847 123", "+842633847123"),
            ("+84 263 3847 123", "+842633847123"),
            // Hà Nội, two-digit area code 024 + 8 digits.
            ("024 3825 1234", "+842438251234"),
        ] {
            assert_eq!(Phone::parse(raw).unwrap().as_str(), e164, "{raw:?}");
        }
    }

    #[test]
    fn wrong_phone_numbers_are_refused() {
        for raw in [
            "",
            "   ",
            "+84",
            "091234567",    // one digit short
            "09123456789",  // one digit long for a mobile
            "026338471234", // one digit long for a landline
            "0112345678",   // no such prefix
            "0412345678",   // 04 was Hà Nội's old landline code, not a mobile
            "1900123456",   // no trunk 0, no country code
            "912345678",    // bare significant number
            "+1 202 555 0143",
            "+44 20 7946 0958",
            "0084 1 202 555 0143",
            "0912abc678",
            "O912345678", // letter O for zero
            "0912 345 678 ext 2",
            "+84+912345678",
            "0912+345678",
            "٠٩١٢٣٤٥٦٧٨", // Arabic-Indic digits
            "0912345678_",
            "0 9 1 2 3 4 5 6 7 8 - - - - - - - - - - - -",
        ] {
            assert_eq!(
                Phone::parse(raw),
                Err(IdentityError::InvalidPhone),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn phone_serialises_as_e164_and_deserialises_through_parse() {
        let phone = Phone::parse("0912 345 678").unwrap();
        assert_eq!(serde_json::to_string(&phone).unwrap(), "\"+84912345678\"");
        let back: Phone = serde_json::from_str("\"(+84) 912.345.678\"").unwrap();
        assert_eq!(back, phone);
        assert!(serde_json::from_str::<Phone>("\"+1 202 555 0143\"").is_err());
    }

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        let email = Email::parse("  Nguyen.An@Example.COM \n").unwrap();
        assert_eq!(email.as_str(), "nguyen.an@example.com");
        assert_eq!(email.local_part(), "nguyen.an");
        assert_eq!(
            Email::parse("an+phananh@mail.dondương.vn")
                .unwrap()
                .as_str(),
            "an+phananh@mail.dondương.vn"
        );
        assert_eq!(
            serde_json::to_string(&email).unwrap(),
            "\"nguyen.an@example.com\""
        );
        let back: Email = serde_json::from_str("\"NGUYEN.AN@example.com\"").unwrap();
        assert_eq!(back, email);
    }

    #[test]
    fn malformed_emails_are_refused() {
        // A 252-octet domain of legal labels, so only the total length is wrong below.
        let domain = format!(
            "{}.{}.{}.{}",
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(63),
            "e".repeat(60)
        );
        let long_local = format!("{}@example.com", "a".repeat(65));
        let long_total = format!("ab@{domain}");
        let long_label = format!("a@{}.com", "b".repeat(64));
        for raw in [
            "",
            "   ",
            "an",
            "an@",
            "@example.com",
            "an@example",
            "an@@example.com",
            "an@b@example.com",
            "an @example.com",
            "an@exa mple.com",
            "an@example..com",
            "an@.example.com",
            "an@example.com.",
            "an@-example.com",
            ".an@example.com",
            "an.@example.com",
            "a..n@example.com",
            "an\u{0}@example.com",
            "an@example.com\r\nBcc: victim@example.com",
            "\"an\"@example.com",
            "an<x>@example.com",
            "an@[127.0.0.1]",
            long_local.as_str(),
            long_total.as_str(),
            long_label.as_str(),
        ] {
            assert_eq!(
                Email::parse(raw),
                Err(IdentityError::InvalidEmail),
                "{raw:?}"
            );
        }
        // The limits themselves are fine.
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(64))).is_ok());
        let exactly_254 = format!("a@{domain}");
        assert_eq!(exactly_254.len(), 254);
        assert!(Email::parse(&exactly_254).is_ok());
    }

    #[test]
    fn names_have_their_whitespace_collapsed() {
        assert_eq!(
            FullName::parse("  Nguyễn   Thị\tMinh \n Khai  ")
                .unwrap()
                .as_str(),
            "Nguyễn Thị Minh Khai"
        );
        assert_eq!(FullName::parse("Đặng").unwrap().as_str(), "Đặng");
        assert_eq!(FullName::parse("A").unwrap().as_str(), "A");
        let back: FullName = serde_json::from_str("\" Lê  Văn Tám \"").unwrap();
        assert_eq!(back.as_str(), "Lê Văn Tám");
        assert_eq!(serde_json::to_string(&back).unwrap(), "\"Lê Văn Tám\"");
    }

    #[test]
    fn name_length_counts_characters_not_bytes() {
        // "ễ" is 3 bytes in UTF-8: 100 of them are 300 bytes but a valid 100-character name.
        assert!(FullName::parse(&"ễ".repeat(100)).is_ok());
        assert_eq!(
            FullName::parse(&"ễ".repeat(101)),
            Err(IdentityError::InvalidName)
        );
        // Collapsing happens before counting.
        let padded = format!("   {}          {}   ", "a".repeat(49), "b".repeat(50));
        assert_eq!(
            FullName::parse(&padded).unwrap().as_str().chars().count(),
            100
        );
    }

    #[test]
    fn empty_or_control_character_names_are_refused() {
        for raw in [
            "",
            "   ",
            "\t\n",
            "Nguyễn\u{0}An",
            "Nguyễn\u{1b}[31mAn",
            "Nguyễn\u{7f}",
            "Admin\u{202E}nA",
            "Nguyễn\u{200B}An",
        ] {
            assert_eq!(
                FullName::parse(raw),
                Err(IdentityError::InvalidName),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn password_length_is_counted_in_characters() {
        assert_eq!(
            NewPassword::parse("Xk9#tq2", &[]).unwrap_err(),
            IdentityError::PasswordTooShort { min: 10 }
        );
        // 9 characters but 15 bytes: still too short.
        assert_eq!(
            NewPassword::parse("đườngxấu1", &[]).unwrap_err(),
            IdentityError::PasswordTooShort { min: 10 }
        );
        assert!(NewPassword::parse("đườngxấu12", &[]).is_ok());
        assert!(NewPassword::parse(&"ab".repeat(64), &[]).is_ok());
        assert_eq!(
            NewPassword::parse(&"abc".repeat(43), &[]).unwrap_err(),
            IdentityError::PasswordTooLong { max: 128 }
        );
    }

    #[test]
    fn a_good_password_is_kept_exactly_as_typed() {
        let raw = "  Đồi thông hai mộ 1975 ";
        let password = NewPassword::parse(raw, &["0912345678"]).unwrap();
        assert_eq!(password.expose(), raw);
    }

    #[test]
    fn common_passwords_are_refused_in_any_case() {
        for raw in [
            "1234567890",
            "qwertyuiop",
            "QwErTyUiOp",
            "Password123",
            "PASSWORD123",
            "MatKhau123",
            "AnhYeuEm123",
            "0987654321",
            "iLoveYou123",
        ] {
            assert_eq!(
                NewPassword::parse(raw, &[]).unwrap_err(),
                IdentityError::PasswordTooCommon,
                "{raw:?}"
            );
        }
    }

    #[test]
    fn one_repeated_character_is_refused() {
        for raw in ["zzzzzzzzzzzz", "ZzZzZzZzZzZz", "            ", "ưưưưưưưưưư"] {
            assert_eq!(
                NewPassword::parse(raw, &[]).unwrap_err(),
                IdentityError::PasswordTooCommon,
                "{raw:?}"
            );
        }
    }

    #[test]
    fn the_login_is_not_a_password() {
        let context = ["Tran.Thi.Binh@Example.com", "+84 903 111 222"];
        for raw in [
            "tran.thi.binh",
            "TRAN.THI.BINH",
            "0903111222",
            "+84903111222",
            "84903111222",
            "Tran.Thi.Binh@example.com",
        ] {
            assert_eq!(
                NewPassword::parse(raw, &context).unwrap_err(),
                IdentityError::PasswordMatchesLogin,
                "{raw:?}"
            );
        }
        // Without that context the same strings are (weak but) not the login.
        assert!(NewPassword::parse("0903111222", &[]).is_ok());
        assert!(NewPassword::parse("tran.thi.binh", &["", "  "]).is_ok());
    }

    #[test]
    fn password_debug_is_redacted() {
        let password = NewPassword::parse("Đồi thông hai mộ 1975", &[]).unwrap();
        let debug = format!("{password:?}");
        assert_eq!(debug, "NewPassword([redacted])");
        assert!(!format!("{:?}", Some(&password)).contains("1975"));
    }

    #[test]
    fn common_password_list_is_clean() {
        let text = include_str!("common_passwords.txt");
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.len() >= 1000, "only {} entries", lines.len());
        let mut seen = HashSet::new();
        for line in &lines {
            assert!(!line.trim().is_empty(), "blank line");
            assert_eq!(*line, line.trim(), "{line:?} has surrounding whitespace");
            assert_eq!(*line, line.to_lowercase(), "{line:?} is not lower-case");
            assert!(
                (MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&line.chars().count()),
                "{line:?} could never pass the length rule"
            );
            assert!(!line.starts_with('#'), "{line:?} looks like a comment");
            assert!(seen.insert(*line), "{line:?} is listed twice");
        }
        assert_eq!(common_passwords().len(), lines.len());
        for expected in [
            "1234567890",
            "qwertyuiop",
            "1q2w3e4r5t",
            "password123",
            "matkhau123",
            "anhyeuem123",
            "yeuemmaimai",
            "1234567890vn",
        ] {
            assert!(common_passwords().contains(expected), "{expected} missing");
        }
    }

    #[test]
    fn errors_have_stable_codes_and_both_languages() {
        let all = [
            (IdentityError::InvalidPhone, "invalid_phone"),
            (IdentityError::InvalidEmail, "invalid_email"),
            (IdentityError::InvalidName, "invalid_name"),
            (
                IdentityError::PasswordTooShort { min: 10 },
                "password_too_short",
            ),
            (
                IdentityError::PasswordTooLong { max: 128 },
                "password_too_long",
            ),
            (IdentityError::PasswordTooCommon, "password_too_common"),
            (
                IdentityError::PasswordMatchesLogin,
                "password_matches_login",
            ),
        ];
        for (error, code) in all {
            assert_eq!(error.code(), code);
            assert!(!error.message_vi().is_empty());
            assert_eq!(error.message_en(), error.to_string());
            assert_ne!(error.message_vi(), error.message_en());
        }
        assert_eq!(
            IdentityError::PasswordTooShort { min: 10 }.message_vi(),
            "Mật khẩu phải có ít nhất 10 ký tự."
        );
        assert_eq!(
            IdentityError::PasswordTooLong { max: 128 }.message_en(),
            "The password must be at most 128 characters long."
        );
    }
}
