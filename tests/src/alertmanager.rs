//! A real Alertmanager (Debian package `prometheus-alertmanager`) on 127.0.0.1 that
//! delivers every alert at once to a webhook receiver this module runs; both stop when
//! dropped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running Alertmanager and the notifications its webhook received.
#[derive(Debug)]
pub struct Alertmanager {
    child: Child,
    /// Where Prometheus sends alerts.
    pub addr: SocketAddr,
    dir: PathBuf,
    received: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Serves the webhook: every POST body is kept, answered `200`.
fn webhook(listener: &TcpListener, received: &Mutex<Vec<String>>, stop: &AtomicBool) {
    listener.set_nonblocking(true).unwrap();
    while !stop.load(Ordering::Relaxed) {
        let Ok((stream, _)) = listener.accept() else {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        stream.set_nonblocking(false).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut reader = BufReader::new(stream);
        let mut length = 0;
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
            line.clear();
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_ok() {
            received
                .lock()
                .unwrap()
                .push(String::from_utf8_lossy(&body).into_owned());
        }
        let _ = reader
            .get_mut()
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    }
}

impl Alertmanager {
    /// Starts Alertmanager with one route to the webhook (no grouping delay) and waits
    /// until it is ready.
    pub fn start() -> Self {
        let hook = TcpListener::bind("127.0.0.1:0").unwrap();
        let hook_addr = hook.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        {
            let (received, stop) = (Arc::clone(&received), Arc::clone(&stop));
            std::thread::spawn(move || webhook(&hook, &received, &stop));
        }
        let dir = std::env::temp_dir().join(format!(
            "obs-alertmanager-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let config = format!(
            "route:\n  receiver: hook\n  group_by: ['alertname', 'slo']\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\n\
             receivers:\n  - name: hook\n    webhook_configs:\n      - url: 'http://{hook_addr}/alerts'\n        send_resolved: false\n"
        );
        std::fs::write(dir.join("alertmanager.yml"), config).unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let log = std::fs::File::create(dir.join("alertmanager.log")).unwrap();
        let child = Command::new("prometheus-alertmanager")
            .arg(format!(
                "--config.file={}",
                dir.join("alertmanager.yml").display()
            ))
            .arg(format!("--storage.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start alertmanager (Debian package `prometheus-alertmanager`; scripts/test installs it)");
        let mut am = Self {
            child,
            addr,
            dir,
            received,
            stop,
        };
        let dir = am.dir.clone();
        crate::wait_ready("alertmanager", &mut am.child, addr, || {
            std::fs::read_to_string(dir.join("alertmanager.log")).unwrap_or_default()
        });
        am
    }

    /// Alertmanager's own log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("alertmanager.log")).unwrap_or_default()
    }

    /// Waits until a notification containing every one of `needles` arrives; returns it.
    pub fn wait_for(&self, needles: &[&str], timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(body) = self
                .received
                .lock()
                .unwrap()
                .iter()
                .find(|b| needles.iter().all(|n| b.contains(n)))
            {
                return Some(body.clone());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        None
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
