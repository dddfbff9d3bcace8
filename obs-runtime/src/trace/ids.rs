//! Trace and span identifiers, and the context a span carries.

use core::cell::Cell;
use core::fmt;
use std::hash::{BuildHasher, Hasher, RandomState};

/// A W3C trace id: 16 bytes, never all zero.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TraceId(u128);

/// A W3C span (parent) id: 8 bytes, never all zero.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpanId(u64);

impl TraceId {
    /// The id with these big-endian bytes; `None` for all zeros (invalid in W3C).
    pub const fn from_bytes(bytes: [u8; 16]) -> Option<Self> {
        match u128::from_be_bytes(bytes) {
            0 => None,
            n => Some(Self(n)),
        }
    }

    /// The id as a number; `None` for zero.
    pub const fn from_u128(n: u128) -> Option<Self> {
        if n == 0 { None } else { Some(Self(n)) }
    }

    /// The 16 big-endian bytes.
    pub const fn to_bytes(self) -> [u8; 16] {
        self.0.to_be_bytes()
    }

    /// The id as a number.
    pub const fn to_u128(self) -> u128 {
        self.0
    }

    /// Parses 32 lowercase hex digits, the W3C form.
    ///
    /// ```
    /// use obs_runtime::trace::TraceId;
    /// let id = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
    /// assert_eq!(id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
    /// assert!(TraceId::from_hex("00000000000000000000000000000000").is_none());
    /// ```
    pub fn from_hex(hex: &str) -> Option<Self> {
        if hex.len() != 32 {
            return None;
        }
        parse_hex(hex).and_then(Self::from_u128)
    }

    pub(crate) fn random() -> Self {
        loop {
            let n = (u128::from(next_random()) << 64) | u128::from(next_random());
            if n != 0 {
                return Self(n);
            }
        }
    }
}

impl SpanId {
    /// The id with these big-endian bytes; `None` for all zeros.
    pub const fn from_bytes(bytes: [u8; 8]) -> Option<Self> {
        Self::from_u64(u64::from_be_bytes(bytes))
    }

    /// The id as a number; `None` for zero.
    pub const fn from_u64(n: u64) -> Option<Self> {
        if n == 0 { None } else { Some(Self(n)) }
    }

    /// The 8 big-endian bytes.
    pub const fn to_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }

    /// The id as a number.
    pub const fn to_u64(self) -> u64 {
        self.0
    }

    /// Parses 16 lowercase hex digits.
    pub fn from_hex(hex: &str) -> Option<Self> {
        if hex.len() != 16 {
            return None;
        }
        parse_hex(hex)
            .and_then(|n| u64::try_from(n).ok())
            .and_then(Self::from_u64)
    }

    pub(crate) fn random() -> Self {
        loop {
            let n = next_random();
            if n != 0 {
                return Self(n);
            }
        }
    }
}

/// Lowercase hex only, as W3C trace-context requires.
fn parse_hex(hex: &str) -> Option<u128> {
    let mut n: u128 = 0;
    for b in hex.bytes() {
        let digit = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => return None,
        };
        n = (n << 4) | u128::from(digit);
    }
    Some(n)
}

/// The lowercase hex digits of `n`'s low `N / 2` bytes, most significant first.
fn hex_digits<const N: usize>(mut n: u128) -> [u8; N] {
    let mut out = [b'0'; N];
    for digit in out.iter_mut().rev() {
        *digit = b"0123456789abcdef"[(n & 0xf) as usize];
        n >>= 4;
    }
    out
}

impl TraceId {
    /// The 32 lowercase hex digits of the W3C form.
    pub(crate) fn hex(self) -> [u8; 32] {
        hex_digits(self.0)
    }
}

impl SpanId {
    /// The 16 lowercase hex digits of the W3C form.
    pub(crate) fn hex(self) -> [u8; 16] {
        hex_digits(u128::from(self.0))
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(core::str::from_utf8(&self.hex()).unwrap_or_default())
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(core::str::from_utf8(&self.hex()).unwrap_or_default())
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({self})")
    }
}

/// The identity of a span as it propagates: ids, the sampled flag, and whether it came
/// from another process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SpanContext {
    /// The trace the span belongs to.
    pub trace_id: TraceId,
    /// The span itself.
    pub span_id: SpanId,
    /// The W3C `sampled` flag: the trace is being exported.
    pub sampled: bool,
    /// The context was extracted from an incoming request.
    pub remote: bool,
}

impl SpanContext {
    /// The W3C trace flags byte.
    pub const fn flags(&self) -> u8 {
        if self.sampled { 1 } else { 0 }
    }
}

thread_local! {
    static RNG: Cell<u64> = const { Cell::new(0) };
}

/// A fast per-thread generator (wyrand), seeded from the process's random hasher keys and
/// the thread, so ids differ across threads and runs. Ids need uniqueness, not secrecy.
fn next_random() -> u64 {
    RNG.with(|state| {
        let mut s = state.get();
        if s == 0 {
            let mut h = RandomState::new().build_hasher();
            h.write_u64(crate::time::unix_nanos());
            h.write_usize(core::ptr::from_ref(state) as usize);
            s = h.finish() | 1;
        }
        s = s.wrapping_add(0xa076_1d64_78bd_642f);
        state.set(s);
        let t = u128::from(s) * u128::from(s ^ 0xe703_7ed1_a0b4_28db);
        #[allow(clippy::cast_possible_truncation, reason = "folding 128 bits to 64")]
        let folded = (t as u64) ^ ((t >> 64) as u64);
        folded
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_rejects() {
        let t = TraceId::random();
        assert_eq!(TraceId::from_hex(&t.to_string()), Some(t));
        let s = SpanId::random();
        assert_eq!(SpanId::from_hex(&s.to_string()), Some(s));
        assert_eq!(
            SpanId::from_hex("00f067aa0ba902b7").map(SpanId::to_u64),
            Some(0x00f0_67aa_0ba9_02b7)
        );
        assert!(
            SpanId::from_hex("00F067AA0BA902B7").is_none(),
            "uppercase is invalid"
        );
        assert!(SpanId::from_hex("0000000000000000").is_none());
        assert!(SpanId::from_hex("00f067aa0ba902b").is_none());
        assert_eq!(TraceId::from_bytes([0; 16]), None);
    }

    #[test]
    fn random_ids_differ() {
        let ids: std::collections::HashSet<u64> = (0..10_000).map(|_| SpanId::random().0).collect();
        assert_eq!(ids.len(), 10_000);
    }
}
