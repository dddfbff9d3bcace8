//! Declares a few metrics, updates them and prints the exposition in both formats.
//!
//! ```text
//! cargo run -p obs-examples --example exposition
//! ```

use obs_runtime::{HttpMethod, Label, Registry, StatusClass, metric, metrics::Format};

/// How an order was paid.
#[derive(Clone, Copy, Debug, Label)]
pub enum PaymentMethod {
    Card,
    Paypal,
    BankTransfer,
}

/// What happened to an order.
#[derive(Clone, Copy, Debug, Label)]
pub enum OrderStatus {
    Paid,
    Failed,
}

metric! {
    /// Orders processed, by outcome and payment method.
    pub counter ORDERS("orders_processed_total", status: OrderStatus, payment_method: PaymentMethod);
    /// Value of processed orders.
    pub histogram ORDER_VALUE(
        "order_value_dollars",
        buckets = [10.0, 50.0, 100.0, 500.0, 1000.0],
        unit = "dollars",
    );
    /// HTTP request latency.
    pub histogram REQUEST_DURATION(
        "http_request_duration_seconds",
        method: HttpMethod,
        status: StatusClass,
        unit = "seconds",
    );
    /// Orders waiting for payment.
    pub gauge PENDING("orders_pending");
    /// Size of order confirmation e-mails.
    pub summary EMAIL_SIZE("order_email_size_bytes", unit = "bytes");
    /// Build information.
    pub info BUILD("orders_build", version);
}

fn main() {
    BUILD.set([env!("CARGO_PKG_VERSION")]);
    ORDERS
        .with(OrderStatus::Paid, PaymentMethod::Card)
        .inc_by(3);
    ORDERS
        .with(OrderStatus::Failed, PaymentMethod::Paypal)
        .inc();
    for value in [12.5, 75.0, 640.0] {
        ORDER_VALUE.observe(value);
    }
    REQUEST_DURATION
        .with(HttpMethod::Post, StatusClass::Success)
        .observe(0.042);
    PENDING.set(2);
    EMAIL_SIZE.observe(2048.0);

    if let Err(e) = Registry::global().check() {
        eprintln!("catalogue problem: {e}");
    }
    let registry = Registry::global();
    println!("===== Prometheus text 0.0.4 =====");
    print!("{}", registry.encode(Format::Prometheus));
    println!("===== OpenMetrics 1.0 =====");
    print!("{}", registry.encode(Format::OpenMetrics));
}
