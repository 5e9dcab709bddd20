//! The XML form of Open311 answers: elements in the order the specification lists them, text
//! escaped, a missing value an empty element.

use std::fmt::Display;

/// Writes itself as XML elements.
pub trait ToXml {
    fn to_xml(&self, x: &mut Xml);
}

/// A document being written.
#[derive(Debug, Default)]
pub struct Xml(String);

impl Xml {
    /// `<?xml …?>` and the root element `root` holding what `body` writes.
    pub fn document(root: &str, body: impl FnOnce(&mut Xml)) -> String {
        let mut x = Xml(String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"));
        x.element(root, body);
        x.0.push('\n');
        x.0
    }

    /// `<name>…</name>` around what `body` writes.
    pub fn element(&mut self, name: &str, body: impl FnOnce(&mut Xml)) {
        self.0.push('<');
        self.0.push_str(name);
        self.0.push('>');
        body(self);
        self.0.push_str("</");
        self.0.push_str(name);
        self.0.push('>');
    }

    /// `<name>value</name>`.
    pub fn text(&mut self, name: &str, value: impl Display) {
        let value = value.to_string();
        self.element(name, |x| {
            x.0.push_str(&quick_xml::escape::escape(clean(&value)))
        });
    }

    /// `<name>value</name>`, or `<name/>` for none.
    pub fn opt(&mut self, name: &str, value: Option<impl Display>) {
        match value {
            Some(v) => self.text(name, v),
            None => {
                self.0.push('<');
                self.0.push_str(name);
                self.0.push_str("/>");
            }
        }
    }

    /// `<name>` holding one `<item>` per element.
    pub fn list<T: ToXml>(&mut self, name: &str, item: &str, values: &[T]) {
        self.element(name, |x| {
            for v in values {
                x.element(item, |x| v.to_xml(x));
            }
        });
    }
}

/// Text without the characters XML 1.0 cannot carry (control characters other than tab and
/// line breaks). Stored text is checked at the door; this keeps the document well-formed anyway.
fn clean(text: &str) -> std::borrow::Cow<'_, str> {
    let allowed = |c: char| {
        matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
    };
    if text.chars().all(allowed) {
        std::borrow::Cow::Borrowed(text)
    } else {
        std::borrow::Cow::Owned(text.chars().filter(|c| allowed(*c)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Item(&'static str);

    impl ToXml for Item {
        fn to_xml(&self, x: &mut Xml) {
            x.text("name", self.0);
            x.opt("none", None::<&str>);
        }
    }

    #[test]
    fn documents_are_escaped_and_well_formed() {
        let doc = Xml::document("things", |x| {
            x.list("items", "item", &[Item("a < b & \"c\""), Item("bell\u{7}")]);
        });
        assert_eq!(
            doc,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<things><items><item><name>a &lt; b &amp; &quot;c&quot;</name><none/></item><item><name>bell</name><none/></item></items></things>\n"
        );
    }
}
