//! Readable, unambiguous `error` label values from `core::any::type_name`.
//!
//! `type_name` gives full paths (`std::io::error::Error`,
//! `alloc::boxed::Box<dyn core::error::Error + core::marker::Send + core::marker::Sync>`);
//! a label needs something a person reads at a glance and can still tell apart:
//!
//! | type | label |
//! |---|---|
//! | a type of the observed function's own crate | its name: `CheckoutError` |
//! | a type of another crate | crate and name: `anyhow::Error`, `serde_json::Error` |
//! | a std type of the prelude | its name: `String`, `Box<..>`, `Vec<u8>` |
//! | any other std type | module and name: `io::Error`, `num::ParseIntError`, `fmt::Error` |
//! | a trait object | `dyn` and the trait, auto traits left out: `Box<dyn Error>` |
//!
//! Generic arguments are shortened by the same rules: `Option<io::Error>`.

/// Std types named without their module (the prelude and the common smart pointers).
const BARE_STD: &[&str] = &[
    "String", "Vec", "Box", "Option", "Result", "Rc", "Arc", "Cow", "Error",
];

/// Auto and marker traits left out of `dyn` bounds.
const AUTO_TRAITS: &[&str] = &["Send", "Sync", "Unpin", "UnwindSafe", "RefUnwindSafe"];

fn is_std(krate: &str) -> bool {
    matches!(krate, "std" | "core" | "alloc")
}

/// One path (`a::b::C`), shortened.
fn shorten_path<'a>(path: &'a str, own_crate: &str) -> (&'a str, Option<&'a str>) {
    let mut segments = path.split("::");
    let first = segments.next().unwrap_or(path);
    let last = path.rsplit("::").next().unwrap_or(path);
    if first.len() == path.len() {
        return (path, None);
    }
    if is_std(first) {
        let module = segments.next().unwrap_or(first);
        // `core::error::Error` reads as `Error`; `std::io::error::Error` as `io::Error`.
        if BARE_STD.contains(&last) && (module == "error" || last != "Error") {
            return (last, None);
        }
        if module.eq_ignore_ascii_case(last) || module == "marker" {
            return (last, None);
        }
        return (last, Some(module));
    }
    if first == own_crate {
        (last, None)
    } else {
        (last, Some(first))
    }
}

/// The label value of an error type named `full` (from `type_name`), for a function of
/// the crate `own_crate` (the first segment of its module path).
pub(crate) fn readable(full: &str, own_crate: &str) -> String {
    let mut out = String::with_capacity(full.len());
    let bytes = full.as_bytes();
    let mut i = 0;
    while i < full.len() {
        let c = bytes[i];
        if c.is_ascii_alphabetic() || c == b'_' || !c.is_ascii() {
            // A path: identifier characters and `::`.
            let start = i;
            while i < full.len() {
                let b = bytes[i];
                if b.is_ascii_alphanumeric() || b == b'_' || !b.is_ascii() {
                    i += 1;
                } else if full[i..].starts_with("::") {
                    i += 2;
                } else {
                    break;
                }
            }
            let (name, qualifier) = shorten_path(&full[start..i], own_crate);
            if let Some(q) = qualifier {
                out.push_str(q);
                out.push_str("::");
            }
            out.push_str(name);
        } else {
            out.push(char::from(c));
            i += 1;
        }
    }
    drop_auto_traits(&out)
}

/// `dyn Error + Send + Sync` → `dyn Error`; `dyn Send` alone stays.
fn drop_auto_traits(s: &str) -> String {
    let mut out = s.to_owned();
    for t in AUTO_TRAITS {
        let needle = format!(" + {t}");
        while let Some(at) = find_token(&out, &needle) {
            out.replace_range(at..at + needle.len(), "");
        }
    }
    out
}

/// `needle` in `hay` where it ends at an identifier boundary.
fn find_token(hay: &str, needle: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(at) = hay[from..].find(needle).map(|a| a + from) {
        let end = at + needle.len();
        let boundary = hay[end..]
            .chars()
            .next()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        if boundary {
            return Some(at);
        }
        from = end;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::readable;

    #[test]
    fn std_types_by_module_and_name() {
        assert_eq!(readable("std::io::error::Error", "app"), "io::Error");
        assert_eq!(readable("core::fmt::Error", "app"), "fmt::Error");
        assert_eq!(
            readable("core::num::error::ParseIntError", "app"),
            "num::ParseIntError"
        );
        assert_eq!(
            readable("alloc::string::FromUtf8Error", "app"),
            "string::FromUtf8Error"
        );
        assert_eq!(readable("alloc::string::String", "app"), "String");
        assert_eq!(readable("alloc::vec::Vec<u8>", "app"), "Vec<u8>");
        assert_eq!(readable("i32", "app"), "i32");
        assert_eq!(readable("()", "app"), "()");
        assert_eq!(readable("&str", "app"), "&str");
    }

    #[test]
    fn boxed_trait_objects_without_auto_traits() {
        assert_eq!(
            readable(
                "alloc::boxed::Box<dyn core::error::Error + core::marker::Send + core::marker::Sync>",
                "app"
            ),
            "Box<dyn Error>"
        );
        assert_eq!(
            readable("alloc::boxed::Box<dyn core::error::Error>", "app"),
            "Box<dyn Error>"
        );
        assert_eq!(
            readable("alloc::boxed::Box<dyn core::marker::Send>", "app"),
            "Box<dyn Send>"
        );
    }

    #[test]
    fn other_crates_by_crate_and_name_own_crate_by_name() {
        assert_eq!(readable("anyhow::Error", "app"), "anyhow::Error");
        assert_eq!(
            readable("serde_json::error::Error", "app"),
            "serde_json::Error"
        );
        assert_eq!(
            readable("app::orders::CheckoutError", "app"),
            "CheckoutError"
        );
        assert_eq!(
            readable("core::option::Option<std::io::error::Error>", "app"),
            "Option<io::Error>"
        );
        assert_eq!(
            readable("app::Wrapper<other::Kind, 3>", "app"),
            "Wrapper<other::Kind, 3>"
        );
    }
}
