//! An OTLP/HTTP sink on 127.0.0.1 that acknowledges every request, for the load
//! comparison (`benches/load/compare.sh`): prints `http://ADDR` and serves until its
//! standard input closes.

use std::io::Read as _;

fn main() {
    let addr = obs_benches::otlp_sink();
    println!("http://{addr}");
    // Until the script that started it closes the pipe (or exits).
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}
