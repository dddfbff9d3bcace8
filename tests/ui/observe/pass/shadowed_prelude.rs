//! The expansion names everything by absolute path.
#![no_implicit_prelude]

extern crate core as real_core;
extern crate obs_runtime as real_obs;

#[allow(dead_code)]
mod obs_runtime {}
#[allow(dead_code)]
mod std {}
#[allow(dead_code)]
enum Result { Ok, Err }
#[allow(dead_code)]
enum Option { Some, None }
#[allow(dead_code)]
struct Ok;

#[real_obs::observe(crate = real_obs)]
fn work(n: u8) -> real_core::result::Result<u8, u8> {
    if n == 0 { real_core::result::Result::Err(n) } else { real_core::result::Result::Ok(n) }
}

fn main() {
    let _ = work(1);
}
