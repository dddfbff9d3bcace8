//! obs families registered in a `prometheus::Registry` and gathered by its own encoder.

use obs_runtime::{Label, metric};
use prometheus::Encoder as _;

/// Result of a payment.
#[derive(Clone, Copy, Debug, Label)]
pub enum Payment {
    /// Accepted.
    Accepted,
    /// Declined.
    Declined,
}

metric! {
    /// Payments by result.
    pub counter PAYMENTS("interop_payments_total", result: Payment);
    /// Payment latency.
    pub histogram PAYMENT_LATENCY("interop_payment_seconds", buckets = [0.1, 1.0]);
    /// Build information.
    pub info INTEROP_BUILD("interop_build", version);
}

#[test]
fn obs_families_are_prometheus_collectors() {
    let registry = prometheus::Registry::new();
    registry
        .register(Box::new(CollectorRef(&PAYMENTS)))
        .expect("register counter");
    registry
        .register(Box::new(CollectorRef(&PAYMENT_LATENCY)))
        .expect("register histogram");
    registry
        .register(Box::new(CollectorRef(&INTEROP_BUILD)))
        .expect("register info");
    PAYMENTS.with(Payment::Accepted).inc_by(4);
    PAYMENTS.with(Payment::Declined).inc();
    PAYMENT_LATENCY.observe(0.05);
    PAYMENT_LATENCY.observe(0.5);
    INTEROP_BUILD.set(["2.0.0"]);

    let mut out = Vec::new();
    prometheus::TextEncoder::new()
        .encode(&registry.gather(), &mut out)
        .expect("encode");
    let text = String::from_utf8(out).expect("utf-8");
    assert_eq!(
        text,
        "# HELP interop_build_info Build information.\n\
         # TYPE interop_build_info gauge\n\
         interop_build_info{version=\"2.0.0\"} 1\n\
         # HELP interop_payment_seconds Payment latency.\n\
         # TYPE interop_payment_seconds histogram\n\
         interop_payment_seconds_bucket{le=\"0.1\"} 1\n\
         interop_payment_seconds_bucket{le=\"1\"} 2\n\
         interop_payment_seconds_bucket{le=\"+Inf\"} 2\n\
         interop_payment_seconds_sum 0.55\n\
         interop_payment_seconds_count 2\n\
         # HELP interop_payments_total Payments by result.\n\
         # TYPE interop_payments_total counter\n\
         interop_payments_total{result=\"accepted\"} 4\n\
         interop_payments_total{result=\"declined\"} 1\n"
    );
    // A second registration of the same family is refused by prometheus, as for its own.
    assert!(matches!(
        registry.register(Box::new(CollectorRef(&PAYMENTS))),
        Err(prometheus::Error::AlreadyReg)
    ));
}

/// Registers a `'static` obs family by reference.
struct CollectorRef<C: 'static>(&'static C);

impl<C: prometheus::core::Collector> prometheus::core::Collector for CollectorRef<C> {
    fn desc(&self) -> Vec<&prometheus::core::Desc> {
        self.0.desc()
    }

    fn collect(&self) -> Vec<prometheus::proto::MetricFamily> {
        self.0.collect()
    }
}
