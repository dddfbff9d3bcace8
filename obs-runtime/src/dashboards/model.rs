//! What the program contains, as the generators see it: observed functions, declared
//! families, SLOs and where each is measured; and the PromQL of their SLIs.

use std::sync::{Mutex, PoisonError};

use crate::metrics::encoding::FamilyHeader;
use crate::metrics::{MetricKind, Slo, catalogue};
use crate::observe::observed_functions;

/// One observed function (sites sharing module and name are one function).
#[derive(Clone, Debug)]
#[allow(
    clippy::struct_field_names,
    reason = "`function` is the label's name, as in the exposition"
)]
pub(super) struct Function {
    pub(super) module: &'static str,
    pub(super) function: &'static str,
    pub(super) slo: Option<&'static Slo>,
}

impl Function {
    /// `function="..", module=".."`.
    pub(super) fn matchers(&self) -> String {
        format!(
            "function=\"{}\", module=\"{}\"",
            promql_escape(self.function),
            promql_escape(self.module)
        )
    }
}

/// Every observed function, sorted by module and name.
pub(super) fn functions() -> Vec<Function> {
    let mut out: Vec<Function> = Vec::new();
    for site in observed_functions() {
        match out
            .iter_mut()
            .find(|f| f.module == site.module && f.function == site.function)
        {
            Some(f) => f.slo = f.slo.or(site.slo),
            None => out.push(Function {
                module: site.module,
                function: site.function,
                slo: site.slo,
            }),
        }
    }
    out.sort_by(|a, b| (a.module, a.function).cmp(&(b.module, b.function)));
    out
}

/// A family declared with `metric!`.
#[derive(Clone, Debug)]
pub(super) struct Family {
    pub(super) name: String,
    pub(super) help: String,
    pub(super) unit: Option<String>,
    pub(super) kind: MetricKind,
}

/// Every `metric!` family of the program, sorted by name.
pub(super) fn families() -> Vec<Family> {
    let mut out: Vec<Family> = catalogue()
        .map(|c| {
            let FamilyHeader {
                name,
                help,
                unit,
                kind,
            } = c.header();
            Family {
                name: name.to_owned(),
                help: help.to_owned(),
                unit: unit.map(str::to_owned),
                kind,
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out.dedup_by(|a, b| a.name == b.name);
    out
}

/// Whether the program exposes the database families (the `sqlx` feature's `db` module).
pub(super) fn has_database() -> bool {
    crate::metrics::Registry::global()
        .names()
        .iter()
        .any(|n| n == "db_client_operation_duration_seconds")
}

/// Where an SLO is measured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Target {
    /// Observed functions, by module and name.
    Functions(Vec<(&'static str, &'static str)>),
    /// An HTTP route template.
    Route(String),
}

/// Per-route SLOs registered at run time (by the HTTP layer).
static ROUTE_SLOS: Mutex<Vec<(String, &'static Slo)>> = Mutex::new(Vec::new());

/// Measures `slo` on the requests of the route template `endpoint` (the HTTP layer calls
/// this for its per-route SLOs; call it yourself for routes served another way). The
/// dashboard and rules generated afterwards include it.
pub fn register_route_slo(endpoint: &str, slo: &'static Slo) {
    let mut slos = ROUTE_SLOS.lock().unwrap_or_else(PoisonError::into_inner);
    if !slos
        .iter()
        .any(|(e, s)| e == endpoint && s.name == slo.name)
    {
        slos.push((endpoint.to_owned(), slo));
    }
}

/// Every SLO with where it is measured, sorted by name (one entry per SLO name and
/// target kind; functions sharing an SLO are measured together).
pub(super) fn slos(functions: &[Function]) -> Vec<(&'static Slo, Target)> {
    let mut out: Vec<(&'static Slo, Target)> = Vec::new();
    for f in functions {
        let Some(slo) = f.slo else { continue };
        match out
            .iter_mut()
            .find(|(s, t)| s.name == slo.name && matches!(t, Target::Functions(_)))
        {
            Some((_, Target::Functions(list))) => list.push((f.module, f.function)),
            _ => out.push((slo, Target::Functions(vec![(f.module, f.function)]))),
        }
    }
    for (endpoint, slo) in ROUTE_SLOS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
    {
        out.push((slo, Target::Route(endpoint.clone())));
    }
    out.sort_by(|a, b| a.0.name.cmp(b.0.name));
    out
}

/// A label value inside a PromQL string literal.
pub(super) fn promql_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// A duration in PromQL (`5m`, `1h`, `3d`, `45s`), from seconds.
pub(super) fn duration(seconds: u64) -> String {
    let seconds = seconds.max(1);
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
        if seconds.is_multiple_of(size) {
            return format!("{}{unit}", seconds / size);
        }
    }
    format!("{seconds}s")
}

/// `sum(rate(metric{matchers}[window]))` summed over every target of an SLO, each term
/// defaulting to 0 so that one quiet function does not blank the sum.
fn sum_rate(metric: &str, target: &Target, job: &str, extra: &str, window: &str) -> String {
    let terms: Vec<String> = match target {
        Target::Functions(list) => list
            .iter()
            .map(|(module, function)| {
                format!(
                    "function=\"{}\", module=\"{}\"",
                    promql_escape(function),
                    promql_escape(module)
                )
            })
            .collect(),
        Target::Route(endpoint) => vec![format!("endpoint=\"{}\"", promql_escape(endpoint))],
    };
    let terms: Vec<String> = terms
        .into_iter()
        .map(|m| {
            let m = [job, m.as_str(), extra]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(", ");
            if target_is_single(target) {
                format!("sum(rate({metric}{{{m}}}[{window}]))")
            } else {
                format!("(sum(rate({metric}{{{m}}}[{window}])) or vector(0))")
            }
        })
        .collect();
    terms.join(" + ")
}

fn target_is_single(target: &Target) -> bool {
    matches!(target, Target::Route(_)) || matches!(target, Target::Functions(l) if l.len() == 1)
}

/// The SLI's error ratio over `window`: the share of bad events (errors, or calls slower
/// than the threshold) among all events, of the series `job` selects (`job="orders"` in
/// the rules, the dashboard's variables in its panels).
pub(super) fn error_ratio(slo: &Slo, target: &Target, job: &str, window: &str) -> String {
    let (count, bucket, errors) = match target {
        Target::Functions(_) => (
            "function_calls_total",
            "function_calls_duration_seconds_bucket",
            "result=\"error\"",
        ),
        Target::Route(_) => (
            "http_requests_total",
            "http_request_duration_seconds_bucket",
            "status_code=~\"5..\"",
        ),
    };
    match slo.latency_le() {
        None => format!(
            "({}) / ({})",
            sum_rate(count, target, job, errors, window),
            sum_rate(count, target, job, "", window)
        ),
        Some(le) => {
            let all = sum_rate(bucket, target, job, "le=\"+Inf\"", window);
            format!(
                "1 - ({}) / ({all})",
                sum_rate(bucket, target, job, &format!("le=\"{le}\""), window)
            )
        }
    }
}

/// The name of the recording rule holding an SLO's error ratio over `window`.
pub(super) fn sli_record(window: &str) -> String {
    format!("slo:sli_error:ratio_rate{window}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_ratios() {
        assert_eq!(duration(300), "5m");
        assert_eq!(duration(3_600), "1h");
        assert_eq!(duration(259_200), "3d");
        assert_eq!(duration(90), "90s");
        let slo = Slo::availability("a", 99.0);
        let one = Target::Functions(vec![("shop", "pay")]);
        assert_eq!(
            error_ratio(&slo, &one, "job=\"j\"", "5m"),
            "(sum(rate(function_calls_total{job=\"j\", function=\"pay\", module=\"shop\", result=\"error\"}[5m]))) / (sum(rate(function_calls_total{job=\"j\", function=\"pay\", module=\"shop\"}[5m])))"
        );
        let slow = Slo::latency("l", 99.0, 0.25);
        let route = Target::Route("/orders/{id}".into());
        assert_eq!(
            error_ratio(&slow, &route, "job=\"j\"", "1h"),
            "1 - (sum(rate(http_request_duration_seconds_bucket{job=\"j\", endpoint=\"/orders/{id}\", le=\"0.25\"}[1h]))) / (sum(rate(http_request_duration_seconds_bucket{job=\"j\", endpoint=\"/orders/{id}\", le=\"+Inf\"}[1h])))"
        );
    }
}
