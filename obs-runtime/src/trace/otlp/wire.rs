//! The protobuf wire format, written straight into one buffer: the OTLP requests obs sends
//! are encoded from its own records in one pass, with no intermediate message tree (a
//! `String` per attribute key and value, a `Vec` per id) built and freed per span.
//!
//! A nested message's length is known only once it is written: [`nested`] reserves one
//! byte for it, writes the body and moves the body up when the length needs more bytes.
//! Bodies of up to 127 bytes (attributes, most events) never move.

// A varint is its value seven bits a byte: the casts to `u8` keep the low bits on purpose.
#![allow(clippy::cast_possible_truncation)]

use crate::trace::AttrValue;

const VARINT: u32 = 0;
const FIXED64: u32 = 1;
const LEN: u32 = 2;
const FIXED32: u32 = 5;

/// Appends `value` as a varint: seven bits a byte, low bits first.
#[inline]
fn encode_varint(mut value: u64, buf: &mut Vec<u8>) {
    while value >= 0x80 {
        buf.push(value as u8 | 0x80);
        value >>= 7;
    }
    buf.push(value as u8);
}

/// Bytes of `value` as a varint.
#[inline]
fn encoded_len_varint(value: u64) -> usize {
    // One byte per started seven bits; zero takes one byte.
    (64 - (value | 1).leading_zeros() as usize).div_ceil(7)
}

#[inline]
fn key(buf: &mut Vec<u8>, field: u32, wire_type: u32) {
    encode_varint(u64::from(field << 3 | wire_type), buf);
}

/// A varint field, left out when zero (proto3's default).
pub(crate) fn uint(buf: &mut Vec<u8>, field: u32, value: u64) {
    if value != 0 {
        key(buf, field, VARINT);
        encode_varint(value, buf);
    }
}

/// A `fixed64` field, left out when zero.
pub(crate) fn fixed64(buf: &mut Vec<u8>, field: u32, value: u64) {
    if value != 0 {
        key(buf, field, FIXED64);
        buf.extend_from_slice(&value.to_le_bytes());
    }
}

/// A `fixed32` field, left out when zero.
pub(crate) fn fixed32(buf: &mut Vec<u8>, field: u32, value: u32) {
    if value != 0 {
        key(buf, field, FIXED32);
        buf.extend_from_slice(&value.to_le_bytes());
    }
}

/// A `bytes` or `string` field, left out when empty.
pub(crate) fn bytes(buf: &mut Vec<u8>, field: u32, value: &[u8]) {
    if !value.is_empty() {
        string_value(buf, field, value);
    }
}

/// A `bytes` or `string` field written even when empty (a member of a `oneof`).
pub(crate) fn string_value(buf: &mut Vec<u8>, field: u32, value: &[u8]) {
    key(buf, field, LEN);
    encode_varint(value.len() as u64, buf);
    buf.extend_from_slice(value);
}

/// A message field whose body `write` appends to `buf`.
pub(crate) fn nested(buf: &mut Vec<u8>, field: u32, write: impl FnOnce(&mut Vec<u8>)) {
    key(buf, field, LEN);
    let at = buf.len();
    buf.push(0);
    write(buf);
    let len = buf.len() - at - 1;
    let width = encoded_len_varint(len as u64);
    if width == 1 {
        buf[at] = len as u8;
        return;
    }
    let end = buf.len();
    buf.extend_from_slice(&[0; 9][..width - 1]);
    buf.copy_within(at + 1..end, at + width);
    let mut value = len as u64;
    for byte in &mut buf[at..at + width - 1] {
        *byte = value as u8 | 0x80;
        value >>= 7;
    }
    buf[at + width - 1] = value as u8;
}

/// A `KeyValue` (`key` = 1, `value` = 2) in field `field` of the enclosing message.
pub(crate) fn key_value(buf: &mut Vec<u8>, field: u32, key: &str, value: &AttrValue) {
    nested(buf, field, |buf| {
        bytes(buf, 1, key.as_bytes());
        nested(buf, 2, |buf| any_value(buf, value));
    });
}

/// A string `KeyValue`.
pub(crate) fn key_str(buf: &mut Vec<u8>, field: u32, key: &str, value: &str) {
    nested(buf, field, |buf| {
        bytes(buf, 1, key.as_bytes());
        nested(buf, 2, |buf| string_value(buf, 1, value.as_bytes()));
    });
}

/// The body of an `AnyValue`: one member of its `oneof`, written even when it holds the
/// default (`0`, `""`, `false`), since the member set is the value's type.
pub(crate) fn any_value(buf: &mut Vec<u8>, value: &AttrValue) {
    match value {
        AttrValue::Str(s) => string_value(buf, 1, s.as_bytes()),
        AttrValue::Bool(b) => {
            key(buf, 2, VARINT);
            buf.push(u8::from(*b));
        }
        AttrValue::Int(n) => {
            key(buf, 3, VARINT);
            // int64 is its two's complement as a varint.
            encode_varint(n.cast_unsigned(), buf);
        }
        AttrValue::Float(x) => {
            key(buf, 4, FIXED64);
            buf.extend_from_slice(&x.to_le_bytes());
        }
    }
}

/// The body of a `Resource`: its attributes.
pub(crate) fn resource(attributes: &[(String, AttrValue)]) -> Vec<u8> {
    let mut buf = Vec::new();
    for (k, v) in attributes {
        key_value(&mut buf, 1, k, v);
    }
    buf
}

/// `targets` in the order they first appear in `items`, each once: the instrumentation
/// scopes of a batch.
pub(crate) fn scopes<'a, T>(items: &'a [T], target: impl Fn(&'a T) -> &'a str) -> Vec<&'a str> {
    let mut seen: Vec<&str> = Vec::new();
    for item in items {
        let t = target(item);
        if !seen.contains(&t) {
            seen.push(t);
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
    use prost::Message as _;

    use super::{key_value, nested};
    use crate::trace::AttrValue;

    fn decoded(value: &AttrValue) -> KeyValue {
        let mut buf = Vec::new();
        key_value(&mut buf, 1, "k", value);
        // The KeyValue field of a wrapper: strip its key and length.
        let body = &buf[2..];
        KeyValue::decode(body).expect("a KeyValue")
    }

    #[test]
    fn values_decode_as_the_official_messages_say() {
        let value = |v| Some(AnyValue { value: Some(v) });
        assert_eq!(
            decoded(&AttrValue::Str(Cow::Borrowed("x"))).value,
            value(Value::StringValue("x".into()))
        );
        assert_eq!(
            decoded(&AttrValue::Str(Cow::Borrowed(""))).value,
            value(Value::StringValue(String::new()))
        );
        assert_eq!(
            decoded(&AttrValue::Int(-5)).value,
            value(Value::IntValue(-5))
        );
        assert_eq!(decoded(&AttrValue::Int(0)).value, value(Value::IntValue(0)));
        assert_eq!(
            decoded(&AttrValue::Bool(false)).value,
            value(Value::BoolValue(false))
        );
        assert_eq!(
            decoded(&AttrValue::Float(1.5)).value,
            value(Value::DoubleValue(1.5))
        );
        assert_eq!(decoded(&AttrValue::Int(1)).key, "k");
    }

    #[test]
    fn varints_match_prost() {
        for value in [
            0u64,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut ours = Vec::new();
            super::encode_varint(value, &mut ours);
            let mut theirs = Vec::new();
            prost::encoding::encode_varint(value, &mut theirs);
            assert_eq!(ours, theirs, "{value}");
            assert_eq!(super::encoded_len_varint(value), theirs.len(), "{value}");
        }
    }

    #[test]
    fn long_bodies_move_up_for_their_length() {
        for len in [0usize, 1, 126, 127, 128, 300, 16_383, 16_384, 70_000] {
            let mut buf = vec![0xAA];
            nested(&mut buf, 3, |buf| buf.extend(std::iter::repeat_n(7u8, len)));
            let mut rest = &buf[2..];
            let decoded = prost::encoding::decode_varint(&mut rest).expect("a length");
            assert_eq!(super::encoded_len_varint(len as u64), buf.len() - 2 - len);
            assert_eq!(decoded as usize, len);
            assert_eq!(rest.len(), len, "len {len}");
            assert!(rest.iter().all(|b| *b == 7));
            assert_eq!(buf[0], 0xAA);
            assert_eq!(buf[1], 3 << 3 | 2);
        }
    }
}
