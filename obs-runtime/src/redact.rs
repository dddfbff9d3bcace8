//! One redaction policy for log lines, span attributes and span events: values of keys
//! that look secret-bearing ([`looks_sensitive`]) are replaced, and inside any string
//! value URL credentials (`postgres://user:pw@host`) and `key: value` / `key=value` /
//! `("key", "value")` pairs with such keys are masked.

use std::borrow::Cow;
use std::cell::Cell;

use obs_names::looks_sensitive;

/// What replaces a secret.
pub const REDACTED: &str = "[REDACTED]";

/// [`looks_sensitive`] for a field name, memoised per thread in a small direct-mapped
/// table keyed by the name's address and length (field names are static): a hit is a
/// multiply, a shift and a compare; no locking or allocation on the recording path.
pub(crate) fn sensitive_key(key: &'static str) -> bool {
    const SLOTS: usize = 256;
    thread_local! {
        static CACHE: [Cell<(usize, usize, bool)>; SLOTS] =
            const { [const { Cell::new((0, 0, false)) }; SLOTS] };
    }
    let id = (key.as_ptr() as usize, key.len());
    // Fibonacci hashing of address + length: names packed a few bytes apart in one
    // callsite's table (`sku` right after `items`) land in different slots.
    let slot = (id.0.wrapping_add(id.1) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56;
    #[allow(clippy::cast_possible_truncation)]
    let slot = slot as usize % SLOTS;
    CACHE
        .try_with(|cache| {
            let (ptr, len, found) = cache[slot].get();
            if (ptr, len) == id {
                return found;
            }
            let found = looks_sensitive(key);
            cache[slot].set((id.0, id.1, found));
            found
        })
        .unwrap_or_else(|_| looks_sensitive(key))
}

/// `value` with URL credentials and sensitive `key: value` pairs masked; borrowed when
/// nothing needed masking.
pub(crate) fn scrub(value: &str) -> Cow<'_, str> {
    if !value.bytes().any(|b| matches!(b, b':' | b'=' | b',')) {
        return Cow::Borrowed(value);
    }
    // Credentials in a URL need `://` and an `@`; a secret's key needs one of the stems
    // somewhere. Type names and module paths (`std::io::Error`) have neither and are
    // passed by a byte scan.
    let urls = if value.contains('@') {
        mask_url_credentials(value)
    } else {
        Cow::Borrowed(value)
    };
    if !mentions_stem(urls.as_bytes()) {
        return urls;
    }
    match mask_pairs(&urls) {
        Cow::Borrowed(_) => urls,
        Cow::Owned(masked) => Cow::Owned(masked),
    }
}

/// `scheme://user:password@host` → `scheme://user:[REDACTED]@host`;
/// `scheme://token@host` → `scheme://[REDACTED]@host`.
fn mask_url_credentials(value: &str) -> Cow<'_, str> {
    let mut out = String::new();
    let mut copied = 0;
    let mut search = 0;
    while let Some(found) = value[search..].find("://") {
        let start = search + found + 3;
        let end_at = |stop_at_space: bool| {
            value[start..]
                .find(|c: char| {
                    matches!(c, '/' | '?' | '#' | '"' | '\'' | '<' | '>')
                        || (stop_at_space && c.is_whitespace())
                })
                .map_or(value.len(), |e| start + e)
        };
        let mut end = end_at(true);
        if !value[start..end].contains('@') {
            // A password with a space in it (an invalid URL, echoed in an error): the
            // credentials still end at the `@` before the host.
            let wide = end_at(false);
            if value[start..wide].contains('@') {
                end = wide;
            }
        }
        search = end.max(start);
        let authority = &value[start..end];
        let Some(at) = authority.rfind('@') else {
            continue;
        };
        let userinfo = &authority[..at];
        out.push_str(&value[copied..start]);
        match userinfo.split_once(':') {
            Some((user, _)) => {
                out.push_str(user);
                out.push(':');
                out.push_str(REDACTED);
            }
            None => out.push_str(REDACTED),
        }
        copied = start + at;
    }
    if copied == 0 {
        return Cow::Borrowed(value);
    }
    out.push_str(&value[copied..]);
    Cow::Owned(out)
}

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

/// Word stems of secret-bearing keys, lowercase: a key holding none of them is not
/// sensitive (`card` is one too).
const STEMS: [&[u8]; 16] = [
    b"pass", b"pwd", b"secret", b"token", b"auth", b"bearer", b"cookie", b"cred", b"cvv", b"ssn",
    b"jwt", b"dsn", b"key", b"session", b"otp", b"card",
];

/// Whether `text` holds `stem` at `at`, in any case.
fn stem_at(text: &[u8], at: usize, stem: &[u8]) -> bool {
    text.get(at..at + stem.len()).is_some_and(|run| {
        run.iter()
            .zip(stem)
            .all(|(a, b)| a.to_ascii_lowercase() == *b)
    })
}

/// Whether any stem occurs anywhere in `text`: when none does, no key in it can be
/// sensitive, and [`mask_pairs`] would change nothing.
fn mentions_stem(text: &[u8]) -> bool {
    // The stems' first two letters as a set of 65 536 bits: the stems are compared only
    // where one of them may start, which in type names and paths is almost nowhere.
    static PREFIXES: [u64; 1024] = {
        let mut set = [0u64; 1024];
        let mut i = 0;
        while i < STEMS.len() {
            let pair = (STEMS[i][0] as usize) << 8 | STEMS[i][1] as usize;
            set[pair >> 6] |= 1 << (pair & 63);
            i += 1;
        }
        set
    };
    text.windows(2).enumerate().any(|(at, w)| {
        let pair =
            usize::from(w[0].to_ascii_lowercase()) << 8 | usize::from(w[1].to_ascii_lowercase());
        PREFIXES[pair >> 6] & 1 << (pair & 63) != 0
            && STEMS.iter().any(|stem| stem_at(text, at, stem))
    })
}

/// Cheap first test of a key found in free text, with no allocation: could it be
/// secret-bearing at all? Only then does [`looks_sensitive`] (which splits it into words)
/// run, so module paths and ordinary `key: value` text cost a byte scan.
fn may_be_sensitive(key: &str) -> bool {
    mentions_stem(key.as_bytes())
}

/// The end of a quoted run starting at `open` (the index of its `"`), past escaped quotes;
/// `None` when it is not closed.
fn closing_quote(value: &str, open: usize) -> Option<usize> {
    let b = value.as_bytes();
    let mut i = open + 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// Masks the value after a sensitive key followed by `:`, `=` (or, for a quoted key, `,`
/// as in a Debug-printed tuple). Quoted text that is not a key is scanned inside, so
/// `["--password=x"]` and escaped JSON in a string are masked too.
fn mask_pairs(value: &str) -> Cow<'_, str> {
    let b = value.as_bytes();
    let n = b.len();
    let mut out = String::new();
    let mut copied = 0;
    let mut i = 0;
    while i < n {
        let quoted = b[i] == b'"';
        let (key, after) = if quoted {
            let Some(close) = closing_quote(value, i) else {
                i += 1;
                continue;
            };
            (&value[i + 1..close], close + 1)
        } else if is_key_byte(b[i]) && (i == 0 || !is_key_byte(b[i - 1])) {
            let end = value[i..]
                .find(|c: char| !c.is_ascii() || !is_key_byte(c as u8))
                .map_or(n, |e| i + e);
            (&value[i..end], end)
        } else {
            i += 1;
            continue;
        };
        // Past spaces and the closing quote of a key written in escaped JSON (`\"`).
        let mut k = after;
        while k < n && matches!(b[k], b' ' | b'\\' | b'"') && !(quoted && b[k] == b'"') {
            k += 1;
        }
        let separator = k < n && (b[k] == b':' || b[k] == b'=' || (quoted && b[k] == b','));
        let plausible = !key.is_empty() && key.bytes().all(is_key_byte);
        if !separator || !plausible || !may_be_sensitive(key) || !looks_sensitive(key) {
            // Not a secret's key: a quoted run is scanned inside, a word is skipped.
            i = if quoted { i + 1 } else { after.max(i + 1) };
            continue;
        }
        let mut v = k + 1;
        while v < n && b[v] == b' ' {
            v += 1;
        }
        // Masked already (text scrubbed twice): left as it is.
        if value[v..].starts_with(REDACTED) || value[v..].starts_with("\"[REDACTED]") {
            i = v + REDACTED.len();
            continue;
        }
        // An escaped quote opening the value (`\"hunter2\"`): the value is what it encloses.
        if v + 1 < n && b[v] == b'\\' && b[v + 1] == b'"' {
            v += 2;
        }
        let value_end = if v < n && b[v] == b'"' {
            closing_quote(value, v).map_or(n, |c| c + 1)
        } else {
            // A bare value ends at whitespace, except the scheme of an `Authorization`
            // value (`Bearer abc`, `Basic abc`), which takes the next word along.
            let word_end = |from: usize| {
                value[from..]
                    .find(|c: char| {
                        c.is_whitespace() || [',', ';', '&', ')', '}', ']', '"', '\\'].contains(&c)
                    })
                    .map_or(n, |e| from + e)
            };
            let first = word_end(v);
            let scheme = &value[v..first];
            if (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("basic"))
                && first < n
                && b[first] == b' '
            {
                word_end(first + 1)
            } else {
                first
            }
        };
        if value_end > v && !value[v..value_end].contains(REDACTED) {
            out.push_str(&value[copied..v]);
            out.push_str(if b[v] == b'"' {
                "\"[REDACTED]\""
            } else {
                REDACTED
            });
            copied = value_end;
        }
        i = value_end.max(i + 1);
    }
    if copied == 0 {
        return Cow::Borrowed(value);
    }
    out.push_str(&value[copied..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::scrub;

    #[test]
    fn url_credentials_and_pairs_are_masked() {
        for (input, expected) in [
            (
                "connecting to postgres://app:hunter2@db:5432/orders",
                "connecting to postgres://app:[REDACTED]@db:5432/orders",
            ),
            (
                "https://ghp_TOKEN@github.com/x.git",
                "https://[REDACTED]@github.com/x.git",
            ),
            (
                r#"{"content-type": "json", "authorization": "Bearer abc.def"}"#,
                r#"{"content-type": "json", "authorization": "[REDACTED]"}"#,
            ),
            (
                r#"[("Authorization", "Bearer xyz"), ("accept", "*/*")]"#,
                r#"[("Authorization", "[REDACTED]"), ("accept", "*/*")]"#,
            ),
            ("password=hunter2&user=al", "password=[REDACTED]&user=al"),
            // Scrubbing twice changes nothing.
            ("password=[REDACTED]", "password=[REDACTED]"),
            ("Authorization: [REDACTED]", "Authorization: [REDACTED]"),
            (
                "http://user:pa ss@127.0.0.1:1/v1/traces",
                "http://user:[REDACTED]@127.0.0.1:1/v1/traces",
            ),
            (
                "api_key: k-123, region: eu",
                "api_key: [REDACTED], region: eu",
            ),
            ("nothing to see: here", "nothing to see: here"),
            (
                "unexpected token: EOF at line 3",
                "unexpected token: [REDACTED] at line 3",
            ),
            (
                r#"args: ["--password=hunter2", "-v"]"#,
                r#"args: ["--password=[REDACTED]", "-v"]"#,
            ),
            (
                r#"body: "{\"password\":\"hunter2\"}""#,
                r#"body: "{\"password\":\"[REDACTED]\"}""#,
            ),
            (
                r#"he said "hi; password=hunter2"#,
                r#"he said "hi; password=[REDACTED]"#,
            ),
            (
                "authorization: Bearer abc.def rest",
                "authorization: [REDACTED] rest",
            ),
            ("http://example.com/a?b=c", "http://example.com/a?b=c"),
        ] {
            assert_eq!(scrub(input), expected, "{input}");
        }
    }

    /// The stems pass nothing the secret words catch: every sensitive word holds one, and
    /// every sensitive pair holds one in one of its words.
    #[test]
    fn every_sensitive_word_and_pair_holds_a_stem() {
        for word in obs_names::SENSITIVE_WORDS {
            assert!(super::mentions_stem(word.as_bytes()), "{word}");
        }
        for (a, b) in obs_names::SENSITIVE_PAIRS {
            assert!(
                super::mentions_stem(a.as_bytes()) || super::mentions_stem(b.as_bytes()),
                "{a} {b}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,200}") {
            let _ = scrub(&s);
        }

        /// The byte scans that pass type names and paths untouched never let a secret by:
        /// on text made of keys, separators, URLs and paths, the fast answer is the full
        /// masking's.
        #[test]
        fn the_fast_paths_mask_what_the_full_masking_does(
            parts in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just("std::io::Error"),
                    proptest::strategy::Just("PassWord"),
                    proptest::strategy::Just("api_KEY"),
                    proptest::strategy::Just("Cvv"),
                    proptest::strategy::Just("card"),
                    proptest::strategy::Just("user"),
                    proptest::strategy::Just("://"),
                    proptest::strategy::Just("@"),
                    proptest::strategy::Just(":"),
                    proptest::strategy::Just("="),
                    proptest::strategy::Just(", "),
                    proptest::strategy::Just(" "),
                    proptest::strategy::Just("\""),
                    proptest::strategy::Just("hunter2"),
                    proptest::strategy::Just("db:5432/x"),
                ],
                0..16,
            )
        ) {
            let text = parts.concat();
            let full = super::mask_pairs(&super::mask_url_credentials(&text)).into_owned();
            proptest::prop_assert_eq!(scrub(&text).into_owned(), full, "{}", text);
        }
    }
}
