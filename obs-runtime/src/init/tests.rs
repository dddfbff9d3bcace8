//! Environment handling of `init()`.

use super::config::Config;
use super::export::{TRACES, signal_url};
use super::*;

/// Every variable obs reads, for the property test below.
const VARS: &[&str] = &[
    "OBS_BSP_MAX_QUEUE_BYTES",
    "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",
    "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",
    "OTEL_SPAN_EVENT_COUNT_LIMIT",
    "OBS_LOG_FORMAT",
    "OBS_METRICS_ADDR",
    "OBS_METRICS_TOKEN",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
    "OTEL_BSP_MAX_QUEUE_SIZE",
    "OTEL_BSP_SCHEDULE_DELAY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_SDK_DISABLED",
    "OTEL_SERVICE_NAME",
    "OTEL_TRACES_EXPORTER",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "RUST_LOG",
];

proptest::proptest! {
    #![proptest_config(crate::testing::proptest_config(64))]

    /// Any value of any variable is a working setup or an `InitError`: never a panic
    /// or an abort (a queue size of 10^12 used to be allocated up front).
    #[test]
    fn arbitrary_environment_values(
        var in proptest::sample::select(VARS),
        value in proptest::prelude::prop_oneof![
            "\\PC{0,80}",
            "[0-9]{1,25}",
            "(http|https)://[a-z0-9.:/]{0,30}",
            "([a-z_.]{0,10}=[^,]{0,10},?){0,5}",
        ],
    ) {
        // The metrics server stays off unless the value under test turns it on.
        let mut vars = vec![(var.to_owned(), value.clone())];
        if var != "OBS_METRICS_ADDR" {
            vars.push(("OBS_METRICS_ADDR".to_owned(), "off".to_owned()));
        }
        let _ = init().env(vars).build().map(drop);
    }
}

/// What the specification of `var` allows, decided without obs's parsers: `Some(true)`
/// when `value` must be accepted, `Some(false)` when it must be refused, `None` for
/// variables this oracle does not judge. A blank value is the variable unset.
fn spec_allows(var: &str, value: &str) -> Option<bool> {
    let v = value.trim();
    if v.is_empty() {
        return Some(true);
    }
    // A decimal integer: digits only, an optional `+` first.
    let integer = || -> Option<u128> {
        let digits = v.strip_prefix('+').unwrap_or(v);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    };
    let within = |lo: u128, hi: u128| Some(integer().is_some_and(|n| (lo..=hi).contains(&n)));
    let usize_max = u128::try_from(usize::MAX).unwrap_or(u128::MAX);
    match var {
        "OTEL_BSP_MAX_QUEUE_SIZE" => within(1, 1_048_576),
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE" | "OBS_BSP_MAX_QUEUE_BYTES" => within(1, usize_max),
        "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT"
        | "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT"
        | "OTEL_SPAN_EVENT_COUNT_LIMIT" => within(0, usize_max),
        "OTEL_BSP_SCHEDULE_DELAY" | "OTEL_EXPORTER_OTLP_TIMEOUT" => within(0, u128::from(u64::MAX)),
        "OTEL_TRACES_SAMPLER" => Some(matches!(
            v,
            "always_on"
                | "always_off"
                | "traceidratio"
                | "parentbased_always_on"
                | "parentbased_always_off"
                | "parentbased_traceidratio"
        )),
        // A decimal number (an exponent allowed) from 0 to 1.
        "OTEL_TRACES_SAMPLER_ARG" => {
            let unsigned = v.strip_prefix(['+', '-']).unwrap_or(v);
            let (mantissa, exponent) = unsigned
                .split_once(['e', 'E'])
                .map_or((unsigned, None), |(m, e)| (m, Some(e)));
            let digits = mantissa.replacen('.', "", 1);
            let numeric = !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit())
                && exponent.is_none_or(|e| {
                    let e = e.strip_prefix(['+', '-']).unwrap_or(e);
                    !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())
                });
            Some(numeric && v.parse::<f64>().is_ok_and(|r| (0.0..=1.0).contains(&r)))
        }
        "OTEL_EXPORTER_OTLP_PROTOCOL" => {
            Some(v == "http/protobuf" || (v == "grpc" && cfg!(feature = "otlp-grpc")))
        }
        "OTEL_TRACES_EXPORTER" => Some(matches!(v, "otlp" | "none")),
        "OTEL_SDK_DISABLED" => {
            Some(v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false"))
        }
        // `name=value` pairs: a token (RFC 9110) for the name; for the value (without
        // percent escapes, judged elsewhere) any byte but controls other than tab.
        "OTEL_EXPORTER_OTLP_HEADERS" => {
            if v.contains('%') {
                return None;
            }
            let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
            Some(
                v.split(',')
                    .map(str::trim)
                    .filter(|i| !i.is_empty())
                    .all(|item| {
                        item.split_once('=').is_some_and(|(k, val)| {
                            let k = k.trim();
                            !k.is_empty()
                                && k.bytes().all(tchar)
                                && val
                                    .trim()
                                    .bytes()
                                    .all(|b| b == b'\t' || (0x20..0x7f).contains(&b) || b >= 0x80)
                        })
                    }),
            )
        }
        _ => None,
    }
}

proptest::proptest! {
    #![proptest_config(crate::testing::proptest_config(2048))]

    /// Every parser accepts exactly what its specification allows: each variable, with
    /// values near and across its grammar's edges, is accepted if and only if the oracle
    /// above allows it (the exporter is configured, so its variables are parsed).
    #[test]
    fn parsers_accept_exactly_what_the_spec_allows(
        var in proptest::sample::select(&[
            "OTEL_BSP_MAX_QUEUE_SIZE",
            "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
            "OBS_BSP_MAX_QUEUE_BYTES",
            "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",
            "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",
            "OTEL_SPAN_EVENT_COUNT_LIMIT",
            "OTEL_BSP_SCHEDULE_DELAY",
            "OTEL_EXPORTER_OTLP_TIMEOUT",
            "OTEL_TRACES_SAMPLER",
            "OTEL_TRACES_SAMPLER_ARG",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "OTEL_TRACES_EXPORTER",
            "OTEL_SDK_DISABLED",
            "OTEL_EXPORTER_OTLP_HEADERS",
        ][..]),
        value in proptest::prelude::prop_oneof![
            "\\PC{0,12}",
            " ?[+-]?[0-9]{0,25} ?",
            "0|1|1048576|1048577|18446744073709551615|18446744073709551616|-1|\\+7|0x10|1_000",
            "[+-]?[0-9]{0,2}(\\.[0-9]{0,3})?([eE][+-]?[0-9]{0,2})?|inf|NaN|\\.|1\\.0\\.0",
            "(parentbased_)?(always_on|always_off|traceidratio|AlwaysOn|always-on)",
            "http/protobuf|grpc|http/json|HTTP/PROTOBUF|otlp|none|true|false|TRUE|yes",
            "( ?[a-zA-Z0-9 !#@:\u{e9}\u{7f}-]{0,5} ?= ?[a-z0-9 \t\u{1}\u{e9}]{0,5},?){0,3}",
        ],
    ) {
        let Some(allowed) = spec_allows(var, &value) else {
            return Ok(());
        };
        // Without the `otlp` feature an endpoint is an error of its own, and the exporter's
        // variables are not read.
        let exporter_var = var.starts_with("OTEL_EXPORTER_OTLP_");
        if exporter_var && !cfg!(feature = "otlp") {
            return Ok(());
        }
        let mut vars = vec![
            (var.to_owned(), value.clone()),
            ("OBS_METRICS_ADDR".to_owned(), "off".to_owned()),
        ];
        if cfg!(feature = "otlp") && var != "OTEL_TRACES_EXPORTER" && var != "OTEL_SDK_DISABLED" {
            vars.push(("OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(), "http://127.0.0.1:4318".to_owned()));
        }
        let accepted = init().env(vars).build().map(drop);
        proptest::prop_assert_eq!(
            accepted.is_ok(),
            allowed,
            "{}={:?}: {:?}",
            var,
            value,
            accepted.err().map(|e| e.to_string())
        );
    }
}

/// No error message echoes a secret: the headers variable (API keys), the token, or
/// credentials in an endpoint URL.
#[test]
fn errors_never_echo_secrets() {
    for vars in [
        &[(
            "OTEL_EXPORTER_OTLP_HEADERS",
            "authorization=Bearer SECRET-123,broken",
        )][..],
        &[(
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
            "x-api-key=SECRET-123,\u{7f}=x",
        )][..],
        &[(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "ftp://collector:SECRET-123@example.com:4318",
        )][..],
        &[("OBS_METRICS_TOKEN", "SECRET-123\u{0}")][..],
    ] {
        let message = init()
            .env(vars.iter().copied())
            .metrics_addr(None)
            .build()
            .map(|_| ())
            .map_or_else(|e| e.to_string(), |()| String::new());
        assert!(!message.contains("SECRET-123"), "{message}");
    }
}

#[test]
fn queue_size_beyond_the_maximum_is_an_error() {
    assert_eq!(
        error(&[("OTEL_BSP_MAX_QUEUE_SIZE", "1000000000000")]),
        "invalid OTEL_BSP_MAX_QUEUE_SIZE=\"1000000000000\": expected a number of spans from 1 to 1048576"
    );
    let ok = init()
        .env([("OTEL_BSP_MAX_QUEUE_SIZE", "1048576")])
        .metrics_addr(None)
        .build();
    assert!(ok.is_ok());
}

fn error(vars: &[(&str, &str)]) -> String {
    init()
        .env(vars.iter().copied())
        .metrics_addr(None)
        .build()
        .map(|_| ())
        .unwrap_err()
        .to_string()
}

#[test]
fn invalid_values_name_the_variable() {
    assert_eq!(
        error(&[("OTEL_TRACES_SAMPLER", "sometimes")]),
        "invalid OTEL_TRACES_SAMPLER=\"sometimes\": expected one of always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio"
    );
    assert_eq!(
        error(&[
            ("OTEL_TRACES_SAMPLER", "traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "1.5")
        ]),
        "invalid OTEL_TRACES_SAMPLER_ARG=\"1.5\": expected a sampling ratio between 0 and 1"
    );
    assert_eq!(
        error(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")]),
        "invalid OTEL_EXPORTER_OTLP_PROTOCOL=\"http/json\": expected `http/protobuf` or `grpc` (`http/json` is not supported)"
    );
    assert_eq!(
        error(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "localhost:4317")]),
        "invalid OTEL_EXPORTER_OTLP_ENDPOINT=\"localhost:4317\": expected an http:// or https:// URL"
    );
    assert_eq!(
        error(&[("OTEL_EXPORTER_OTLP_HEADERS", "api-key")]),
        "invalid OTEL_EXPORTER_OTLP_HEADERS=\"[REDACTED]\": expected a comma-separated list of key=value pairs"
    );
    assert_eq!(
        error(&[("OTEL_SDK_DISABLED", "yes")]),
        "invalid OTEL_SDK_DISABLED=\"yes\": expected `true` or `false`"
    );
    assert_eq!(
        error(&[("OBS_LOG_FORMAT", "xml")]),
        "invalid OBS_LOG_FORMAT=\"xml\": expected `json`, `pretty` or `auto`"
    );
    assert!(
        error(&[("RUST_LOG", "info,[[[")])
            .starts_with("invalid RUST_LOG=\"info,[[[\": expected tracing filter directives")
    );
    // A multibyte character used to panic inside tracing-subscriber's parser.
    assert!(
        error(&[("RUST_LOG", "a=𖬙{b")])
            .starts_with("invalid RUST_LOG=\"a=𖬙{b\": expected tracing filter directives")
    );
    assert_eq!(
        init()
            .env([("OBS_METRICS_ADDR", "localhost")])
            .build()
            .map(|_| ())
            .unwrap_err()
            .to_string(),
        "invalid OBS_METRICS_ADDR=\"localhost\": expected a socket address such as `127.0.0.1:9464` or `0.0.0.0:9464`, or `off`"
    );
    assert_eq!(
        error(&[("OTEL_BSP_SCHEDULE_DELAY", "soon")]),
        "invalid OTEL_BSP_SCHEDULE_DELAY=\"soon\": expected a delay in milliseconds"
    );
}

#[test]
fn resource_from_env_and_code() {
    let config = Config::resolve(
        init()
            .env([
                (
                    "OTEL_RESOURCE_ATTRIBUTES",
                    "service.name=from-attrs,team=pay%20ments",
                ),
                ("OTEL_SERVICE_NAME", "from-env"),
            ])
            .service_version("1.2.3")
            .metrics_addr(None)
            .settings,
    )
    .map_err(|e| e.to_string())
    .unwrap();
    let get = |k: &str| config.resource.get(k).map(ToString::to_string);
    assert_eq!(get("service.name").as_deref(), Some("from-env"));
    assert_eq!(get("team").as_deref(), Some("pay ments"));
    assert_eq!(get("service.version").as_deref(), Some("1.2.3"));
    assert_eq!(get("telemetry.sdk.name").as_deref(), Some("obs"));
    assert!(config.export.is_none());
    assert_eq!(
        signal_url("http://c:4318/", Protocol::HttpProtobuf, &TRACES),
        "http://c:4318/v1/traces"
    );
    assert_eq!(
        signal_url("http://c:4317", Protocol::Grpc, &TRACES),
        "http://c:4317"
    );
}

/// An `https://` endpoint without TLS compiled in says which feature to enable (run by
/// `.ci/run`, which tests the crate with `otlp` alone and with no features).
#[cfg(not(feature = "otlp-tls"))]
#[test]
fn https_without_tls_names_the_feature() {
    let error = init()
        .env([
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "https://collector.example:4318",
            ),
            ("OBS_METRICS_ADDR", "off"),
        ])
        .build()
        .unwrap_err()
        .to_string();
    let want = if cfg!(feature = "otlp") {
        "invalid `otlp_endpoint`: an https:// endpoint needs the `otlp-tls` feature of obs-runtime"
    } else {
        "invalid `otlp_endpoint`: an OTLP endpoint is set but obs-runtime was built without its `otlp` feature"
    };
    assert_eq!(error, want);
}
