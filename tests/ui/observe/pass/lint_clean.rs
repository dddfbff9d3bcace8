//! The expansion is clean under strict lints, for every shape.
#![deny(warnings, unused_qualifications, missing_docs, unused_results)]

use obs_runtime::{ErrorLabel, observe};

/// Errors.
#[derive(Debug, ErrorLabel)]
pub enum Failure {
    /// Timed out.
    Timeout,
}

impl core::fmt::Display for Failure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("timeout")
    }
}

/// A sync function with fields and `?`.
#[observe(fields(id = id, name = %name), level = "debug", err(level = "warn"))]
pub fn sync_work(id: u64, name: &str) -> Result<usize, Failure> {
    if id == 0 {
        Err(Failure::Timeout)?;
    }
    Ok(name.len())
}

/// An async function with an early return.
#[observe(name = "async.work", concurrency = false)]
pub async fn async_work(id: u64) -> Result<u64, Failure> {
    if id == 0 {
        return Err(Failure::Timeout);
    }
    Ok(id)
}

/// A generic function returning a borrowed value.
#[observe]
pub fn first<'a, T: core::fmt::Debug>(items: &'a [T]) -> Option<&'a T> {
    items.first()
}

/// A unit function.
#[observe(buckets = [0.001, 0.01])]
pub fn tick() {}

fn main() {
    let _ = sync_work(1, "a");
    let _ = async_work(1);
    let _ = first(&[1]);
    tick();
}
