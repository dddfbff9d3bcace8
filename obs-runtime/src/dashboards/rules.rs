//! Prometheus recording and alerting rules from the catalogue.

use std::fmt::Write as _;
use std::time::Duration;

use super::model::{self, Function, Target, duration, error_ratio, promql_escape, sli_record};
use super::yaml::{map, quoted};
use crate::metrics::Slo;

/// Options of [`prometheus_rules`].
///
/// ```
/// use std::time::Duration;
/// use obs_runtime::dashboards::RuleOptions;
///
/// let options = RuleOptions {
///     error_ratio: 0.01,
///     p99_seconds: 0.5,
///     ..RuleOptions::new("orders")
/// };
/// assert_eq!(options.alert_for, Duration::from_secs(300));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct RuleOptions {
    /// The Prometheus `job` that scrapes the service: every rule selects it.
    pub job: String,
    /// The error ratio above which the error alerts fire (default 5 %).
    pub error_ratio: f64,
    /// The p99 latency in seconds above which the latency alerts fire (default 1 s).
    pub p99_seconds: f64,
    /// How long a condition holds before the error, latency and target-down alerts fire
    /// (default 5 minutes).
    pub alert_for: Duration,
    /// The p99 latency in seconds of a database operation above which
    /// `ObsDbLatencyHigh` fires (default 0.5 s; with the database families only).
    pub db_p99_seconds: f64,
    /// The share of a pool's connections in use at which `ObsDbPoolSaturated` fires
    /// (default 0.9).
    pub pool_saturation: f64,
    /// Where the team's runbook lives: each alert then links to `{runbook_url}#{alert
    /// name}` in its `runbook_url` annotation. `None` (the default): no link, rather than
    /// one to a page that does not exist.
    pub runbook_url: Option<String>,
    /// Scales every SLO window (1.0: the SRE workbook's 5 m … 3 d). Below 1 it shortens
    /// them, to see a burn-rate alert fire in a test within minutes.
    pub window_scale: f64,
}

impl RuleOptions {
    /// The defaults, for the service scraped as `job`.
    pub fn new(job: impl Into<String>) -> Self {
        Self {
            job: job.into(),
            error_ratio: 0.05,
            p99_seconds: 1.0,
            alert_for: Duration::from_secs(300),
            db_p99_seconds: 0.5,
            pool_saturation: 0.9,
            runbook_url: None,
            window_scale: 1.0,
        }
    }
}

/// The multi-window, multi-burn-rate alerts of the Google SRE workbook: long window, short
/// window (seconds), burn rate, severity.
const BURN_WINDOWS: [(u64, u64, f64, &str); 4] = [
    (3_600, 300, 14.4, "page"),
    (21_600, 1_800, 6.0, "page"),
    (86_400, 7_200, 3.0, "ticket"),
    (259_200, 21_600, 1.0, "ticket"),
];

/// The rule file (Prometheus `rule_files` YAML): recording rules for the RED rates,
/// ratios and quantiles of functions and routes, their alerts, a target-down alert, and
/// per SLO its SLI over every window and one burn-rate alert per window pair.
///
/// ```
/// use obs_runtime::dashboards::{RuleOptions, prometheus_rules};
///
/// let rules = prometheus_rules(&RuleOptions::new("orders"));
/// assert!(rules.contains("- record: \"job_function:function_calls:rate5m\""));
/// assert!(rules.contains("- alert: \"ObsTargetDown\""));
/// ```
pub fn prometheus_rules(options: &RuleOptions) -> String {
    let functions = model::functions();
    let mut out = String::from("groups:\n");
    recording(&mut out, options);
    alerts(&mut out, options, &functions);
    for (slo, target) in model::slos(&functions) {
        slo_rules(&mut out, options, slo, &target);
    }
    out
}

/// `job="..."` (with a leading comma when `more`).
fn job(options: &RuleOptions) -> String {
    format!("job=\"{}\"", promql_escape(&options.job))
}

fn group(out: &mut String, name: &str) {
    let _ = writeln!(out, "  - name: {}\n    rules:", quoted(name));
}

fn record(out: &mut String, name: &str, expr: &str, labels: &[(&str, String)]) {
    let _ = writeln!(out, "      - record: {}", quoted(name));
    let _ = writeln!(out, "        expr: {}", quoted(expr));
    map(out, 8, "labels", labels);
}

struct Alert<'a> {
    name: &'a str,
    expr: String,
    for_: String,
    severity: &'a str,
    labels: Vec<(&'a str, String)>,
    summary: String,
    description: String,
}

fn alert(out: &mut String, options: &RuleOptions, a: &Alert<'_>) {
    let _ = writeln!(out, "      - alert: {}", quoted(a.name));
    let _ = writeln!(out, "        expr: {}", quoted(&a.expr));
    let _ = writeln!(out, "        for: {}", quoted(&a.for_));
    let mut labels = vec![("severity", a.severity.to_owned())];
    labels.extend(a.labels.iter().cloned());
    map(out, 8, "labels", &labels);
    let mut annotations = vec![
        ("summary", a.summary.clone()),
        ("description", a.description.clone()),
    ];
    if let Some(runbook) = &options.runbook_url {
        annotations.push(("runbook_url", format!("{runbook}#{}", a.name)));
    }
    map(out, 8, "annotations", &annotations);
}

/// The RED expressions of functions and routes: one definition for the rules and the
/// dashboard. `(level, metric, operation, expression)`.
pub(super) fn red_expressions(job: &str) -> Vec<(&'static str, String)> {
    let by_fn = "job, function, module";
    let by_route = "job, endpoint";
    let mut out = vec![
        (
            "job_function:function_calls:rate5m",
            format!("sum by ({by_fn}) (rate(function_calls_total{{{job}}}[5m]))"),
        ),
        (
            "job_function:function_calls_errors:ratio_rate5m",
            format!(
                "(sum by ({by_fn}) (rate(function_calls_total{{{job}, result=\"error\"}}[5m])) or 0 * sum by ({by_fn}) (rate(function_calls_total{{{job}}}[5m]))) / sum by ({by_fn}) (rate(function_calls_total{{{job}}}[5m]))"
            ),
        ),
        (
            "job_function:function_calls_duration_seconds_bucket:rate5m",
            format!(
                "sum by ({by_fn}, le) (rate(function_calls_duration_seconds_bucket{{{job}}}[5m]))"
            ),
        ),
        (
            "job_endpoint:http_requests:rate5m",
            format!("sum by ({by_route}) (rate(http_requests_total{{{job}}}[5m]))"),
        ),
        (
            "job_endpoint:http_requests_errors:ratio_rate5m",
            format!(
                "(sum by ({by_route}) (rate(http_requests_total{{{job}, status_code=~\"5..\"}}[5m])) or 0 * sum by ({by_route}) (rate(http_requests_total{{{job}}}[5m]))) / sum by ({by_route}) (rate(http_requests_total{{{job}}}[5m]))"
            ),
        ),
        (
            "job_endpoint:http_request_duration_seconds_bucket:rate5m",
            format!(
                "sum by ({by_route}, le) (rate(http_request_duration_seconds_bucket{{{job}}}[5m]))"
            ),
        ),
    ];
    for (q, name) in [(0.5, "p50"), (0.95, "p95"), (0.99, "p99")] {
        let (f, r) = match name {
            "p50" => (
                "job_function:function_calls_duration_seconds:p50_rate5m",
                "job_endpoint:http_request_duration_seconds:p50_rate5m",
            ),
            "p95" => (
                "job_function:function_calls_duration_seconds:p95_rate5m",
                "job_endpoint:http_request_duration_seconds:p95_rate5m",
            ),
            _ => (
                "job_function:function_calls_duration_seconds:p99_rate5m",
                "job_endpoint:http_request_duration_seconds:p99_rate5m",
            ),
        };
        out.push((
            f,
            format!(
                "histogram_quantile({q}, sum by ({by_fn}, le) (rate(function_calls_duration_seconds_bucket{{{job}}}[5m])))"
            ),
        ));
        out.push((
            r,
            format!(
                "histogram_quantile({q}, sum by ({by_route}, le) (rate(http_request_duration_seconds_bucket{{{job}}}[5m])))"
            ),
        ));
    }
    out
}

fn recording(out: &mut String, options: &RuleOptions) {
    group(out, "obs-red");
    for (name, expr) in red_expressions(&job(options)) {
        record(out, name, &expr, &[]);
    }
}

fn alerts(out: &mut String, options: &RuleOptions, functions: &[Function]) {
    group(out, "obs-alerts");
    let for_ = duration(options.alert_for.as_secs());
    let ratio = options.error_ratio;
    let p99 = options.p99_seconds;
    alert(
        out,
        options,
        &Alert {
            name: "ObsTargetDown",
            expr: format!("up{{{}}} == 0", job(options)),
            for_: "1m".to_owned(),
            severity: "page",
            labels: Vec::new(),
            summary: format!("{} target {{{{ $labels.instance }}}} is down", options.job),
            description: "Prometheus cannot scrape the service's /metrics.".to_owned(),
        },
    );
    for f in functions {
        let m = f.matchers();
        let who = format!("{}::{}", f.module, f.function);
        alert(
            out,
            options,
            &Alert {
                name: "ObsFunctionErrorRatioHigh",
                expr: format!("job_function:function_calls_errors:ratio_rate5m{{{m}}} > {ratio}"),
                for_: for_.clone(),
                severity: "ticket",
                labels: vec![
                    ("function", f.function.to_owned()),
                    ("module", f.module.to_owned()),
                ],
                summary: format!("{who} fails more than {} % of calls", ratio * 100.0),
                description: format!("The error ratio of {who} has been above {ratio} for {for_}."),
            },
        );
        alert(
            out,
            options,
            &Alert {
                name: "ObsFunctionLatencyHigh",
                expr: format!(
                    "job_function:function_calls_duration_seconds:p99_rate5m{{{m}}} > {p99}"
                ),
                for_: for_.clone(),
                severity: "ticket",
                labels: vec![
                    ("function", f.function.to_owned()),
                    ("module", f.module.to_owned()),
                ],
                summary: format!("{who} p99 latency is above {p99} s"),
                description: format!(
                    "The 99th percentile latency of {who} has been above {p99} s for {for_}."
                ),
            },
        );
    }
    alert(
        out,
        options,
        &Alert {
            name: "ObsRouteErrorRatioHigh",
            expr: format!("job_endpoint:http_requests_errors:ratio_rate5m > {ratio}"),
            for_: for_.clone(),
            severity: "ticket",
            labels: Vec::new(),
            summary: format!(
                "{{{{ $labels.endpoint }}}} answers more than {} % 5xx",
                ratio * 100.0
            ),
            description: format!(
                "The 5xx ratio of {{{{ $labels.endpoint }}}} has been above {ratio} for {for_}."
            ),
        },
    );
    if model::has_database() {
        database_alerts(out, options, &for_);
    }
    alert(
        out,
        options,
        &Alert {
            name: "ObsRouteLatencyHigh",
            expr: format!("job_endpoint:http_request_duration_seconds:p99_rate5m > {p99}"),
            for_: for_.clone(),
            severity: "ticket",
            labels: Vec::new(),
            summary: format!("{{{{ $labels.endpoint }}}} p99 latency is above {p99} s"),
            description: format!(
                "The 99th percentile latency of {{{{ $labels.endpoint }}}} has been above {p99} s for {for_}."
            ),
        },
    );
}

/// A pool near its maximum, and slow database operations.
fn database_alerts(out: &mut String, options: &RuleOptions, for_: &str) {
    let job = job(options);
    let share = options.pool_saturation;
    let p99 = options.db_p99_seconds;
    alert(
        out,
        options,
        &Alert {
            name: "ObsDbPoolSaturated",
            expr: format!(
                "sum by (job, pool_name) (db_client_connection_usage{{{job}, state=\"used\"}}) / sum by (job, pool_name) (db_client_connection_max{{{job}}}) >= {share}"
            ),
            for_: for_.to_owned(),
            severity: "ticket",
            labels: Vec::new(),
            summary: format!(
                "database pool {{{{ $labels.pool_name }}}} uses at least {} % of its connections",
                share * 100.0
            ),
            description: format!(
                "The pool {{{{ $labels.pool_name }}}} has had at least {share} of its connections in use for {for_}: requests wait for one (see db_client_connection_wait_time_seconds)."
            ),
        },
    );
    alert(
        out,
        options,
        &Alert {
            name: "ObsDbLatencyHigh",
            expr: format!(
                "histogram_quantile(0.99, sum by (job, db_system, operation, collection, le) (rate(db_client_operation_duration_seconds_bucket{{{job}}}[5m]))) > {p99}"
            ),
            for_: for_.to_owned(),
            severity: "ticket",
            labels: Vec::new(),
            summary: format!(
                "{{{{ $labels.operation }}}} {{{{ $labels.collection }}}} p99 latency is above {p99} s"
            ),
            description: format!(
                "The 99th percentile latency of {{{{ $labels.operation }}}} on {{{{ $labels.collection }}}} ({{{{ $labels.db_system }}}}) has been above {p99} s for {for_}."
            ),
        },
    );
}

/// A window scaled by the options, as PromQL.
fn window(options: &RuleOptions, seconds: u64) -> String {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "windows are a few days at most"
    )]
    let scaled = (seconds as f64 * options.window_scale).round().max(1.0) as u64;
    duration(scaled)
}

fn slo_rules(out: &mut String, options: &RuleOptions, slo: &Slo, target: &Target) {
    let name = promql_escape(slo.name);
    group(out, &format!("obs-slo-{}", slo.name));
    let mut windows: Vec<u64> = BURN_WINDOWS.iter().flat_map(|w| [w.0, w.1]).collect();
    windows.sort_unstable();
    windows.dedup();
    for w in windows {
        let w = window(options, w);
        // The job is written as a label too: the ratio sums the job's series into one,
        // and the burn-rate alerts keep it (Alertmanager groups and inhibits by it).
        record(
            out,
            &sli_record(&w),
            &error_ratio(slo, target, &job(options), &w),
            &[("job", options.job.clone()), ("slo", slo.name.to_owned())],
        );
    }
    let budget = slo.error_budget();
    let what = match target {
        Target::Functions(list) => list
            .iter()
            .map(|(m, f)| format!("{m}::{f}"))
            .collect::<Vec<_>>()
            .join(", "),
        Target::Route(endpoint) => format!("route {endpoint}"),
    };
    let promise = if slo.description.is_empty() {
        slo.to_string()
    } else {
        format!("{} ({slo})", slo.description)
    };
    for (long, short, rate, severity) in BURN_WINDOWS {
        let (long, short) = (window(options, long), window(options, short));
        let threshold = rate * budget;
        alert(
            out,
            options,
            &Alert {
                name: "ObsSloErrorBudgetBurn",
                expr: format!(
                    "{long_sli}{{{job}, slo=\"{name}\"}} > ({rate} * {budget}) and {short_sli}{{{job}, slo=\"{name}\"}} > ({rate} * {budget})",
                    long_sli = sli_record(&long),
                    short_sli = sli_record(&short),
                    job = job(options),
                ),
                for_: "0s".to_owned(),
                severity,
                labels: vec![
                    ("slo", slo.name.to_owned()),
                    ("long_window", long.clone()),
                    ("short_window", short.clone()),
                ],
                summary: format!(
                    "SLO {} burns its error budget {rate}x too fast ({long} and {short})",
                    slo.name
                ),
                description: format!(
                    "{what}: {promise}. The error ratio is above {threshold:.6} over both {long} and {short}; at this rate the {}-day budget lasts {:.1} days.",
                    slo.window_days,
                    f64::from(slo.window_days) / rate
                ),
            },
        );
    }
}
