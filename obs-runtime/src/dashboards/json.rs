//! A small JSON value and its writer: enough for a Grafana dashboard model.

use std::fmt::Write as _;

/// A JSON value.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Json {
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    /// Keys in insertion order (Grafana does not care, readers do).
    Obj(Vec<(String, Json)>),
}

impl Json {
    /// An object from `(key, value)` pairs.
    pub(super) fn obj<const N: usize>(pairs: [(&str, Json); N]) -> Json {
        Json::Obj(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    pub(super) fn str(s: impl Into<String>) -> Json {
        Json::Str(s.into())
    }

    pub(super) fn num(n: impl Into<f64>) -> Json {
        Json::Num(n.into())
    }

    /// The value, pretty-printed with two-space indentation.
    pub(super) fn render(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, 0);
        out.push('\n');
        out
    }

    fn write(&self, out: &mut String, depth: usize) {
        match self {
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Num(n) if n.is_finite() => {
                if n.fract() == 0.0 && n.abs() < 1e15 {
                    #[allow(
                        clippy::cast_possible_truncation,
                        reason = "an integral value below 1e15"
                    )]
                    let _ = write!(out, "{}", *n as i64);
                } else {
                    let _ = write!(out, "{n}");
                }
            }
            Json::Num(_) => out.push_str("null"),
            Json::Str(s) => string(out, s),
            Json::Arr(items) if items.is_empty() => out.push_str("[]"),
            Json::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    out.push_str(if i == 0 { "\n" } else { ",\n" });
                    indent(out, depth + 1);
                    item.write(out, depth + 1);
                }
                out.push('\n');
                indent(out, depth);
                out.push(']');
            }
            Json::Obj(pairs) if pairs.is_empty() => out.push_str("{}"),
            Json::Obj(pairs) => {
                out.push('{');
                for (i, (k, v)) in pairs.iter().enumerate() {
                    out.push_str(if i == 0 { "\n" } else { ",\n" });
                    indent(out, depth + 1);
                    string(out, k);
                    out.push_str(": ");
                    v.write(out, depth + 1);
                }
                out.push('\n');
                indent(out, depth);
                out.push('}');
            }
        }
    }
}

fn indent(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push_str("  ");
    }
}

/// `s` as a JSON string literal.
fn string(out: &mut String, s: &str) {
    crate::log::json_str(out, s);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_nested_values() {
        let v = Json::obj([
            ("a", Json::num(1)),
            (
                "b",
                Json::Arr(vec![
                    Json::str("x\"y"),
                    Json::num(f64::NAN),
                    Json::Bool(true),
                ]),
            ),
            ("c", Json::num(0.5)),
            ("d", Json::Obj(Vec::new())),
        ]);
        assert_eq!(
            v.render(),
            "{\n  \"a\": 1,\n  \"b\": [\n    \"x\\\"y\",\n    null,\n    true\n  ],\n  \"c\": 0.5,\n  \"d\": {}\n}\n"
        );
    }
}
