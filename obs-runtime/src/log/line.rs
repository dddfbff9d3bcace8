//! One log line, written as JSON or as pretty text.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

use tracing::Level;

use crate::redact::REDACTED;
use crate::time::write_rfc3339;
use crate::trace::AttrValue;

pub(super) struct Line<'a> {
    pub(super) nanos: u64,
    pub(super) level: Level,
    pub(super) target: &'a str,
    pub(super) span: Option<&'a str>,
    pub(super) message: &'a str,
    /// The service's fields, a JSON fragment written after the message.
    pub(super) service: &'a str,
    /// The trace and span ids, as hex digits.
    pub(super) trace: Option<([u8; 32], [u8; 16])>,
    pub(super) bound: &'a [(&'static str, std::sync::Arc<str>)],
    pub(super) fields: &'a [(&'static str, AttrValue)],
}

impl Line<'_> {
    pub(super) fn json(&self, out: &mut String, redaction: &Redaction<'_>) {
        out.push_str("{\"timestamp\":\"");
        write_rfc3339(out, self.nanos);
        out.push_str("\",\"level\":\"");
        out.push_str(self.level.as_str());
        out.push_str("\",\"target\":");
        json_str(out, self.target);
        out.push_str(",\"message\":");
        json_str(out, self.message);
        out.push_str(self.service);
        if let Some(span) = self.span {
            out.push_str(",\"span\":");
            json_str(out, span);
        }
        if let Some((trace_id, span_id)) = &self.trace {
            out.push_str(",\"trace_id\":\"");
            out.push_str(core::str::from_utf8(trace_id).unwrap_or_default());
            out.push_str("\",\"span_id\":\"");
            out.push_str(core::str::from_utf8(span_id).unwrap_or_default());
            out.push('"');
        }
        for (key, value) in self.bound {
            if matches!(
                *key,
                "timestamp"
                    | "level"
                    | "target"
                    | "message"
                    | "span"
                    | "trace_id"
                    | "span_id"
                    | "fields"
                    | "service.name"
                    | "service.version"
                    | "deployment.environment.name"
            ) {
                continue;
            }
            out.push(',');
            json_str(out, key);
            out.push(':');
            json_str(
                out,
                if redaction.redacted(key) {
                    REDACTED
                } else {
                    value
                },
            );
        }
        if !self.fields.is_empty() {
            out.push_str(",\"fields\":{");
            for (i, (key, value)) in self.fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_str(out, key);
                out.push(':');
                if redaction.redacted(key) {
                    json_str(out, REDACTED);
                    continue;
                }
                match value {
                    AttrValue::Str(s) => json_str(out, s),
                    AttrValue::Int(n) => {
                        let _ = write!(out, "{n}");
                    }
                    AttrValue::Float(x) if x.is_finite() => {
                        let _ = write!(out, "{x}");
                    }
                    AttrValue::Float(x) => json_str(out, &x.to_string()),
                    AttrValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
                }
            }
            out.push('}');
        }
        out.push_str("}\n");
    }

    pub(super) fn pretty(&self, out: &mut String, redaction: &Redaction<'_>, ansi: bool) {
        let (dim, bold, reset) = if ansi {
            ("\x1b[2m", "\x1b[1m", "\x1b[0m")
        } else {
            ("", "", "")
        };
        let color = match (ansi, self.level) {
            (false, _) => "",
            (true, Level::ERROR) => "\x1b[31m",
            (true, Level::WARN) => "\x1b[33m",
            (true, Level::INFO) => "\x1b[32m",
            (true, Level::DEBUG) => "\x1b[34m",
            (true, Level::TRACE) => "\x1b[35m",
        };
        out.push_str(dim);
        write_rfc3339(out, self.nanos);
        out.push_str(reset);
        // Everything from the program is written with its control characters escaped: a
        // newline or an ANSI sequence in a message or value cannot forge a log line or
        // repaint the terminal.
        let _ = write!(
            out,
            " {color}{:>5}{reset} {dim}{}:{reset} {bold}{}{reset}",
            self.level.as_str(),
            Escaped(&self.target),
            Escaped(&self.message)
        );
        let field = |out: &mut String, key: &str, value: &dyn fmt::Display| {
            let _ = write!(out, " {dim}{}={reset}{}", Escaped(&key), Escaped(value));
        };
        for (key, value) in self.fields {
            if redaction.redacted(key) {
                field(out, key, &REDACTED);
                continue;
            }
            match value {
                AttrValue::Str(s) => field(out, key, &format_args!("{s:?}")),
                other => field(out, key, other),
            }
        }
        for (key, value) in self.bound {
            let value: &dyn fmt::Display = if redaction.redacted(key) {
                &REDACTED
            } else {
                value
            };
            field(out, key, value);
        }
        if let Some((trace_id, span_id)) = &self.trace {
            let (trace_id, span_id) = (
                core::str::from_utf8(trace_id).unwrap_or_default(),
                core::str::from_utf8(span_id).unwrap_or_default(),
            );
            field(out, "trace_id", &trace_id);
            field(out, "span_id", &span_id);
        }
        out.push('\n');
    }
}

/// Which keys a line redacts: those that look sensitive, unless allowed by name.
pub(super) struct Redaction<'a> {
    pub(super) allowed: &'a [Cow<'static, str>],
}

impl Redaction<'_> {
    pub(super) fn redacted(&self, key: &'static str) -> bool {
        crate::redact::sensitive_key(key) && !self.allowed.iter().any(|a| a == key)
    }
}

/// Displays a value with its control characters escaped (`\n`, `\u{1b}`, …).
struct Escaped<'a, T: ?Sized>(&'a T);

impl<T: fmt::Display + ?Sized> fmt::Display for Escaped<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Escaper<'a, 'b>(&'a mut fmt::Formatter<'b>);
        impl fmt::Write for Escaper<'_, '_> {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                for part in s.split_inclusive(char::is_control) {
                    match part.chars().last() {
                        Some(c) if c.is_control() => {
                            self.0.write_str(&part[..part.len() - c.len_utf8()])?;
                            write!(self.0, "{}", c.escape_default())?;
                        }
                        _ => self.0.write_str(part)?,
                    }
                }
                Ok(())
            }
        }
        write!(Escaper(f), "{}", self.0)
    }
}

/// Appends `s` as a JSON string literal.
pub(crate) fn json_str(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    let bytes = s.as_bytes();
    // Runs of bytes that need no escape are copied whole: every byte escaped below is
    // ASCII or the lead byte of U+2028/U+2029, so each cut falls on a char boundary.
    let mut run = 0;
    let mut i = 0;
    while i < bytes.len() {
        // Eight bytes at a time while none of them may need an escape.
        while let Some(chunk) = bytes.get(i..i + 8) {
            let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
            if may_need_escape(word) {
                break;
            }
            i += 8;
        }
        let Some(&byte) = bytes.get(i) else {
            break;
        };
        let (escape, len): (Option<&str>, usize) = match byte {
            b'"' => (Some("\\\""), 1),
            b'\\' => (Some("\\\\"), 1),
            b'\n' => (Some("\\n"), 1),
            b'\r' => (Some("\\r"), 1),
            b'\t' => (Some("\\t"), 1),
            0..=0x1f => (None, 1),
            0xE2 if bytes.get(i + 1) == Some(&0x80)
                && matches!(bytes.get(i + 2), Some(0xA8 | 0xA9)) =>
            {
                (None, 3)
            }
            _ => {
                i += 1;
                continue;
            }
        };
        out.push_str(&s[run..i]);
        if let Some(e) = escape {
            out.push_str(e);
        } else {
            let c = s[i..].chars().next().map_or(0, u32::from);
            let _ = write!(out, "\\u{c:04x}");
        }
        i += len;
        run = i;
    }
    out.push_str(&s[run..]);
    out.push('"');
}

/// Whether one of the eight bytes of `word` is a control character, `"`, `\\` or `0xE2`
/// (the lead byte of U+2028 and U+2029). Exact as a yes/no: the classic "has a zero
/// byte" and "has a byte below n" tests on a word (no false positives or negatives for
/// the whole word; only which byte is not told).
#[inline]
fn may_need_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let below_space = word.wrapping_sub(ONES * 0x20) & !word & HIGH;
    below_space
        | has_zero(word ^ (ONES * u64::from(b'"')))
        | has_zero(word ^ (ONES * u64::from(b'\\')))
        | has_zero(word ^ (ONES * 0xE2))
        != 0
}

#[cfg(test)]
mod tests {
    use core::fmt::Write as _;

    use super::json_str;
    use proptest::prelude::*;

    /// The escape rule, one char at a time: what `json_str` must produce.
    fn reference(s: &str) -> String {
        let mut out = String::from("\"");
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if u32::from(c) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                    let _ = write!(out, "\\u{:04x}", u32::from(c));
                }
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }

    fn escaped(s: &str) -> String {
        let mut out = String::new();
        json_str(&mut out, s);
        out
    }

    #[test]
    fn escapes_exactly_what_json_and_javascript_need() {
        assert_eq!(
            escaped("a\"b\\c\nd\re\tf\u{1}g\u{2028}h\u{2029}i\u{7f}é\u{2027}"),
            "\"a\\\"b\\\\c\\nd\\re\\tf\\u0001g\\u2028h\\u2029i\u{7f}é\u{2027}\""
        );
        assert_eq!(escaped(""), "\"\"");
        // Other chars whose UTF-8 starts with 0xE2, as U+2028 and U+2029 do, stay as they are.
        assert_eq!(escaped("€\u{2030}\u{2027}x"), "\"€\u{2030}\u{2027}x\"");
    }

    proptest! {
        #![proptest_config(crate::testing::proptest_config(256))]

        #[test]
        fn any_text_escapes_like_the_char_by_char_rule(s in any::<String>()) {
            prop_assert_eq!(escaped(&s), reference(&s));
        }

        #[test]
        fn long_mixed_text_escapes_like_the_char_by_char_rule(
            s in "[\\x00-\\x7f\u{2027}\u{2028}\u{2029}\u{e2}é€]{0,64}"
        ) {
            prop_assert_eq!(escaped(&s), reference(&s));
        }

        #[test]
        fn runs_around_escapes_are_kept(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just("\u{2028}".to_owned()),
                    Just("\"".to_owned()),
                    Just("\u{0}".to_owned()),
                    "[a-zé€😀]{0,4}",
                ],
                0..12,
            )
        ) {
            let s = parts.concat();
            prop_assert_eq!(escaped(&s), reference(&s));
        }
    }
}
