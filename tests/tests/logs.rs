//! JSON and pretty log lines: shape, trace correlation, bound fields, redaction, filter.

use obs_runtime::log::{LogFormat, LogWriter, MemoryLog};
use obs_runtime::{init::Telemetry, trace};
use serde_json::Value;
use tracing::Instrument as _;
use tracing::instrument::WithSubscriber as _;

fn telemetry(format: LogFormat, filter: &str) -> (Telemetry, MemoryLog) {
    let (writer, lines) = LogWriter::memory();
    let t = obs_runtime::init()
        .env(Vec::<(String, String)>::new())
        .metrics_addr(None)
        .log_format(format)
        .log_filter(filter)
        .log_writer(writer)
        .allow_log_field("token_count")
        .build()
        .unwrap();
    (t, lines)
}

fn json(lines: &MemoryLog) -> Vec<Value> {
    lines
        .lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

#[test]
fn json_lines_carry_ids_bound_fields_and_redact_secrets() {
    let (t, lines) = telemetry(LogFormat::Json, "info");
    let ids = tracing::dispatcher::with_default(&t.dispatch, || {
        tracing::info!(answer = 42, "outside any span");
        let request = tracing::info_span!("request");
        assert!(obs_runtime::log::bind(&request, "request_id", "r-1"));
        assert!(obs_runtime::log::bind(&request, "session_token", "s3cr3t"));
        request.in_scope(|| {
            let inner = tracing::info_span!("inner");
            obs_runtime::log::bind(&inner, "user_tier", "gold");
            inner.in_scope(|| {
                tracing::warn!(
                    password = "hunter2",
                    api_key = "k",
                    authorization = "Bearer x",
                    token_count = 7_u64,
                    ratio = 0.5,
                    ok = true,
                    note = %"a \"quoted\"\nline",
                    "charged {} cents",
                    1200
                );
                trace::current().unwrap()
            })
        })
    });
    let raw_lines = lines.lines();
    let lines = json(&lines);
    assert_eq!(lines.len(), 2);

    let outside = &lines[0];
    assert_eq!(outside["level"], "INFO");
    assert_eq!(outside["target"], "logs");
    assert_eq!(outside["message"], "outside any span");
    assert_eq!(outside["fields"]["answer"], 42);
    assert!(outside.get("trace_id").is_none() && outside.get("span").is_none());
    let ts = outside["timestamp"].as_str().unwrap();
    assert_eq!(ts.len(), "2026-11-21T23:29:33.123456Z".len());
    assert!(ts.starts_with("20") && ts.ends_with('Z') && &ts[10..11] == "T");

    // Keys in a fixed order: the record, the correlation ids, bound fields, event fields.
    let raw = &raw_lines[1];
    let order = [
        "{\"timestamp\":",
        ",\"level\":",
        ",\"target\":",
        ",\"message\":",
        ",\"span\":",
        ",\"trace_id\":",
        ",\"span_id\":",
        ",\"request_id\":",
        ",\"session_token\":",
        ",\"user_tier\":",
        ",\"fields\":{",
    ];
    let positions: Vec<usize> = order
        .iter()
        .map(|k| raw.find(k).unwrap_or_else(|| panic!("{k} in {raw}")))
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{raw}");
    let line = &lines[1];
    assert_eq!(line["level"], "WARN");
    assert_eq!(line["message"], "charged 1200 cents");
    assert_eq!(line["span"], "inner");
    assert_eq!(line["trace_id"], ids.trace_id.to_string());
    assert_eq!(line["span_id"], ids.span_id.to_string());
    assert_eq!(line["request_id"], "r-1");
    assert_eq!(line["session_token"], "[REDACTED]");
    assert_eq!(line["user_tier"], "gold");
    let fields = &line["fields"];
    assert_eq!(fields["password"], "[REDACTED]");
    assert_eq!(fields["api_key"], "[REDACTED]");
    assert_eq!(fields["authorization"], "[REDACTED]");
    assert_eq!(fields["token_count"], 7, "allowed explicitly");
    assert_eq!(fields["ratio"], 0.5);
    assert_eq!(fields["ok"], true);
    assert_eq!(fields["note"], "a \"quoted\"\nline");
    assert!(!lines.iter().any(|l| l.to_string().contains("hunter2")));
}

#[test]
fn bound_fields_follow_the_task_across_awaits_and_threads() {
    let (t, lines) = telemetry(LogFormat::Json, "info");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    tracing::dispatcher::with_default(&t.dispatch, || {
        rt.block_on(async {
            let mut handles = Vec::new();
            for i in 0..20 {
                let span = tracing::info_span!("request");
                obs_runtime::log::bind(&span, "request_id", format!("req-{i}"));
                let dispatch = t.dispatch.clone();
                handles.push(tokio::spawn(
                    async move {
                        tracing::info!(step = 1, "start");
                        tokio::task::yield_now().await;
                        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                        tracing::info!(step = 2, "end");
                    }
                    .instrument(span)
                    .with_subscriber(dispatch),
                ));
            }
            for h in handles {
                h.await.unwrap();
            }
        });
    });
    let lines = json(&lines);
    assert_eq!(lines.len(), 40);
    for i in 0..20 {
        let id = format!("req-{i}");
        let mine: Vec<&Value> = lines
            .iter()
            .filter(|l| l["request_id"] == id.as_str())
            .collect();
        assert_eq!(mine.len(), 2, "{id}");
        assert_eq!(mine[0]["trace_id"], mine[1]["trace_id"]);
    }
}

#[test]
fn pretty_lines_and_the_filter() {
    let (t, lines) = telemetry(LogFormat::Pretty { ansi: false }, "warn,logs::noisy=debug");
    tracing::dispatcher::with_default(&t.dispatch, || {
        tracing::info!("dropped by the filter");
        tracing::debug!(target: "logs::noisy", "kept by its directive");
        tracing::error!(password = "p", count = 3, "it broke");
        // A forged line and a terminal escape, in the message and in a field.
        let user = "mallory\n2026-01-01T00:00:00.000000Z  INFO logs: admin logged in";
        tracing::warn!(user = %user, "login failed for {user}\x1b[2J");
    });
    let lines = lines.lines();
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert_eq!(
        &lines[2][27..],
        "  WARN logs: login failed for mallory\\n2026-01-01T00:00:00.000000Z  INFO logs: admin logged in\\u{1b}[2J user=\"mallory\\n2026-01-01T00:00:00.000000Z  INFO logs: admin logged in\""
    );
    assert_eq!(&lines[0][27..], " DEBUG logs::noisy: kept by its directive");
    assert_eq!(
        &lines[1][27..],
        " ERROR logs: it broke password=[REDACTED] count=3"
    );
}

#[test]
fn span_directives_in_the_filter() {
    // A directive on a span (not just targets) takes the dynamic filter.
    let (t, lines) = telemetry(LogFormat::Json, "warn,[checkout]=debug");
    tracing::dispatcher::with_default(&t.dispatch, || {
        tracing::debug!("outside: dropped");
        tracing::info_span!("checkout").in_scope(|| tracing::debug!("inside: kept"));
        tracing::info_span!("browse").in_scope(|| tracing::debug!("elsewhere: dropped"));
        tracing::warn!("a warning: kept");
    });
    let messages: Vec<String> = json(&lines)
        .iter()
        .map(|l| l["message"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(messages, ["inside: kept", "a warning: kept"]);
}
