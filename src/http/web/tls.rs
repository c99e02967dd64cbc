//! The rustls server configuration a [`TlsSettings`] asks for: certificate chain and
//! key, client-certificate policy, versions, cipher suites and key-exchange groups.
//! Built again from the files whenever they change (`reload`).

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, aws_lc_rs};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ServerConfig, WebPkiClientVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, Error, RootCertStore,
    SignatureScheme, SupportedCipherSuite, SupportedProtocolVersion,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use x509_parser::extensions::GeneralName;

use super::config::{ClientAuth, Pem, TlsSettings, TlsVersion};
use crate::regular_file;

/// A server configuration, and when its certificate expires.
pub struct Loaded {
    pub config: Arc<ServerConfig>,
    /// The leaf certificate's notAfter, in Unix seconds.
    pub not_after: i64,
}

/// Reads the certificate, key and client CA and builds the configuration; every
/// error names the file (or inline key) it is about.
pub fn server_config(settings: &TlsSettings) -> Result<Loaded, String> {
    let chain = certificates(&settings.cert, "cert")?;
    let key_text = read(&settings.key, "key")?;
    let key = PrivateKeyDer::from_pem_slice(&key_text)
        .map_err(|error| format!("{}: no private key: {error}", shown(&settings.key, "key")))?;
    let not_after = x509_parser::parse_x509_certificate(&chain[0])
        .map(|(_, cert)| cert.validity().not_after.timestamp())
        .map_err(|error| format!("{}: {error}", shown(&settings.cert, "cert")))?;
    let provider = Arc::new(provider(settings)?);
    let versions: Vec<&'static SupportedProtocolVersion> = [
        (TlsVersion::Tls12, &rustls::version::TLS12),
        (TlsVersion::Tls13, &rustls::version::TLS13),
    ]
    .into_iter()
    .filter(|(version, _)| (settings.min_version..=settings.max_version).contains(version))
    .map(|(_, supported)| supported)
    .collect();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|error| format!("tls_server_config: {error}"))?;
    let builder = match client_verifier(settings, &provider)? {
        Some(verifier) => builder.with_client_cert_verifier(verifier),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(chain, key).map_err(|error| {
        format!(
            "{} and {} do not make a usable pair: {error}",
            shown(&settings.cert, "cert"),
            shown(&settings.key, "key")
        )
    })?;
    config.ignore_client_order = settings.prefer_server_cipher_suites;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Loaded {
        config: Arc::new(config),
        not_after,
    })
}

fn shown(pem: &Pem, key: &str) -> String {
    match pem {
        Pem::File(path) => format!("{key}_file {}", path.display()),
        Pem::Inline(_) => format!("inline {key}"),
    }
}

/// A certificate chain, key or client CA bundle at most.
const MAX_PEM_BYTES: u64 = 1024 * 1024;

fn read(pem: &Pem, key: &str) -> Result<Vec<u8>, String> {
    match pem {
        Pem::Inline(text) => Ok(text.as_bytes().to_vec()),
        Pem::File(path) => regular_file::read(path, MAX_PEM_BYTES)
            .map_err(|error| format!("{}: {error}", shown(pem, key))),
    }
}

fn certificates(pem: &Pem, key: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let text = read(pem, key)?;
    let chain = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| format!("{}: {error}", shown(pem, key)))?;
    if chain.is_empty() {
        return Err(format!("{}: no PEM certificate in it", shown(pem, key)));
    }
    Ok(chain)
}

/// aws-lc-rs, with the suites and groups the settings name, in their order.
fn provider(settings: &TlsSettings) -> Result<CryptoProvider, String> {
    let mut provider = aws_lc_rs::default_provider();
    if let Some(names) = &settings.cipher_suites {
        let by_name = |name: &String| {
            provider
                .cipher_suites
                .iter()
                .find(|suite| format!("{:?}", suite.suite()) == *name)
                .copied()
                .ok_or_else(|| format!("tls_server_config.cipher_suites: {name} is not available"))
        };
        let tls12 = names.iter().map(by_name).collect::<Result<Vec<_>, _>>()?;
        let tls13 = provider
            .cipher_suites
            .iter()
            .filter(|suite| matches!(suite, SupportedCipherSuite::Tls13(_)))
            .copied();
        provider.cipher_suites = tls13.chain(tls12).collect();
    }
    if let Some(names) = &settings.curves {
        provider.kx_groups = names
            .iter()
            .map(|name| {
                aws_lc_rs::ALL_KX_GROUPS
                    .iter()
                    .find(|group| format!("{:?}", group.name()) == *name)
                    .copied()
                    .ok_or_else(|| {
                        format!("tls_server_config.curve_preferences: {name} is not available")
                    })
            })
            .collect::<Result<_, _>>()?;
    }
    Ok(provider)
}

fn client_verifier(
    settings: &TlsSettings,
    provider: &Arc<CryptoProvider>,
) -> Result<Option<Arc<dyn ClientCertVerifier>>, String> {
    let roots = || -> Result<Arc<RootCertStore>, String> {
        let Some(ca) = &settings.client_ca else {
            return Ok(Arc::new(RootCertStore::empty()));
        };
        let mut roots = RootCertStore::empty();
        for cert in certificates(ca, "client_ca")? {
            roots
                .add(cert)
                .map_err(|error| format!("{}: {error}", shown(ca, "client_ca")))?;
        }
        Ok(Arc::new(roots))
    };
    let webpki = |optional: bool| {
        let builder = WebPkiClientVerifier::builder_with_provider(roots()?, provider.clone());
        let builder = if optional {
            builder.allow_unauthenticated()
        } else {
            builder
        };
        builder
            .build()
            .map_err(|error| format!("tls_server_config.client_ca: {error}"))
    };
    let verifier: Arc<dyn ClientCertVerifier> = match settings.client_auth {
        ClientAuth::NoClientCert => return Ok(None),
        ClientAuth::RequestClientCert | ClientAuth::RequireAnyClientCert => {
            Arc::new(AnyCertificate {
                mandatory: settings.client_auth == ClientAuth::RequireAnyClientCert,
                provider: provider.clone(),
            })
        }
        ClientAuth::VerifyClientCertIfGiven => webpki(true)?,
        ClientAuth::RequireAndVerifyClientCert => webpki(false)?,
    };
    Ok(Some(if settings.allowed_sans.is_empty() {
        verifier
    } else {
        Arc::new(AllowedSans {
            inner: verifier,
            sans: settings.allowed_sans.clone(),
        })
    }))
}

/// `RequestClientCert` / `RequireAnyClientCert`: any certificate will do (Go's
/// semantics, which the toolkit calls insecure); the handshake signature is still
/// checked, so the client holds the certificate's key.
#[derive(Debug)]
struct AnyCertificate {
    mandatory: bool,
    provider: Arc<CryptoProvider>,
}

impl ClientCertVerifier for AnyCertificate {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// `client_allowed_sans`: after the inner verifier accepts the certificate, one of its
/// DNS, IP, e-mail or URI subject alternative names must equal an allowed entry.
#[derive(Debug)]
struct AllowedSans {
    inner: Arc<dyn ClientCertVerifier>,
    sans: Vec<String>,
}

impl AllowedSans {
    fn allows(&self, der: &[u8]) -> bool {
        let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
            return false;
        };
        let Ok(Some(names)) = cert.subject_alternative_name() else {
            return false;
        };
        names.value.general_names.iter().any(|name| match name {
            GeneralName::DNSName(text) | GeneralName::RFC822Name(text) | GeneralName::URI(text) => {
                self.sans.iter().any(|allowed| allowed == text)
            }
            GeneralName::IPAddress(bytes) => {
                let ip = match bytes.len() {
                    4 => <[u8; 4]>::try_from(*bytes).map(std::net::IpAddr::from).ok(),
                    16 => <[u8; 16]>::try_from(*bytes)
                        .map(std::net::IpAddr::from)
                        .ok(),
                    _ => None,
                };
                ip.is_some_and(|ip| {
                    self.sans
                        .iter()
                        .any(|allowed| allowed.parse::<std::net::IpAddr>().is_ok_and(|a| a == ip))
                })
            }
            _ => false,
        })
    }
}

impl ClientCertVerifier for AllowedSans {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        if self.allows(end_entity) {
            Ok(verified)
        } else {
            Err(Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::web::config::{TLS12_SUITES, WebConfig};

    fn settings(extra: &str) -> (TlsSettings, rcgen::CertifiedKey<rcgen::KeyPair>) {
        let pair = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let text = format!(
            "tls_server_config:\n  cert: |\n{}\n  key: |\n{}\n{extra}",
            indent(&pair.cert.pem()),
            indent(&pair.signing_key.serialize_pem())
        );
        let config = WebConfig::parse(&text, std::path::Path::new("web.yml")).unwrap();
        (config.tls.unwrap(), pair)
    }

    fn indent(pem: &str) -> String {
        pem.lines()
            .map(|l| format!("    {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn every_suite_and_curve_the_config_accepts_is_one_rustls_has() {
        let curves = "[X25519, CurveP256, CurveP384, X25519MLKEM768]";
        let (settings, _) = settings(&format!(
            "  cipher_suites: [{}]\n  curve_preferences: {curves}\n",
            TLS12_SUITES.join(", ")
        ));
        let loaded = server_config(&settings).unwrap();
        let provider = loaded.config.crypto_provider();
        let tls12 = provider
            .cipher_suites
            .iter()
            .filter(|s| matches!(s, SupportedCipherSuite::Tls12(_)))
            .count();
        assert_eq!(tls12, TLS12_SUITES.len());
        assert_eq!(provider.kx_groups.len(), 4);
    }

    #[test]
    fn the_configured_suite_order_and_versions_are_kept() {
        let (settings, _) = settings(
            "  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]\n  max_version: TLS12\n",
        );
        let loaded = server_config(&settings).unwrap();
        let names: Vec<String> = loaded
            .config
            .crypto_provider()
            .cipher_suites
            .iter()
            .filter(|s| matches!(s, SupportedCipherSuite::Tls12(_)))
            .map(|s| format!("{:?}", s.suite()))
            .collect();
        assert_eq!(
            names,
            [
                "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
            ]
        );
        assert!(loaded.config.ignore_client_order);
    }

    #[test]
    fn the_expiry_is_the_certificates_not_after() {
        let (settings, pair) = settings("");
        let loaded = server_config(&settings).unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(pair.cert.der()).unwrap();
        assert_eq!(loaded.not_after, cert.validity().not_after.timestamp());
    }

    #[test]
    fn a_key_from_another_pair_or_a_file_without_a_certificate_is_refused() {
        let (mut settings, _) = settings("");
        let other = rcgen::KeyPair::generate().unwrap();
        settings.key = Pem::Inline(other.serialize_pem());
        let error = server_config(&settings).err().unwrap();
        assert!(error.contains("do not make a usable pair"), "{error}");
        settings.cert = Pem::Inline("no PEM here".to_owned());
        let error = server_config(&settings).err().unwrap();
        assert!(error.contains("inline cert: no PEM certificate"), "{error}");
        settings.cert = Pem::File("/nonexistent/tls.crt".into());
        let error = server_config(&settings).err().unwrap();
        assert!(error.contains("cert_file /nonexistent/tls.crt"), "{error}");
    }
}
