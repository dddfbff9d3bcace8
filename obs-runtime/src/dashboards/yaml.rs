//! The few YAML forms a Prometheus rule file needs.

use std::fmt::Write as _;

/// `s` as a YAML double-quoted scalar: a JSON string literal, which YAML reads the same.
pub(super) fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    crate::log::json_str(&mut out, s);
    out
}

/// A `key: "value"` map at `indent` spaces, in the given order.
pub(super) fn map(out: &mut String, indent: usize, key: &str, pairs: &[(&str, String)]) {
    if pairs.is_empty() {
        return;
    }
    let pad = " ".repeat(indent);
    let _ = writeln!(out, "{pad}{key}:");
    for (k, v) in pairs {
        let _ = writeln!(out, "{pad}  {k}: {}", quoted(v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_and_maps() {
        assert_eq!(quoted("a{b=\"c\"}\\"), "\"a{b=\\\"c\\\"}\\\\\"");
        let mut out = String::new();
        map(&mut out, 4, "labels", &[("severity", "page".into())]);
        assert_eq!(out, "    labels:\n      severity: \"page\"\n");
    }
}
