//! `#[observe]` on synchronous functions: outcomes, metrics, span, fields, error recording.

use std::collections::BTreeMap;
use std::fmt;

use obs_runtime::{
    ErrorLabel, observe,
    observe::{FnSite, observed_function},
};
use obs_tests::capture::Capture;
use tracing::Level;

fn site(function: &str) -> &'static FnSite {
    observed_function(module_path!(), function).unwrap_or_else(|| panic!("{function} observed"))
}

/// An error enum whose variants label the `error` series.
#[derive(Debug, ErrorLabel)]
pub enum PayError {
    /// Card declined.
    Declined {
        /// Processor code.
        code: u16,
    },
    /// Fraud suspected.
    #[error_label(rename = "fraud")]
    Fraud,
}

impl fmt::Display for PayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PayError::Declined { code } => write!(f, "card declined with code {code}"),
            PayError::Fraud => f.write_str("fraud suspected"),
        }
    }
}

#[observe]
fn pay(amount: u32) -> Result<u32, PayError> {
    if amount == 0 {
        return Err(PayError::Fraud);
    }
    if amount > 1000 {
        Err(PayError::Declined { code: 51 })?;
    }
    Ok(amount)
}

#[test]
fn ok_and_error_variants_are_counted_exactly() {
    assert_eq!(pay(10).ok(), Some(10));
    assert_eq!(pay(20).ok(), Some(20));
    assert!(matches!(pay(5000), Err(PayError::Declined { code: 51 })));
    assert!(matches!(pay(0), Err(PayError::Fraud)));
    assert!(matches!(pay(0), Err(PayError::Fraud)));
    let s = site("pay");
    assert_eq!(s.calls("ok"), 2);
    assert_eq!(s.calls("error"), 3);
    assert_eq!(s.errors("Declined"), 1);
    assert_eq!(s.errors("fraud"), 2);
    assert_eq!(s.errors("panic"), 0);
    assert_eq!(s.calls("cancelled"), 0);
    assert_eq!(s.duration().count(), 5);
    assert_eq!(s.in_flight(), 0);
}

/// An error type without `ErrorLabel` and without `Display`.
#[derive(Debug)]
pub struct Opaque(pub u8);

#[observe]
fn opaque(fail: bool) -> Result<(), Opaque> {
    if fail { Err(Opaque(7)) } else { Ok(()) }
}

#[observe]
fn io_failure() -> std::io::Result<()> {
    Err(std::io::Error::other("disk on fire"))
}

#[test]
fn other_errors_are_labelled_by_readable_type_name_and_described() {
    let capture = Capture::default();
    capture.run(|| {
        assert!(opaque(true).is_err());
        assert!(opaque(false).is_ok());
        assert!(io_failure().is_err());
    });
    assert_eq!(site("opaque").errors("Opaque"), 1);
    assert_eq!(site("opaque").calls("ok"), 1);
    assert_eq!(site("io_failure").errors("io::Error"), 1);
    assert_eq!(site("io_failure").errors("Error"), 0);

    let captured = capture.captured();
    let exceptions = captured.events_for("obs::exception");
    assert_eq!(exceptions.len(), 2, "{exceptions:#?}");
    assert_eq!(exceptions[0].span.as_deref(), Some("opaque"));
    assert_eq!(
        exceptions[0].fields["exception.type"],
        "observe_sync::Opaque"
    );
    // No `Display`: the message is the `Debug` rendering.
    assert_eq!(exceptions[0].fields["exception.message"], "Opaque(7)");
    assert_eq!(exceptions[1].span.as_deref(), Some("io_failure"));
    assert_eq!(
        exceptions[1].fields["exception.type"],
        "std::io::error::Error"
    );
    assert_eq!(exceptions[1].fields["exception.message"], "disk on fire");
}

/// An error caused by another: its `source()` chain is part of what is recorded.
#[derive(Debug)]
pub struct GatewayDown {
    cause: std::io::Error,
}

impl fmt::Display for GatewayDown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("payment gateway unreachable")
    }
}

impl std::error::Error for GatewayDown {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.cause)
    }
}

/// Wraps a `GatewayDown`, and writes its cause into its own message (as many error types
/// do): the chain does not repeat it.
#[derive(Debug)]
pub struct CheckoutFailed(GatewayDown);

impl fmt::Display for CheckoutFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "checkout failed: {}", self.0)
    }
}

impl std::error::Error for CheckoutFailed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

fn gateway_down() -> GatewayDown {
    GatewayDown {
        cause: std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused"),
    }
}

#[observe(err(level = "warn"))]
fn charge_gateway() -> Result<(), GatewayDown> {
    Err(gateway_down())
}

#[observe]
fn checkout_chain() -> Result<(), CheckoutFailed> {
    Err(CheckoutFailed(gateway_down()))
}

#[observe]
fn boxed_chain() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    Err(Box::new(gateway_down()))
}

#[observe]
fn boxed_plain_chain() -> Result<(), Box<dyn std::error::Error>> {
    Err(Box::new(gateway_down()))
}

#[test]
fn errors_carry_their_whole_cause_chain() {
    let capture = Capture::default();
    capture.run(|| {
        assert!(charge_gateway().is_err());
        assert!(checkout_chain().is_err());
        assert!(boxed_chain().is_err());
        assert!(boxed_plain_chain().is_err());
    });
    let captured = capture.captured();
    let messages: Vec<(&str, &str)> = captured
        .events_for("obs::exception")
        .iter()
        .map(|e| {
            (
                e.span.as_deref().unwrap(),
                e.fields["exception.message"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        messages,
        [
            (
                "charge_gateway",
                "payment gateway unreachable: connection refused"
            ),
            (
                "checkout_chain",
                "checkout failed: payment gateway unreachable: connection refused"
            ),
            (
                "boxed_chain",
                "payment gateway unreachable: connection refused"
            ),
            (
                "boxed_plain_chain",
                "payment gateway unreachable: connection refused"
            ),
        ]
    );
    // The error log line `err(level = ..)` asks for says the whole chain too.
    let lines = captured.events_for("obs::error");
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert_eq!(
        lines[0].fields["message"],
        "charge_gateway failed: payment gateway unreachable: connection refused"
    );
}

#[observe(name = "checkout.submit", fields(order_id = %order_id, attempt = attempt, cart = ?cart, api_key = redact(key)))]
fn submit(order_id: u64, attempt: i64, cart: &[&str], key: &str) -> Result<usize, PayError> {
    let _ = key;
    tracing::info!(items = cart.len(), "submitting");
    if attempt > 1 {
        Err(PayError::Declined { code: 5 })
    } else {
        Ok(cart.len())
    }
}

#[test]
fn span_has_name_code_fields_listed_fields_and_error_status() {
    let capture = Capture::default();
    capture.run(|| {
        assert_eq!(
            submit(42, 1, &["apple", "pear"], "sk_live_123").ok(),
            Some(2)
        );
        assert!(submit(43, 2, &["fig"], "sk_live_123").is_err());
    });
    let captured = capture.captured();
    let spans = captured.spans_named("checkout.submit");
    assert_eq!(spans.len(), 2);
    let ok = spans[0];
    let expected: BTreeMap<String, String> = [
        ("code.function", "checkout.submit"),
        ("code.namespace", "observe_sync"),
        ("otel.kind", "internal"),
        ("order_id", "42"),
        ("attempt", "1"),
        ("cart", "[\"apple\", \"pear\"]"),
        ("api_key", "[redacted]"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(ok.fields, expected);
    assert_eq!(ok.level, Level::INFO);
    assert!(ok.closed);
    // The body's own event is inside the span.
    let inner = captured
        .events
        .iter()
        .find(|e| e.fields.get("message").map(String::as_str) == Some("submitting"))
        .expect("body event");
    assert_eq!(inner.span.as_deref(), Some("checkout.submit"));

    let failed = spans[1];
    assert_eq!(failed.fields["otel.status_code"], "ERROR");
    assert_eq!(failed.fields["error.type"], "Declined");
    assert!(failed.fields.values().all(|v| !v.contains("sk_live")));
    let exceptions = captured.events_for("obs::exception");
    assert_eq!(exceptions.len(), 1);
    assert_eq!(exceptions[0].fields["message"], "exception");
    assert_eq!(
        exceptions[0].fields["exception.message"],
        "card declined with code 5"
    );
    assert_eq!(
        exceptions[0].fields["exception.type"],
        "observe_sync::PayError"
    );
    assert_eq!(exceptions[0].level, Level::ERROR);
    // Without `err(level = ..)` there is no log line besides the span's exception event.
    assert!(captured.events_for("obs::error").is_empty());
    assert_eq!(site("checkout.submit").errors("Declined"), 1);
}

#[observe(err(level = "warn"), level = "debug")]
fn noisy(fail: bool) -> Result<(), PayError> {
    if fail { Err(PayError::Fraud) } else { Ok(()) }
}

#[test]
fn err_level_asks_for_a_log_line() {
    let capture = Capture::default();
    capture.run(|| {
        assert!(noisy(true).is_err());
        assert!(noisy(false).is_ok());
    });
    let captured = capture.captured();
    let spans = captured.spans_named("noisy");
    assert_eq!(spans.len(), 2);
    assert_eq!(spans[0].level, Level::DEBUG);
    let logs = captured.events_for("obs::error");
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].level, Level::WARN);
    assert_eq!(logs[0].fields["message"], "noisy failed: fraud suspected");
    assert_eq!(logs[0].fields["error.type"], "fraud");
    assert_eq!(logs[0].fields["code.namespace"], "observe_sync");
}

#[observe]
fn explode(n: u32) -> u32 {
    assert!(n != 3, "boom at {n}");
    n
}

#[test]
fn panics_are_recorded_as_errors_and_continue() {
    let capture = Capture::default();
    let caught = capture.run(|| {
        assert_eq!(explode(1), 1);
        std::panic::catch_unwind(|| explode(3))
    });
    let payload = caught.expect_err("the panic continues");
    assert_eq!(
        payload.downcast_ref::<String>().map(String::as_str),
        Some("boom at 3")
    );
    let s = site("explode");
    assert_eq!(s.calls("ok"), 1);
    assert_eq!(s.calls("error"), 1);
    assert_eq!(s.errors("panic"), 1);
    assert_eq!(s.in_flight(), 0);
    assert_eq!(s.duration().count(), 2);
    let captured = capture.captured();
    let spans = captured.spans_named("explode");
    assert_eq!(spans[1].fields["otel.status_code"], "ERROR");
    assert_eq!(spans[1].fields["error.type"], "panic");
    assert!(spans[1].closed);
    let exceptions = captured.events_for("obs::exception");
    assert_eq!(exceptions.len(), 1);
    assert_eq!(exceptions[0].fields["exception.type"], "panic");
}

fn is_positive(v: &i32) -> bool {
    *v > 0
}

fn is_empty(v: &Vec<u8>) -> bool {
    v.is_empty()
}

#[observe(ok_if = is_positive)]
fn balance(v: i32) -> i32 {
    v
}

#[observe(error_if = is_empty)]
fn read_all(n: usize) -> Vec<u8> {
    vec![1; n]
}

#[test]
fn predicates_classify_non_result_returns() {
    assert_eq!(balance(5), 5);
    assert_eq!(balance(-5), -5);
    assert_eq!(balance(-1), -1);
    assert_eq!(site("balance").calls("ok"), 1);
    assert_eq!(site("balance").errors("i32"), 2);
    assert_eq!(read_all(2), vec![1, 1]);
    assert!(read_all(0).is_empty());
    assert_eq!(site("read_all").calls("ok"), 1);
    assert_eq!(site("read_all").errors("Vec<u8>"), 1);
}

#[observe]
fn plain(v: u8) -> u8 {
    v
}

#[test]
fn without_subscriber_only_metrics_are_recorded() {
    for v in 0..7 {
        assert_eq!(plain(v), v);
    }
    assert_eq!(site("plain").calls("ok"), 7);
    assert_eq!(site("plain").duration().count(), 7);
}
