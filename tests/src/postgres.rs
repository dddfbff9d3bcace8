//! A PostgreSQL server for a test (Debian package `postgresql`): a fresh cluster in a
//! temporary directory, listening on 127.0.0.1, stopped and removed when dropped. Run as
//! the `postgres` user when the test runs as root (the server refuses root).

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running (or stopped, for a restart) server.
#[derive(Debug)]
pub struct Postgres {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

/// The newest `bin` directory of the installed server versions.
fn bin_dir() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect(
            "PostgreSQL is not installed (Debian package `postgresql`; scripts/test installs it)",
        )
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().expect("no PostgreSQL server binaries").1
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `program` run as the `postgres` user when we are root (`setpriv` execs it, so the child
/// is the server itself, which signals reach directly).
fn command(program: &Path) -> Command {
    if running_as_root() {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=postgres",
            "--regid=postgres",
            "--init-groups",
            "--reset-env",
        ])
        .arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// A port nothing listens on right now (the server retries another if it was taken in
/// between).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a loopback port")
}

impl Postgres {
    /// Initialises a cluster (user `obs`, trust authentication on loopback) and starts it.
    pub fn start() -> Self {
        let bin = bin_dir();
        let dir =
            std::env::temp_dir().join(format!("obs-pg-{}-{}", std::process::id(), free_port()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the cluster's directory");
        if running_as_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir)
                .status()
                .expect("chown");
            assert!(status.success(), "chown the cluster's directory");
        }
        let out = command(&bin.join("initdb"))
            .arg("-D")
            .arg(dir.join("data"))
            .args(["-U", "obs", "--auth=trust", "-E", "UTF8", "--no-sync"])
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut server = Self {
            bin,
            dir,
            port: 0,
            child: None,
        };
        server.run(None);
        server
    }

    /// Starts the server on `port`, or on a free port (another one if that was taken
    /// meanwhile); returns once it accepts connections.
    fn run(&mut self, pinned: Option<u16>) {
        for _attempt in 0..5 {
            let port = pinned.unwrap_or_else(free_port);
            let mut child = command(&self.bin.join("postgres"))
                .arg("-D")
                .arg(self.dir.join("data"))
                .arg("-p")
                .arg(port.to_string())
                .arg("-k")
                .arg(&self.dir)
                .args([
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "fsync=off",
                    "-c",
                    "max_connections=40",
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start postgres");
            let stderr = child.stderr.take().unwrap();
            // Its log, line by line, until it is ready (or exits): an event, not a sleep.
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    let ready = line.contains("ready to accept connections");
                    if tx.send((ready, line)).is_err() {
                        return;
                    }
                }
            });
            let mut log = String::new();
            let ready = loop {
                match rx.recv_timeout(Duration::from_secs(30)) {
                    Ok((true, _)) => break true,
                    Ok((false, line)) => {
                        log.push_str(&line);
                        log.push('\n');
                    }
                    Err(_) => break false,
                }
            };
            if ready {
                self.port = port;
                self.child = Some(child);
                return;
            }
            let _ = child.kill();
            let _ = child.wait();
            // A port taken between choosing and binding it: another one, unless pinned.
            let taken = log.contains("could not bind") || log.contains("in use");
            assert!(
                taken && pinned.is_none(),
                "postgres did not start on port {port}:\n{log}"
            );
        }
        panic!("postgres did not start in five attempts");
    }

    /// The connection URL (database `postgres`, user `obs`).
    pub fn url(&self) -> String {
        format!("postgres://obs@127.0.0.1:{}/postgres", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server (fast shutdown: connections are closed).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, with the same data.
    pub fn restart(&mut self) {
        self.stop();
        let port = self.port;
        self.run(Some(port));
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
