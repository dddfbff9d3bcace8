//! Per-route storage of the HTTP metrics: a bounded table of route templates, each with a
//! cell per method holding the duration histogram and the counts per status code.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use crate::metrics::Collect;
use crate::metrics::capped::CappedMap;
use crate::metrics::encoding::{FamilyHeader, MetricEncoder, Number};
use crate::metrics::name::MetricKind;
use crate::metrics::{Counter, DEFAULT_BUCKETS, Histogram, Slo};
use crate::metrics::{HttpMethod, Label};

/// The `endpoint` of requests that matched no route.
pub const UNMATCHED: &str = "__unmatched__";

/// Distinct status codes kept per route and method; more share `status_code="other"`.
const STATUS_SLOTS: usize = 16;

/// Counts per status code, lock-free: a small open-addressed table of (code, counter).
pub(crate) struct StatusCounts {
    codes: [AtomicU32; STATUS_SLOTS],
    counts: [Counter; STATUS_SLOTS],
    other: Counter,
}

impl StatusCounts {
    fn new() -> Self {
        Self {
            codes: std::array::from_fn(|_| AtomicU32::new(0)),
            counts: std::array::from_fn(|_| Counter::new()),
            other: Counter::new(),
        }
    }

    pub(crate) fn inc(&self, code: u16) {
        let code = u32::from(code);
        let start = code as usize % STATUS_SLOTS;
        for i in 0..STATUS_SLOTS {
            let slot = (start + i) % STATUS_SLOTS;
            let held = self.codes[slot].load(Ordering::Acquire);
            if held == code {
                self.counts[slot].inc();
                return;
            }
            if held == 0 {
                match self.codes[slot].compare_exchange(
                    0,
                    code,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => {
                        self.counts[slot].inc();
                        return;
                    }
                    Err(now) if now == code => {
                        self.counts[slot].inc();
                        return;
                    }
                    Err(_) => {}
                }
            }
        }
        self.other.inc();
    }

    /// (code, counter) pairs in code order, then the overflow counter if used.
    fn each(&self, mut f: impl FnMut(&str, &Counter)) {
        let mut used: Vec<(u32, &Counter)> = self
            .codes
            .iter()
            .zip(&self.counts)
            .filter_map(|(c, n)| match c.load(Ordering::Acquire) {
                0 => None,
                code => Some((code, n)),
            })
            .collect();
        used.sort_by_key(|(code, _)| *code);
        for (code, counter) in used {
            f(&code.to_string(), counter);
        }
        if self.other.get() > 0 {
            f("other", &self.other);
        }
    }
}

/// One (route, method) pair.
pub(crate) struct MethodCells {
    pub(crate) statuses: StatusCounts,
    pub(crate) duration: Histogram,
}

/// One route template.
pub(crate) struct Route {
    pub(crate) endpoint: Arc<str>,
    /// The duration buckets: the defaults, plus the threshold of the route's SLO.
    buckets: &'static [f64],
    methods: [OnceLock<Box<MethodCells>>; HttpMethod::CARDINALITY],
}

impl Route {
    pub(crate) fn method(&self, method: HttpMethod) -> &MethodCells {
        self.methods[method.index()].get_or_init(|| {
            Box::new(MethodCells {
                statuses: StatusCounts::new(),
                duration: Histogram::with_buckets(self.buckets),
            })
        })
    }
}

/// The buckets of routes with a latency SLO (few: one entry per SLO route, kept for the
/// life of the process, which the histograms borrow them for).
static SLO_BUCKETS: Mutex<Vec<(String, &'static [f64])>> = Mutex::new(Vec::new());

/// Measures `slo` on `route`: registers it for the generated rules and dashboard, and makes
/// its threshold a bucket boundary of the route's histogram (for cells created from now on).
pub(crate) fn set_route_slo(route: &str, slo: &'static Slo) {
    if let Some(t) = slo.latency {
        assert!(
            t <= DEFAULT_BUCKETS[DEFAULT_BUCKETS.len() - 1],
            "the SLO `{}` has a latency threshold above the HTTP histogram's largest bucket (10 s); declare it with `Slo::for_http()`",
            slo.name
        );
        let mut buckets: Vec<f64> = DEFAULT_BUCKETS.to_vec();
        if !buckets.contains(&t) {
            buckets.push(t);
            buckets.sort_by(f64::total_cmp);
        }
        let mut table = SLO_BUCKETS.lock().unwrap_or_else(PoisonError::into_inner);
        match table.iter_mut().find(|(r, _)| r == route) {
            Some((_, existing)) => {
                let mut merged: Vec<f64> = existing.to_vec();
                merged.extend(buckets);
                merged.sort_by(f64::total_cmp);
                merged.dedup();
                *existing = Box::leak(merged.into_boxed_slice());
            }
            None => table.push((route.to_owned(), Box::leak(buckets.into_boxed_slice()))),
        }
    }
    crate::dashboards::register_route_slo(route, slo);
}

fn buckets_of(endpoint: &str) -> &'static [f64] {
    SLO_BUCKETS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .find(|(r, _)| r == endpoint)
        .map_or(&DEFAULT_BUCKETS, |(_, b)| *b)
}

/// Every route seen, capped; routes past the cap share one entry.
pub(crate) struct Routes {
    table: CappedMap<Arc<str>, Route>,
    unmatched: Arc<Route>,
}

fn route(endpoint: &str) -> Route {
    Route {
        endpoint: Arc::from(endpoint),
        buckets: buckets_of(endpoint),
        methods: std::array::from_fn(|_| OnceLock::new()),
    }
}

impl Routes {
    fn new(max: usize) -> Self {
        Self {
            table: CappedMap::new(max, route(crate::metrics::OVERFLOW_VALUE)),
            unmatched: Arc::new(route(UNMATCHED)),
        }
    }

    /// The entry of a matched route template, or of unmatched requests.
    pub(crate) fn get(&self, template: Option<&str>) -> Arc<Route> {
        let Some(template) = template else {
            return Arc::clone(&self.unmatched);
        };
        self.table.get_or_insert(template, || {
            let r = route(template);
            (Arc::clone(&r.endpoint), r)
        })
    }

    /// Every route in template order, then unmatched requests and the overflow entry.
    fn sorted(&self) -> Vec<Arc<Route>> {
        let mut routes: Vec<Arc<Route>> = self.table.sorted().into_iter().map(|(_, r)| r).collect();
        routes.push(Arc::clone(&self.unmatched));
        routes.push(Arc::clone(self.table.overflow_value()));
        routes
    }
}

/// Most distinct route templates tracked; later ones share `endpoint="__overflow__"`.
pub const MAX_ENDPOINTS: usize = 1000;

/// The process-wide route table (the HTTP families are global, like the registry).
pub(crate) fn routes() -> &'static Routes {
    static ROUTES: OnceLock<Routes> = OnceLock::new();
    ROUTES.get_or_init(|| Routes::new(MAX_ENDPOINTS))
}

/// `http_requests_total{method, endpoint, status_code}`.
struct HttpRequests;

// Both families join the global registry through the link-time list of built-ins.
#[allow(unsafe_code)]
#[linkme::distributed_slice(crate::metrics::BUILT_IN)]
static REQUESTS: &'static dyn Collect = &HttpRequests;
#[allow(unsafe_code)]
#[linkme::distributed_slice(crate::metrics::BUILT_IN)]
static DURATION: &'static dyn Collect = &HttpDuration;

impl Collect for HttpRequests {
    fn header(&self) -> FamilyHeader<'_> {
        FamilyHeader {
            name: "http_requests_total",
            help: "HTTP requests handled, by method, route template and status code.",
            unit: None,
            kind: MetricKind::Counter,
        }
    }

    fn encode_series(&self, encoder: &mut dyn MetricEncoder) {
        for route in routes().sorted() {
            for method in (0..HttpMethod::CARDINALITY).filter_map(HttpMethod::from_index) {
                let Some(cells) = route.methods[method.index()].get() else {
                    continue;
                };
                cells.statuses.each(|code, counter| {
                    let exemplar = counter.exemplar();
                    encoder.counter(
                        &[
                            ("method", method.as_str()),
                            ("endpoint", &route.endpoint),
                            ("status_code", code),
                        ],
                        Number::Int(counter.get()),
                        None,
                        exemplar.as_ref(),
                    );
                });
            }
        }
    }
}

/// `http_request_duration_seconds{method, endpoint}`.
struct HttpDuration;

impl Collect for HttpDuration {
    fn header(&self) -> FamilyHeader<'_> {
        FamilyHeader {
            name: "http_request_duration_seconds",
            help: "HTTP request latency, by method and route template.",
            unit: Some("seconds"),
            kind: MetricKind::Histogram,
        }
    }

    fn encode_series(&self, encoder: &mut dyn MetricEncoder) {
        for route in routes().sorted() {
            for method in (0..HttpMethod::CARDINALITY).filter_map(HttpMethod::from_index) {
                let Some(cells) = route.methods[method.index()].get() else {
                    continue;
                };
                encoder.histogram(
                    &[("method", method.as_str()), ("endpoint", &route.endpoint)],
                    &cells.duration.snapshot().sample(None),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_table_counts_and_overflows() {
        let s = StatusCounts::new();
        for code in [200, 200, 404, 500] {
            s.inc(code);
        }
        for code in 300..320 {
            s.inc(code);
        }
        let mut seen = Vec::new();
        s.each(|code, c| seen.push((code.to_owned(), c.get())));
        assert_eq!(seen.len(), STATUS_SLOTS + 1);
        assert!(seen.contains(&("200".to_owned(), 2)));
        assert!(seen.contains(&("404".to_owned(), 1)));
        assert_eq!(seen.last(), Some(&("other".to_owned(), 7)));
    }

    #[test]
    fn routes_are_capped() {
        let r = Routes::new(2);
        assert_eq!(&*r.get(Some("/a")).endpoint, "/a");
        assert_eq!(&*r.get(Some("/b")).endpoint, "/b");
        assert_eq!(&*r.get(Some("/c")).endpoint, crate::metrics::OVERFLOW_VALUE);
        assert_eq!(&*r.get(Some("/a")).endpoint, "/a");
        assert_eq!(&*r.get(None).endpoint, UNMATCHED);
    }
}
