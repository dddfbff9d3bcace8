//! The RED families of every observed function: `function_calls_total`,
//! `function_calls_duration_seconds` and `function_calls_concurrent`.

use super::site::{FnSite, UNCLASSIFIED};
use crate::metrics::encoding::{FamilyHeader, MetricEncoder, Number};
use crate::metrics::{Collect, MetricKind};

/// Every observed function, sorted by module and name, with sites that share both (two
/// `impl` blocks' `new`, say) grouped so that their series are merged, not duplicated.
fn grouped_sites() -> Vec<Vec<&'static FnSite>> {
    let mut sites: Vec<&'static FnSite> = super::OBSERVED.iter().copied().collect();
    sites.sort_by(|a, b| (a.module, a.function).cmp(&(b.module, b.function)));
    let mut groups: Vec<Vec<&'static FnSite>> = Vec::new();
    for site in sites {
        match groups.last_mut() {
            Some(g) if g[0].module == site.module && g[0].function == site.function => g.push(site),
            _ => groups.push(vec![site]),
        }
    }
    groups
}

/// Label pairs `function`, `module`, the site's extra labels, then `extra`.
fn site_labels<'a>(site: &'a FnSite, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut labels = vec![("function", site.function), ("module", site.module)];
    labels.extend(site.labels.iter().map(|(k, v)| (*k, v())));
    labels.extend_from_slice(extra);
    labels
}

/// `function_calls_total{function, module, result, error}`.
pub(crate) struct FunctionCalls;

// The three families join the global registry through the link-time list of built-ins.
#[allow(unsafe_code)]
#[linkme::distributed_slice(crate::metrics::BUILT_IN)]
static CALLS: &'static dyn Collect = &FunctionCalls;
#[allow(unsafe_code)]
#[linkme::distributed_slice(crate::metrics::BUILT_IN)]
static DURATION: &'static dyn Collect = &FunctionDuration;
#[allow(unsafe_code)]
#[linkme::distributed_slice(crate::metrics::BUILT_IN)]
static CONCURRENT: &'static dyn Collect = &FunctionConcurrent;

impl Collect for FunctionCalls {
    fn header(&self) -> FamilyHeader<'_> {
        FamilyHeader {
            name: "function_calls_total",
            help: "Calls of functions observed with #[observe], by result and error.",
            unit: None,
            kind: MetricKind::Counter,
        }
    }

    fn encode_series(&self, encoder: &mut dyn MetricEncoder) {
        for group in grouped_sites() {
            let sum = |f: &dyn Fn(&FnSite) -> u64| group.iter().map(|s| f(s)).sum::<u64>();
            let first = group[0];
            let ok = sum(&|s| s.ok_calls());
            encoder.counter(
                &site_labels(first, &[("result", "ok"), ("error", "")]),
                Number::Int(ok),
                None,
                None,
            );
            let mut names: Vec<&'static str> = Vec::new();
            for site in &group {
                names.extend(site.error_labels());
            }
            names.sort_unstable();
            names.dedup();
            for name in names {
                let n = sum(&|s| s.errors(name));
                encoder.counter(
                    &site_labels(first, &[("result", "error"), ("error", name)]),
                    Number::Int(n),
                    None,
                    None,
                );
            }
            let panics = sum(&|s| s.tally.panicked());
            encoder.counter(
                &site_labels(first, &[("result", "error"), ("error", "panic")]),
                Number::Int(panics),
                None,
                None,
            );
            let unclassified = sum(&|s| s.tally.unclassified());
            if unclassified > 0 {
                encoder.counter(
                    &site_labels(first, &[("result", "error"), ("error", UNCLASSIFIED)]),
                    Number::Int(unclassified),
                    None,
                    None,
                );
            }
            let cancelled = sum(&|s| s.tally.cancelled());
            encoder.counter(
                &site_labels(first, &[("result", "cancelled"), ("error", "")]),
                Number::Int(cancelled),
                None,
                None,
            );
        }
    }
}

/// `function_calls_duration_seconds{function, module}`.
pub(crate) struct FunctionDuration;

impl Collect for FunctionDuration {
    fn header(&self) -> FamilyHeader<'_> {
        FamilyHeader {
            name: "function_calls_duration_seconds",
            help: "Duration of calls of functions observed with #[observe].",
            unit: Some("seconds"),
            kind: MetricKind::Histogram,
        }
    }

    fn encode_series(&self, encoder: &mut dyn MetricEncoder) {
        for group in grouped_sites() {
            let first = group[0];
            // Sites merged under one name add up when their buckets agree; each bucket
            // shows the newest exemplar among them.
            let mut merged = first.duration().snapshot();
            for site in group.iter().skip(1) {
                merged.merge(&site.duration().snapshot());
            }
            encoder.histogram(&site_labels(first, &[]), &merged.sample(None));
        }
    }
}

/// `function_calls_concurrent{function, module}`.
pub(crate) struct FunctionConcurrent;

impl Collect for FunctionConcurrent {
    fn header(&self) -> FamilyHeader<'_> {
        FamilyHeader {
            name: "function_calls_concurrent",
            help: "Calls in progress of functions observed with #[observe].",
            unit: None,
            kind: MetricKind::Gauge,
        }
    }

    fn encode_series(&self, encoder: &mut dyn MetricEncoder) {
        for group in grouped_sites() {
            if !group.iter().any(|s| s.concurrency) {
                continue;
            }
            let n: i64 = group.iter().map(|s| s.in_flight()).sum();
            encoder.gauge(&site_labels(group[0], &[]), Number::Signed(n));
        }
    }
}
