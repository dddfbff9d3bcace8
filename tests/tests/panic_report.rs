//! A panic that unwinds through an observed call: its `exception` event carries the
//! panic's message (secrets scrubbed) and, when backtraces are asked for
//! (`RUST_LIB_BACKTRACE=1` here, `RUST_BACKTRACE` as usual), `exception.stacktrace` from
//! where it panicked; a returned error carries no stacktrace. One test: it installs the
//! global subscriber and panic hook.

use std::time::Duration;

use obs_runtime::observe;
use obs_runtime::trace::{AttrValue, InMemoryExporter};

#[observe]
fn explode(state: u32) -> u32 {
    assert!(state <= 2, "inconsistent ledger (password=hunter2)");
    state
}

#[observe]
fn refuse() -> Result<(), std::io::Error> {
    Err(std::io::Error::other("refused"))
}

fn text(value: Option<&AttrValue>) -> Option<String> {
    value.map(ToString::to_string)
}

#[test]
#[allow(unsafe_code)]
fn a_panics_event_carries_its_message_and_stacktrace() {
    // SAFETY: set before any other thread of this test binary reads the environment.
    unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "1") };
    let exporter = InMemoryExporter::default();
    let guard = obs_runtime::init()
        .env([("OBS_METRICS_ADDR", "off")])
        .exporter(exporter.clone())
        .logs(false)
        .install()
        .expect("install");
    let caught = std::panic::catch_unwind(|| explode(3));
    assert!(caught.is_err());
    assert!(refuse().is_err());
    assert!(guard.flush(Duration::from_secs(5)));
    let spans = exporter.spans();
    let exploded = spans.iter().find(|s| s.name == "explode").unwrap();
    assert_eq!(exploded.events.len(), 1);
    let event = &exploded.events[0];
    let attr = |key: &str| {
        text(
            event
                .attributes
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v),
        )
    };
    assert_eq!(attr("exception.type").as_deref(), Some("panic"));
    let message = attr("exception.message").unwrap();
    assert!(
        message.starts_with("inconsistent ledger (password="),
        "{message}"
    );
    assert!(!message.contains("hunter2"), "{message}");
    let stacktrace = attr("exception.stacktrace").expect("a stacktrace");
    assert!(
        stacktrace.starts_with("panicked at tests/tests/panic_report.rs:14:"),
        "{stacktrace}"
    );
    assert!(stacktrace.contains("panic_report::explode"), "{stacktrace}");
    // From the code that panicked on: not the hook's or the panic machinery's frames.
    assert!(
        !stacktrace.contains("core::panicking") && !stacktrace.contains("rust_begin_unwind"),
        "{stacktrace}"
    );
    // Bounded by the span limits (OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT, 4096 by default).
    assert!(stacktrace.len() <= 4096, "{}", stacktrace.len());
    let refused = spans.iter().find(|s| s.name == "refuse").unwrap();
    assert!(
        refused.events[0]
            .attributes
            .iter()
            .all(|(k, _)| *k != "exception.stacktrace"),
        "{:?}",
        refused.events[0]
    );
    drop(guard);
}
