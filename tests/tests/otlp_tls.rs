//! OTLP over `https://` (feature `otlp-tls`) to a receiver on 127.0.0.1 serving TLS with
//! certificates this test makes: spans arrive with the test's CA in
//! `OTEL_EXPORTER_OTLP_CERTIFICATE`, and with a client certificate when the receiver wants
//! mTLS; a wrong CA is a counted export error that returns within the timeout.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use obs_tests::otlp::Receiver;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

/// A CA, and a certificate for `names` signed by it: (CA PEM, cert PEM, key PEM).
fn issue(names: &[&str]) -> (String, String, String) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).unwrap();
    let cert = params.signed_by(&key, &ca).unwrap();
    (ca.pem(), cert.pem(), key.serialize_pem())
}

/// Files in a directory removed on drop.
struct Files(PathBuf);

impl Files {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("obs-tls-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn write(&self, name: &str, text: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Builds the runtime for `vars`, records one span `name` through it, flushes, and returns
/// the pipeline's counts and how long the flush took.
fn export_one(
    vars: &[(&str, String)],
    name: &'static str,
) -> (obs_runtime::trace::PipelineStats, Duration) {
    let mut env: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    env.push(("OBS_METRICS_ADDR".into(), "off".into()));
    env.push(("OTEL_EXPORTER_OTLP_TIMEOUT".into(), "2000".into()));
    let telemetry = obs_runtime::init()
        .env(env)
        .logs(false)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    obs_runtime::tracing::dispatcher::with_default(&telemetry.dispatch, || {
        let _span = obs_runtime::tracing::info_span!("tls.export", otel.name = name).entered();
    });
    let pipeline = telemetry.guard.pipeline().unwrap();
    let start = Instant::now();
    pipeline.force_flush(Duration::from_secs(10));
    (pipeline.stats(), start.elapsed())
}

fn path_of(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn spans_arrive_over_tls_and_a_wrong_ca_is_a_counted_error() {
    let files = Files::new("plain");
    let (ca, cert, key) = issue(&["localhost"]);
    let receiver = Receiver::https(&cert, &key, None);
    let ca_path = files.write("ca.pem", &ca);

    let (stats, _) = export_one(
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.https_endpoint()),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", ca_path),
        ],
        "over-tls",
    );
    assert_eq!((stats.exported, stats.export_errors), (1, 0), "{stats:?}");
    let spans = receiver.wait_for(1, Duration::from_secs(5));
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].span.name, "over-tls");
    assert_eq!(receiver.handshake_failures(), 0);

    // Another CA: the handshake fails, the batch is counted as failed, within the timeout.
    let (other_ca, _, _) = issue(&["localhost"]);
    let wrong = files.write("wrong-ca.pem", &other_ca);
    let (stats, took) = export_one(
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.https_endpoint()),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", wrong),
        ],
        "untrusted",
    );
    assert_eq!(
        (stats.exported, stats.export_errors, stats.export_failed),
        (0, 1, 1),
        "{stats:?}"
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(receiver.spans().len(), 1, "nothing more arrived");
    assert!(receiver.handshake_failures() >= 1);

    // A CA file that is not PEM, or missing: an error at init that names the variable.
    let garbage = files.write("garbage.pem", "not a certificate");
    let error = obs_runtime::init()
        .env([
            ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.https_endpoint()),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", garbage),
            ("OBS_METRICS_ADDR", "off".to_owned()),
        ])
        .build()
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("OTEL_EXPORTER_OTLP_CERTIFICATE holds no certificate"),
        "{error}"
    );
    let missing = path_of(&files.0.join("absent.pem"));
    let error = obs_runtime::init()
        .env([
            ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.https_endpoint()),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", missing),
            ("OBS_METRICS_ADDR", "off".to_owned()),
        ])
        .build()
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("invalid OTEL_EXPORTER_OTLP_CERTIFICATE="),
        "{error}"
    );
}

#[test]
fn spans_arrive_over_grpc_with_tls() {
    let files = Files::new("grpc");
    let (ca, cert, key) = issue(&["localhost"]);
    let receiver = Receiver::grpc_tls(&cert, &key);
    let (stats, _) = export_one(
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.https_endpoint()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".to_owned()),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", files.write("ca.pem", &ca)),
        ],
        "over-grpc-tls",
    );
    assert_eq!((stats.exported, stats.export_errors), (1, 0), "{stats:?}");
    let spans = receiver.wait_for(1, Duration::from_secs(5));
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].span.name, "over-grpc-tls");
    // Another CA: a counted error, not a hang.
    let (other_ca, _, _) = issue(&["localhost"]);
    let (stats, took) = export_one(
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.https_endpoint()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".to_owned()),
            (
                "OTEL_EXPORTER_OTLP_CERTIFICATE",
                files.write("other.pem", &other_ca),
            ),
        ],
        "untrusted-grpc",
    );
    assert_eq!((stats.exported, stats.export_errors), (0, 1), "{stats:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(receiver.spans().len(), 1);
}

#[test]
fn mutual_tls_needs_the_client_certificate() {
    let files = Files::new("mtls");
    let (ca, cert, key) = issue(&["localhost"]);
    let (client_ca, client_cert, client_key) = issue(&["obs-client"]);
    let receiver = Receiver::https(&cert, &key, Some(&client_ca));
    let ca_path = files.write("ca.pem", &ca);
    let base = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.https_endpoint()),
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", ca_path),
    ];

    let (stats, took) = export_one(&base, "no-client-cert");
    assert_eq!((stats.exported, stats.export_errors), (0, 1), "{stats:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");

    let mut with_cert = base.to_vec();
    with_cert.push((
        "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
        files.write("client.pem", &client_cert),
    ));
    with_cert.push((
        "OTEL_EXPORTER_OTLP_CLIENT_KEY",
        files.write("client.key", &client_key),
    ));
    let (stats, _) = export_one(&with_cert, "with-client-cert");
    assert_eq!((stats.exported, stats.export_errors), (1, 0), "{stats:?}");
    let spans = receiver.wait_for(1, Duration::from_secs(5));
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].span.name, "with-client-cert");
}
