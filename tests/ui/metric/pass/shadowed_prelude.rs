//! The expansion names everything by absolute path: shadowing prelude items, `std`, `core`
//! and `obs_runtime` itself changes nothing.
#![no_implicit_prelude]

extern crate obs_runtime as real_obs;

#[allow(dead_code)]
mod obs_runtime {}
#[allow(dead_code)]
mod std {}
#[allow(dead_code, non_camel_case_types)]
struct usize;
#[allow(dead_code)]
enum Result { Ok, Err }
#[allow(dead_code)]
enum Option { Some, None }
#[allow(dead_code)]
struct Ok;
#[allow(dead_code)]
struct Some;

#[derive(::core::clone::Clone, ::core::marker::Copy, real_obs::Label)]
enum Status {
    Paid,
    Failed,
}

real_obs::metric! {
    /// Orders.
    pub counter ORDERS("shadow_orders_total", status: Status, crate = real_obs);
    /// Latency.
    pub histogram LATENCY("shadow_latency_seconds", crate = real_obs);
}

fn main() {
    ORDERS.with(Status::Paid).inc();
    LATENCY.observe(0.1);
    let _ = Status::Failed;
}
