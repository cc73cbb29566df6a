//! TLS for LDAP connections: rustls with the system roots plus the
//! repository's CA, through a verifier that records the server certificate
//! and the verification outcome so the test can explain them.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::sync::{Arc, Mutex, OnceLock};

/// What the handshake saw.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    pub certificate: Option<Vec<u8>>,
    pub error: Option<rustls::Error>,
}

#[derive(Debug)]
struct RecordingVerifier {
    inner: Option<Arc<WebPkiServerVerifier>>,
    verify: bool,
    provider: Arc<rustls::crypto::CryptoProvider>,
    seen: Arc<Mutex<Observed>>,
}

impl RecordingVerifier {
    fn record(&self, cert: &CertificateDer<'_>, error: Option<rustls::Error>) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.certificate = Some(cert.to_vec());
            seen.error = error;
        }
    }
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let outcome = match &self.inner {
            Some(inner) => inner.verify_server_cert(end_entity, intermediates, server_name, ocsp, now),
            None => Err(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)),
        };
        match outcome {
            Ok(ok) => {
                self.record(end_entity, None);
                Ok(ok)
            }
            Err(e) => {
                self.record(end_entity, Some(e.clone()));
                if self.verify {
                    Err(e)
                } else {
                    Ok(ServerCertVerified::assertion())
                }
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

fn system_roots() -> &'static Vec<CertificateDer<'static>> {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| rustls_native_certs::load_native_certs().certs)
}

/// A client config trusting the system roots and `extra_ca` (DER), and the
/// slot where the handshake's certificate and outcome land.
pub fn client_config(extra_ca: &[Vec<u8>], verify: bool) -> (Arc<ClientConfig>, Arc<Mutex<Observed>>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(system_roots().iter().cloned());
    roots.add_parsable_certificates(extra_ca.iter().map(|der| CertificateDer::from(der.clone())));
    let inner = if roots.is_empty() {
        None
    } else {
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build().ok()
    };
    let seen = Arc::new(Mutex::new(Observed::default()));
    let verifier = RecordingVerifier { inner, verify, provider: provider.clone(), seen: seen.clone() };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|b| b.dangerous().with_custom_certificate_verifier(Arc::new(verifier)).with_no_client_auth());
    let config = match config {
        Ok(c) => c,
        // The ring provider supports the default versions; this cannot fail, but
        // fall back to a config that trusts nothing rather than panic.
        Err(_) => ClientConfig::builder().with_root_certificates(RootCertStore::empty()).with_no_client_auth(),
    };
    (Arc::new(config), seen)
}

/// Subject, issuer and expiry of a DER certificate, for display.
#[derive(Clone, Debug)]
pub struct CertSummary {
    pub subject: String,
    pub issuer: String,
    pub not_after: String,
    pub names: Vec<String>,
}

pub fn summarize(der: &[u8]) -> Option<CertSummary> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let names = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .map(|n| match n {
                    x509_parser::extensions::GeneralName::DNSName(d) => d.to_string(),
                    x509_parser::extensions::GeneralName::IPAddress(ip) => match ip.len() {
                        4 => std::net::Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3]).to_string(),
                        _ => hex::encode(ip),
                    },
                    other => format!("{other:?}"),
                })
                .collect()
        })
        .unwrap_or_default();
    Some(CertSummary {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        not_after: cert.validity().not_after.to_string(),
        names,
    })
}

/// An admin-facing explanation of a certificate verification failure.
pub fn explain(error: &rustls::Error, host: &str, cert: Option<&CertSummary>) -> String {
    let issuer = cert.map(|c| c.issuer.as_str()).unwrap_or("unknown");
    match error {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => format!(
            "the server certificate is signed by a CA that is not trusted (issuer: {issuer}); paste that CA's PEM into \"CA certificate\""
        ),
        rustls::Error::InvalidCertificate(CertificateError::NotValidForName)
        | rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext { .. }) => format!(
            "the server certificate is not valid for '{host}' (it names: {}); connect with one of those names",
            cert.map(|c| c.names.join(", ")).unwrap_or_default()
        ),
        rustls::Error::InvalidCertificate(CertificateError::Expired)
        | rustls::Error::InvalidCertificate(CertificateError::ExpiredContext { .. }) => format!(
            "the server certificate expired on {}",
            cert.map(|c| c.not_after.as_str()).unwrap_or("an earlier date")
        ),
        other => format!("certificate rejected: {other}"),
    }
}
