//! W3C Trace Context (`traceparent`, `tracestate`) and W3C Baggage, without dependencies.
//!
//! [`extract`] reads the headers of an incoming request through a lookup closure, so it
//! works with any header map; [`inject`] writes the current span's context into an
//! outgoing one. Malformed input is ignored, never an error: a bad `traceparent` starts a
//! new trace, a bad `tracestate` is dropped, bad baggage members are skipped.
//!
//! ```
//! use obs_runtime::trace::propagation::{self, Baggage};
//!
//! let headers = [
//!     ("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
//!     ("tracestate", "vendor=opaque"),
//!     ("baggage", "tenant=acme,plan=gold;ttl=30"),
//! ];
//! let get = |name: &str| headers.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
//! let incoming = propagation::extract(get).unwrap();
//! assert_eq!(incoming.context.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
//! assert!(incoming.context.sampled && incoming.context.remote);
//! assert_eq!(incoming.trace_state.as_deref(), Some("vendor=opaque"));
//! assert_eq!(incoming.baggage.get("plan"), Some("gold"));
//!
//! let mut out = Vec::new();
//! propagation::inject_context(&incoming.context, incoming.trace_state.as_deref(), &Baggage::default(), |k, v| out.push((k, v)));
//! assert_eq!(out[0], ("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned()));
//! ```

use core::fmt::Write as _;

use crate::trace::{SpanContext, SpanId, TraceId};

/// The `traceparent` header name.
pub const TRACEPARENT: &str = "traceparent";
/// The `tracestate` header name.
pub const TRACESTATE: &str = "tracestate";
/// The `baggage` header name.
pub const BAGGAGE: &str = "baggage";

/// Most `tracestate` list members kept (W3C limit).
const MAX_TRACESTATE_MEMBERS: usize = 32;
/// Longest `tracestate` header kept, in bytes.
const MAX_TRACESTATE_LEN: usize = 512;
/// Members longer than this are the first removed when a `tracestate` is truncated.
const MAX_TRACESTATE_MEMBER_KEPT: usize = 128;
/// Longest `tracestate` header read at all, in bytes: far over the limit, it is dropped
/// without being split.
const MAX_TRACESTATE_READ: usize = 8192;
/// Most baggage entries kept (W3C limit).
const MAX_BAGGAGE_ENTRIES: usize = 180;
/// Longest baggage header read, in bytes (W3C limit).
const MAX_BAGGAGE_LEN: usize = 8192;

/// What an incoming request carried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extracted {
    /// The caller's span: the parent of the server span (`remote` is set).
    pub context: SpanContext,
    /// The vendor-specific `tracestate`, when well-formed.
    pub trace_state: Option<String>,
    /// The W3C baggage entries.
    pub baggage: Baggage,
}

/// Parses a `traceparent` value; `None` when malformed.
///
/// Version `00` must be exactly 55 characters; a later version may append fields, which
/// are ignored; version `ff` is invalid. Ids are lowercase hex and not all zeros.
///
/// ```
/// use obs_runtime::trace::propagation::parse_traceparent;
/// assert!(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00").is_some());
/// assert!(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01").is_none());
/// assert!(parse_traceparent("garbage").is_none());
/// ```
pub fn parse_traceparent(value: &str) -> Option<SpanContext> {
    let value = value.trim_matches(|c| c == ' ' || c == '\t');
    let bytes = value.as_bytes();
    if bytes.len() < 55 {
        return None;
    }
    // Byte-checked before any slicing: a multibyte character in the first bytes must not
    // split a `str` index.
    let version = value.get(..2)?;
    if !is_lower_hex(version) || version == "ff" {
        return None;
    }
    if version == "00" && bytes.len() != 55 {
        return None;
    }
    if bytes.len() > 55 && bytes[55] != b'-' {
        return None;
    }
    if bytes[2] != b'-' || bytes[35] != b'-' || bytes[52] != b'-' {
        return None;
    }
    let trace_id = TraceId::from_hex(value.get(3..35)?)?;
    let span_id = SpanId::from_hex(value.get(36..52)?)?;
    let flags = value.get(53..55)?;
    if !is_lower_hex(flags) {
        return None;
    }
    let flags = u8::from_str_radix(flags, 16).ok()?;
    Some(SpanContext {
        trace_id,
        span_id,
        sampled: flags & 1 == 1,
        remote: true,
    })
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Formats `context` as a version `00` `traceparent` value.
pub fn format_traceparent(context: &SpanContext) -> String {
    format!(
        "00-{}-{}-{:02x}",
        context.trace_id,
        context.span_id,
        context.flags()
    )
}

/// Validates a `tracestate` value: `key=value` members with keys in the W3C grammar and
/// values of printable ASCII without `,` and `=`; a malformed member drops the whole value
/// (`None`). A value over 32 members or 512 bytes is truncated as the W3C specification
/// says: members longer than 128 bytes go first, then members from the end.
///
/// ```
/// use obs_runtime::trace::propagation::parse_tracestate;
/// assert_eq!(parse_tracestate("a=1, b=2").as_deref(), Some("a=1,b=2"));
/// assert_eq!(parse_tracestate("a=1,B=2"), None);
/// let long = (0..40).map(|i| format!("k{i}=v")).collect::<Vec<_>>().join(",");
/// assert_eq!(parse_tracestate(&long).unwrap().split(',').count(), 32);
/// ```
pub fn parse_tracestate(value: &str) -> Option<String> {
    if value.len() > MAX_TRACESTATE_READ {
        return None;
    }
    let mut members: Vec<&str> = Vec::new();
    for member in value.split(',') {
        let member = member.trim_matches(|c| c == ' ' || c == '\t');
        if member.is_empty() {
            continue;
        }
        let (key, val) = member.split_once('=')?;
        let key_ok = !key.is_empty()
            && key.len() <= 256
            && key
                .bytes()
                .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'*' | b'/' | b'@'))
            && key.as_bytes()[0].is_ascii_lowercase() | key.as_bytes()[0].is_ascii_digit();
        let val_ok = !val.is_empty()
            && val.len() <= 256
            && val
                .bytes()
                .all(|b| (0x20..=0x7e).contains(&b) && b != b',' && b != b'=')
            && !val.ends_with(' ');
        if !key_ok || !val_ok {
            return None;
        }
        members.push(member);
    }
    let len = |m: &[&str]| m.iter().map(|s| s.len()).sum::<usize>() + m.len().saturating_sub(1);
    if members.len() > MAX_TRACESTATE_MEMBERS || len(&members) > MAX_TRACESTATE_LEN {
        members.retain(|m| m.len() <= MAX_TRACESTATE_MEMBER_KEPT);
    }
    while members.len() > MAX_TRACESTATE_MEMBERS || len(&members) > MAX_TRACESTATE_LEN {
        members.pop();
    }
    (!members.is_empty()).then(|| members.join(","))
}

/// W3C baggage: key-value pairs that travel with a request across services.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Baggage {
    entries: Vec<(String, String)>,
}

impl Baggage {
    /// Parses a `baggage` header; members that do not parse are skipped, properties
    /// (`;k=v`) are dropped, values are percent-decoded.
    pub fn parse(value: &str) -> Self {
        let mut entries = Vec::new();
        if value.len() > MAX_BAGGAGE_LEN {
            return Self { entries };
        }
        for member in value.split(',') {
            if entries.len() == MAX_BAGGAGE_ENTRIES {
                break;
            }
            let pair = member.split(';').next().unwrap_or("");
            let Some((key, val)) = pair.split_once('=') else {
                continue;
            };
            let key = key.trim();
            let val = val.trim();
            if key.is_empty() || !key.bytes().all(is_token_byte) {
                continue;
            }
            let Some(val) = percent_decode(val) else {
                continue;
            };
            entries.retain(|(k, _): &(String, String)| k != key);
            entries.push((key.to_owned(), val));
        }
        Self { entries }
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Sets `key` to `value`, replacing an earlier value.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let key = key.into();
        self.entries.retain(|(k, _)| *k != key);
        self.entries.push((key, value.into()));
    }

    /// The entries, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// No entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The `baggage` header value, values percent-encoded.
    pub fn to_header(&self) -> String {
        let mut out = String::new();
        for (i, (k, v)) in self.entries.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(k);
            out.push('=');
            for b in v.bytes() {
                if b.is_ascii_alphanumeric() || b"-._~!#$&'*+^`|/:?@[]".contains(&b) {
                    out.push(char::from(b));
                } else {
                    let _ = write!(out, "%{b:02X}");
                }
            }
        }
        out
    }
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Decodes `%XX` escapes; `None` for a bad escape or invalid UTF-8.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            // Two hex digits exactly: `from_str_radix` alone would take `%+A`.
            let hex = bytes.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            out.push(u8::from_str_radix(core::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Reads the `baggage` of an incoming request, whether or not it carries a valid
/// `traceparent` (the W3C specifications treat the two headers independently).
pub fn extract_baggage<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Baggage {
    get(BAGGAGE).map(Baggage::parse).unwrap_or_default()
}

/// Reads the trace context and baggage of an incoming request. `get` returns a header's
/// value by its lowercase name. `None` when there is no valid `traceparent`; the baggage
/// alone is then read with [`extract_baggage`].
pub fn extract<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Option<Extracted> {
    let context = parse_traceparent(get(TRACEPARENT)?)?;
    Some(Extracted {
        context,
        trace_state: get(TRACESTATE).and_then(parse_tracestate),
        baggage: get(BAGGAGE).map(Baggage::parse).unwrap_or_default(),
    })
}

/// Writes `traceparent`, and `tracestate` and `baggage` when present, through `set`.
pub fn inject_context(
    context: &SpanContext,
    trace_state: Option<&str>,
    baggage: &Baggage,
    mut set: impl FnMut(&'static str, String),
) {
    set(TRACEPARENT, format_traceparent(context));
    if let Some(state) = trace_state {
        set(TRACESTATE, state.to_owned());
    }
    if !baggage.is_empty() {
        set(BAGGAGE, baggage.to_header());
    }
}

/// Writes the current span's context (from the obs trace layer), with its trace's baggage,
/// into an outgoing request's headers through `set`. Does nothing outside a span, or when the obs layer is
/// not installed.
pub fn inject(set: impl FnMut(&'static str, String)) {
    if let Some((context, trace_state)) = crate::trace::current_with_state() {
        let baggage = crate::trace::current_baggage().unwrap_or_default();
        inject_context(&context, trace_state.as_deref(), &baggage, set);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn traceparent_cases() {
        let c = parse_traceparent(VALID).unwrap();
        assert_eq!(format_traceparent(&c), VALID);
        assert!(
            !parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
                .unwrap()
                .sampled
        );
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba9é2b7-01",
        ] {
            assert_eq!(parse_traceparent(bad), None, "{bad:?}");
        }
        // A future version may carry more fields.
        assert!(
            parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-abc")
                .is_some()
        );
    }

    #[test]
    fn tracestate_and_baggage() {
        assert_eq!(
            parse_tracestate("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE").as_deref(),
            Some("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")
        );
        assert_eq!(parse_tracestate("Bad=1"), None);
        assert_eq!(parse_tracestate("a=b=c"), None);
        // Over 32 members: the ones from the end go.
        let many = (0..40)
            .map(|i| format!("k{i}=v"))
            .collect::<Vec<_>>()
            .join(",");
        let kept = parse_tracestate(&many).unwrap();
        assert_eq!(kept.split(',').count(), 32);
        assert!(kept.starts_with("k0=v,k1=v") && kept.ends_with("k31=v"));
        // Over 512 bytes: members over 128 bytes go first, then from the end.
        let big = format!("big={}", "x".repeat(200));
        let value = format!(
            "a=1,{big},b=2,{},z=9",
            (0..60)
                .map(|i| format!("m{i}=vvvv"))
                .collect::<Vec<_>>()
                .join(",")
        );
        let kept = parse_tracestate(&value).unwrap();
        assert!(!kept.contains("big="), "{kept}");
        assert!(kept.starts_with("a=1,b=2,m0=vvvv"));
        assert!(kept.len() <= 512 && kept.split(',').count() <= 32);
        assert_eq!(parse_tracestate(&"x".repeat(9000)), None);
        let b = Baggage::parse("user=al%20ice;p=1, bad key=x,x=%zz,plan=gold");
        assert_eq!(
            b.iter().collect::<Vec<_>>(),
            [("user", "al ice"), ("plan", "gold")]
        );
        assert_eq!(b.to_header(), "user=al%20ice,plan=gold");
        // `%+A` is not an escape: `from_str_radix` alone would read it as 0x0A.
        assert_eq!(
            Baggage::parse("a=%+A,b=%0A").iter().collect::<Vec<_>>(),
            [("b", "\n")]
        );
        assert_eq!(percent_decode("%+A"), None);
        assert_eq!(percent_decode("%-1"), None);
        assert_eq!(percent_decode("%4"), None);
    }

    #[test]
    fn multibyte_characters_never_split() {
        // Panicked on a `str` index inside the euro sign.
        let value = format!("€{}", "a".repeat(53));
        assert_eq!(parse_traceparent(&value), None);
        let value = format!("0€{}", "a".repeat(60));
        assert_eq!(parse_traceparent(&value), None);
        let headers = [("traceparent", value.as_str()), ("baggage", "k=v")];
        let get = |n: &str| headers.iter().find(|(k, _)| *k == n).map(|(_, v)| *v);
        assert_eq!(extract(get), None);
        // Baggage is read without a valid trace context.
        assert_eq!(extract_baggage(get).get("k"), Some("v"));
    }

    /// Property tests: every parser, fed arbitrary strings and bytes, never panics, and
    /// what it accepts is within the spec's limits. `OBS_PROPTEST_CASES` raises the count.
    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn config() -> ProptestConfig {
            crate::testing::proptest_config(512)
        }

        fn all_parsers(s: &str) {
            if let Some(c) = parse_traceparent(s) {
                assert_eq!(parse_traceparent(&format_traceparent(&c)), Some(c));
            }
            if let Some(t) = parse_tracestate(s) {
                assert!(t.len() <= MAX_TRACESTATE_LEN, "{t}");
                assert!(t.split(',').count() <= MAX_TRACESTATE_MEMBERS, "{t}");
                assert_eq!(parse_tracestate(&t).as_deref(), Some(t.as_str()));
            }
            let b = Baggage::parse(s);
            assert!(b.iter().count() <= MAX_BAGGAGE_ENTRIES);
            assert_eq!(Baggage::parse(&b.to_header()), b);
            let _ = percent_decode(s);
        }

        proptest! {
            #![proptest_config(config())]

            #[test]
            fn arbitrary_strings(s in "\\PC{0,700}") {
                all_parsers(&s);
            }

            #[test]
            fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..700)) {
                all_parsers(&String::from_utf8_lossy(&bytes));
            }

            #[test]
            fn near_valid_traceparents(
                prefix in "\\PC{0,3}",
                body in "[0-9a-f-]{50,58}",
            ) {
                all_parsers(&format!("{prefix}{body}"));
            }

            #[test]
            fn near_valid_lists(s in "([a-z0-9%*@/_ =;+-]{0,12},){0,60}") {
                all_parsers(&s);
            }
        }
    }
}
