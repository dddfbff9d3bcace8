//! Span fields recorded into a span record, with the `otel.*` conventions mapped.

use std::borrow::Cow;
use std::fmt;

use tracing::field::{Field, Visit};

use super::record::{SpanLimits, truncated, unsigned};
use super::{AttrValue, SpanKind, SpanRecord, Status};
use crate::metrics::self_metrics::{SPAN_LIMITS, SpanLimit};
use crate::redact::REDACTED;

/// Records span fields into a [`SpanRecord`], mapping the `otel.*` conventions.
/// The flag is set while recording a new span's fields, which are unique by name.
pub(super) struct SpanFields<'a>(
    pub(super) &'a mut SpanRecord,
    pub(super) &'static tracing::Metadata<'static>,
    pub(super) bool,
    pub(super) &'a SpanLimits,
);

impl SpanFields<'_> {
    /// `value` without an allocation when it equals one of the callsite's static strings
    /// (as `code.function` and `code.namespace` of `#[observe]` spans do).
    fn owned(&self, value: &str) -> Cow<'static, str> {
        let meta = self.1;
        [Some(meta.name()), meta.module_path(), Some(meta.target())]
            .into_iter()
            .flatten()
            .find(|s| *s == value)
            .map_or_else(|| Cow::Owned(value.to_owned()), Cow::Borrowed)
    }
}

impl SpanFields<'_> {
    fn set(&mut self, key: &'static str, value: AttrValue) {
        // One redaction policy for every value type: `otp = 123456` is a secret too.
        let value = if !matches!(value, AttrValue::Str(Cow::Borrowed(REDACTED)))
            && !key.starts_with("otel.")
            && crate::redact::sensitive_key(key)
        {
            AttrValue::Str(Cow::Borrowed(REDACTED))
        } else {
            value
        };
        let limit = self.3.attribute_count;
        let record = &mut *self.0;
        let attributes = &mut record.attributes;
        if !self.2
            && let Some(slot) = attributes.iter_mut().find(|(k, _)| *k == key)
        {
            slot.1 = value;
        } else if attributes.len() < limit {
            attributes.push((key, value));
        } else {
            record.dropped_attributes = record.dropped_attributes.saturating_add(1);
            SPAN_LIMITS.with(SpanLimit::AttributeCount).inc();
        }
    }

    fn text(&mut self, field: &Field, value: &str) {
        let name = field.name();
        let Some(otel) = name.strip_prefix("otel.") else {
            // The redaction policy of log lines applies to exported spans alike (`set`
            // redacts by key). The callsite's own static strings are code, not input.
            if crate::redact::sensitive_key(name) {
                self.set(name, AttrValue::Str(Cow::Borrowed(REDACTED)));
                return;
            }
            if let Cow::Borrowed(code) = self.owned(value) {
                self.set(name, AttrValue::Str(Cow::Borrowed(code)));
                return;
            }
            let scrubbed = crate::redact::scrub(value);
            let value = match truncated(&scrubbed, self.3.attribute_value_length) {
                Some(cut) => {
                    SPAN_LIMITS.with(SpanLimit::AttributeValueLength).inc();
                    Cow::Owned(cut.to_owned())
                }
                None => match scrubbed {
                    Cow::Owned(masked) => Cow::Owned(masked),
                    Cow::Borrowed(_) => self.owned(value),
                },
            };
            self.set(name, AttrValue::Str(value));
            return;
        };
        let record = &mut *self.0;
        match otel {
            "name" => record.name = Cow::Owned(value.to_owned()),
            "kind" => {
                if let Some(kind) = SpanKind::parse(value) {
                    record.kind = kind;
                }
            }
            "status_code" => {
                record.status = if value.eq_ignore_ascii_case("error") {
                    Status::Error {
                        description: match &record.status {
                            Status::Error { description } => description.clone(),
                            _ => Cow::Borrowed(""),
                        },
                    }
                } else if value.eq_ignore_ascii_case("ok") {
                    Status::Ok
                } else {
                    Status::Unset
                };
            }
            "status_message" => {
                if let Status::Error { description } = &mut record.status {
                    let value = crate::redact::scrub(value);
                    let value = truncated(&value, self.3.attribute_value_length).unwrap_or(&value);
                    *description = Cow::Owned(value.to_owned());
                }
            }
            _ => {
                let value = crate::redact::scrub(value);
                let value = truncated(&value, self.3.attribute_value_length).unwrap_or(&value);
                let value = self.owned(value);
                self.set(name, AttrValue::Str(value));
            }
        }
    }
}

impl Visit for SpanFields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.text(field, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.text(field, &format!("{value:?}"));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.set(field.name(), AttrValue::Int(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.set(field.name(), unsigned(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.set(field.name(), AttrValue::Float(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.set(field.name(), AttrValue::Bool(value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.text(field, &value.to_string());
    }
}
