//! Free-text search of the staff queue. Matching ignores Vietnamese diacritics and case: the
//! database folds both the stored text (`reports.search_text`, a generated column) and the
//! patterns with one function, `phananh_fold` (migration `000004_handling`), so "duong",
//! "ĐƯỜNG" and "đường" all find "Đường liên thôn". Here the query is only cut into terms and
//! made safe for `LIKE`.

use unicode_normalization::UnicodeNormalization;

/// Longest query accepted, in characters.
pub const MAX_CHARS: usize = 200;
/// Terms beyond this many are refused (each is one more index probe).
pub const MAX_TERMS: usize = 8;

/// A parsed `q`: each term must occur somewhere in the description or the address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    /// `LIKE` patterns, `%term%`, with `%`, `_` and `\` escaped.
    patterns: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SearchError {
    #[error("the query is longer than {MAX_CHARS} characters")]
    TooLong,
    #[error("the query has more than {MAX_TERMS} words")]
    TooManyTerms,
}

impl SearchQuery {
    /// `None` for a query with no words (an empty `q` is no filter).
    pub fn parse(raw: &str) -> Result<Option<SearchQuery>, SearchError> {
        if raw.chars().count() > MAX_CHARS {
            return Err(SearchError::TooLong);
        }
        // Composed form, and no stray combining marks or control characters: what a phone
        // keyboard sends in NFD then matches the stored NFC text.
        let text: String = raw
            .nfc()
            .filter(|c| !unicode_normalization::char::is_combining_mark(*c) && !c.is_control())
            .collect();
        let patterns: Vec<String> = text
            .split_whitespace()
            .map(|term| format!("%{}%", escape_like(term)))
            .collect();
        match patterns.len() {
            0 => Ok(None),
            n if n > MAX_TERMS => Err(SearchError::TooManyTerms),
            _ => Ok(Some(SearchQuery { patterns })),
        }
    }

    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }
}

/// `LIKE` treats `%`, `_` and the escape character `\` specially; a clerk typing "50%" means
/// the characters.
fn escape_like(term: &str) -> String {
    let mut out = String::with_capacity(term.len());
    for c in term.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_become_escaped_patterns() {
        let q = SearchQuery::parse("  đường   50%_x\\ ").unwrap().unwrap();
        assert_eq!(q.patterns(), ["%đường%", "%50\\%\\_x\\\\%"]);
    }

    #[test]
    fn blank_is_no_filter_and_limits_hold() {
        assert_eq!(SearchQuery::parse("   \t ").unwrap(), None);
        assert_eq!(SearchQuery::parse("").unwrap(), None);
        assert_eq!(
            SearchQuery::parse(&"a".repeat(MAX_CHARS + 1)),
            Err(SearchError::TooLong)
        );
        assert_eq!(
            SearchQuery::parse("a b c d e f g h i"),
            Err(SearchError::TooManyTerms)
        );
        assert!(SearchQuery::parse("a b c d e f g h").unwrap().is_some());
    }

    #[test]
    fn decomposed_input_is_composed_and_stray_marks_dropped() {
        // "đường" typed as d-stroke, u + horn + grave, o + horn, n, g (NFD): composed, it folds
        // like the stored text.
        let q = SearchQuery::parse("\u{111}u\u{31b}\u{300}o\u{31b}ng")
            .unwrap()
            .unwrap();
        assert_eq!(q.patterns(), ["%\u{111}\u{1eeb}\u{1a1}ng%"]);
        // A mark with nothing to compose with is dropped rather than sent to the database.
        let q = SearchQuery::parse("\u{301}abc").unwrap().unwrap();
        assert_eq!(q.patterns(), ["%abc%"]);
    }
}
