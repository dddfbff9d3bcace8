//! TLS for OTLP over `https://` (feature `otlp-tls`): rustls with the Mozilla roots, or the
//! CA of `OTEL_EXPORTER_OTLP_CERTIFICATE`, and a client certificate for mTLS.

#[cfg(feature = "otlp-tls")]
use std::sync::Arc;

#[cfg(feature = "otlp-tls")]
use super::ExportError;

/// The TLS material of an OTLP exporter, as PEM (the contents of the files the
/// `OTEL_EXPORTER_OTLP_CERTIFICATE`, `…_CLIENT_CERTIFICATE` and `…_CLIENT_KEY` variables
/// name).
///
/// ```
/// let tls = obs_runtime::trace::TlsConfig::default();
/// assert!(tls.ca_pem.is_none());
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TlsConfig {
    /// Certificates that sign the collector's certificate, replacing the Mozilla roots.
    pub ca_pem: Option<Vec<u8>>,
    /// The client's certificate chain, for mTLS.
    pub client_cert_pem: Option<Vec<u8>>,
    /// The client's private key, for mTLS.
    pub client_key_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig")
            .field("ca_pem", &self.ca_pem.as_ref().map(Vec::len))
            .field(
                "client_cert_pem",
                &self.client_cert_pem.as_ref().map(Vec::len),
            )
            .field(
                "client_key_pem",
                &self.client_key_pem.as_ref().map(|_| "[REDACTED]"),
            )
            .finish()
    }
}

#[cfg(feature = "otlp-tls")]
impl TlsConfig {
    /// The rustls client configuration: roots, and the client certificate when both parts
    /// are given.
    pub(crate) fn client_config(&self) -> Result<rustls::ClientConfig, ExportError> {
        use rustls::pki_types::pem::PemObject as _;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};

        let mut roots = rustls::RootCertStore::empty();
        match &self.ca_pem {
            Some(pem) => {
                for cert in CertificateDer::pem_slice_iter(pem) {
                    let cert = cert.map_err(|e| {
                        ExportError::with_source("OTEL_EXPORTER_OTLP_CERTIFICATE is not PEM", e)
                    })?;
                    roots.add(cert).map_err(|e| {
                        ExportError::with_source(
                            "OTEL_EXPORTER_OTLP_CERTIFICATE holds an unusable certificate",
                            e,
                        )
                    })?;
                }
                if roots.is_empty() {
                    return Err(ExportError::new(
                        "OTEL_EXPORTER_OTLP_CERTIFICATE holds no certificate",
                    ));
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ExportError::with_source("cannot set up TLS", e))?
            .with_root_certificates(roots);
        match (&self.client_cert_pem, &self.client_key_pem) {
            (Some(cert), Some(key)) => {
                let chain = CertificateDer::pem_slice_iter(cert)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| {
                        ExportError::with_source(
                            "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE is not PEM",
                            e,
                        )
                    })?;
                // The key's parse error could quote key material: not passed on.
                let key = PrivateKeyDer::from_pem_slice(key).map_err(|_| {
                    ExportError::new("OTEL_EXPORTER_OTLP_CLIENT_KEY is not a PEM private key")
                })?;
                builder.with_client_auth_cert(chain, key).map_err(|e| {
                    ExportError::with_source("the client certificate and key do not match", e)
                })
            }
            (None, None) => Ok(builder.with_no_client_auth()),
            _ => Err(ExportError::new(
                "mTLS needs both OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and OTEL_EXPORTER_OTLP_CLIENT_KEY",
            )),
        }
    }
}
