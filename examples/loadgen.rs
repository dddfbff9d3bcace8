//! Drives the orders service with a mix of requests and prints what came back.
//!
//! ```text
//! ORDERS_URL=http://127.0.0.1:8000 cargo run -p obs-examples --example loadgen -- 500
//! ```
//!
//! The mix: orders (some above the payment limit, so declined; some invalid), order
//! lookups (some unknown), user lookups (some slow, some unknown), and an unknown route.
//! Eight connections in parallel, one request at a time each.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};

/// Sends one request on a keep-alive connection; returns the status code.
fn send(
    stream: &mut BufReader<TcpStream>,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> std::io::Result<u16> {
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: orders\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.get_mut().write_all(request.as_bytes())?;
    let mut line = String::new();
    stream.read_line(&mut line)?;
    let status = line.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut length = 0usize;
    loop {
        line.clear();
        stream.read_line(&mut line)?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((k, v)) = header.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut discard = vec![0; length];
    stream.read_exact(&mut discard)?;
    Ok(status)
}

/// The `i`-th request of the mix.
fn request(i: u64) -> (&'static str, String, Option<String>) {
    match i % 10 {
        0..=3 => {
            let price = if i % 40 == 3 {
                9000.0
            } else {
                10.0 + f64::from(u32::try_from(i % 90).unwrap_or(0))
            };
            let method = ["card", "paypal", "bank_transfer"][(i % 3) as usize];
            let body = format!(
                r#"{{"user_id":{},"items":[{{"sku":"SKU-{}","quantity":{},"price":{price}}}],"payment_method":"{method}"}}"#,
                i % 100 + 1,
                i % 17,
                i % 3 + 1
            );
            ("POST", "/api/orders".to_owned(), Some(body))
        }
        4 => (
            "POST",
            "/api/orders".to_owned(),
            Some(r#"{"user_id":1,"items":[],"payment_method":"card"}"#.to_owned()),
        ),
        5 | 6 => ("GET", format!("/api/orders/{}", i % 50 + 1), None),
        7 | 8 => ("GET", format!("/api/users/{}", i % 30), None),
        _ => ("GET", "/api/unknown".to_owned(), None),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base = std::env::var("ORDERS_URL").unwrap_or_else(|_| "http://127.0.0.1:8000".to_owned());
    let host = base
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let total: u64 = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(200);
    let counts: Arc<Mutex<BTreeMap<(String, u16), u64>>> = Arc::default();
    let workers: u64 = 8;
    let handles: Vec<_> = (0..workers)
        .map(|w| {
            let host = host.clone();
            let counts = Arc::clone(&counts);
            std::thread::spawn(move || -> std::io::Result<()> {
                let mut stream = BufReader::new(TcpStream::connect(&host)?);
                for i in (w..total).filter(|i| i % workers == w) {
                    let (method, path, body) = request(i);
                    let status = send(&mut stream, method, &path, body.as_deref())?;
                    let route = path
                        .rsplit_once('/')
                        .map_or(path.clone(), |(p, _)| format!("{p}/…"));
                    *counts
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .entry((format!("{method} {route}"), status))
                        .or_default() += 1;
                }
                Ok(())
            })
        })
        .collect();
    for h in handles {
        h.join().map_err(|_| "a worker panicked")??;
    }
    println!("{total} requests to {base}:");
    for ((route, status), n) in counts
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
    {
        println!("  {n:>6}  {status}  {route}");
    }
    Ok(())
}
