//! TLS for PostgreSQL connections, over rustls (which the webhooks' HTTP client already builds).
//!
//! The URL's `sslmode` (libpq's names) says what is required:
//! - `disable`: plain.
//! - `prefer` (the default; `allow` is taken as it): TLS when the server offers it, plain
//!   otherwise. The certificate is checked only against an `sslrootcert` given: since a
//!   server without TLS is accepted in plain anyway, checking would protect nothing, and it
//!   would refuse the self-signed certificates local servers come with (as libpq does).
//! - `require` and `verify-full`: TLS or fail, the certificate signed by a trusted CA and
//!   issued for the URL's host. Stricter than libpq's `require` (which checks nothing): a URL
//!   that carries a password should not send it to whoever answers.
//! - `verify-ca`: as `require`, but the host name is not checked.
//!
//! Trusted CAs: the system's (as the webhooks' client trusts them), or only the one(s) in the
//! file `sslrootcert=/path/ca.pem` names. The postgres crate knows neither `sslrootcert` nor
//! the `verify-*` modes, so both are taken out of the URL before it parses it.
//!
//! Channel binding (SCRAM-SHA-256-PLUS) is not offered: plain SCRAM-SHA-256 is used, which
//! every server accepts unless told `channel_binding=require`.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::redact;
use crate::error::StoreError;

/// What the URL's `sslmode` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// A URL taken apart: what the postgres crate parses, and the TLS settings it does not know.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Split {
    /// The URL without `sslmode` and `sslrootcert`.
    pub(crate) rest: String,
    pub(crate) mode: Mode,
    pub(crate) rootcert: Option<String>,
}

/// Takes `sslmode` and `sslrootcert` out of `url`'s query.
pub(crate) fn split(url: &str) -> Result<Split, StoreError> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let (mut mode, mut rootcert, mut kept) = (Mode::Prefer, None, Vec::new());
    for part in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = part.split_once('=').unwrap_or((part, ""));
        let value = percent_encoding::percent_decode_str(value).decode_utf8_lossy();
        match key {
            "sslmode" => {
                mode = match &*value {
                    "disable" => Mode::Disable,
                    "allow" | "prefer" => Mode::Prefer,
                    "require" => Mode::Require,
                    "verify-ca" => Mode::VerifyCa,
                    "verify-full" => Mode::VerifyFull,
                    other => {
                        return Err(StoreError::Open(format!(
                            "{}: sslmode={other} is not one of disable, prefer, require, \
                             verify-ca, verify-full",
                            redact(url)
                        )));
                    }
                }
            }
            "sslrootcert" => rootcert = Some(value.into_owned()),
            _ => kept.push(part),
        }
    }
    let rest = if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) };
    Ok(Split { rest, mode, rootcert })
}

/// The postgres crate's settings for `url`, and the TLS connector to connect with.
pub(crate) fn config(url: &str) -> Result<(postgres::Config, Tls), StoreError> {
    let split = split(url)?;
    let mut config: postgres::Config = split.rest.parse().map_err(|e| {
        StoreError::Open(format!(
            "{} is not a valid PostgreSQL URL ({e}); write it as \
             postgres://user:password@host:5432/dbname",
            redact(url)
        ))
    })?;
    config.ssl_mode(match split.mode {
        Mode::Disable => postgres::config::SslMode::Disable,
        Mode::Prefer => postgres::config::SslMode::Prefer,
        Mode::Require | Mode::VerifyCa | Mode::VerifyFull => postgres::config::SslMode::Require,
    });
    let tls = match split.mode {
        Mode::Disable => Tls { client: None },
        mode => Tls { client: Some(Arc::new(client(mode, split.rootcert.as_deref())?)) },
    };
    Ok((config, tls))
}

/// rustls' settings for `mode`, trusting the CAs in `rootcert` or else the system's.
fn client(mode: Mode, rootcert: Option<&str>) -> Result<rustls::ClientConfig, StoreError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let trusted = match rootcert {
        Some(path) => Trusted::File(path.to_owned()),
        None => Trusted::System,
    };
    let checks = match (mode, rootcert) {
        (Mode::Prefer, None) => None,
        (Mode::VerifyCa, _) => Some(false),
        _ => Some(true),
    };
    let inner: Option<Arc<dyn ServerCertVerifier>> = match (checks, &trusted) {
        (None, _) => None,
        (Some(_), Trusted::System) => Some(Arc::new(
            rustls_platform_verifier::Verifier::new(provider.clone()).map_err(|e| {
                StoreError::Open(format!(
                    "cannot load this system's CA certificates to check the database server's \
                     ({e}); install them (the ca-certificates package), or give \
                     sslrootcert=/path/to/ca.pem in the URL"
                ))
            })?,
        )),
        (Some(_), Trusted::File(path)) => Some(file_verifier(path, provider.clone())?),
    };
    let verifier = Checker {
        inner,
        names: checks.unwrap_or(false),
        trusted,
        algorithms: provider.signature_verification_algorithms,
    };
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Open(format!("cannot set up TLS: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    // PostgreSQL 17's direct TLS negotiation (sslnegotiation=direct) requires this protocol
    // name; with the usual negotiation the server ignores it.
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(config)
}

/// A verifier trusting only the certificates in the PEM file at `path`.
fn file_verifier(
    path: &str,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<dyn ServerCertVerifier>, StoreError> {
    let unreadable = |e: &dyn std::fmt::Display| {
        StoreError::Open(format!("cannot read the CA certificates in sslrootcert={path}: {e}"))
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| unreadable(&e))? {
        roots.add(cert.map_err(|e| unreadable(&e))?).map_err(|e| unreadable(&e))?;
    }
    if roots.is_empty() {
        return Err(unreadable(&"the file holds no PEM certificate"));
    }
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| unreadable(&e))?;
    Ok(verifier)
}

/// Where the trusted CAs come from, for the messages.
#[derive(Debug)]
enum Trusted {
    System,
    File(String),
}

/// Checks the server's certificate as the mode says (`inner` absent: not at all; `names`:
/// also the host name), while the handshake's signatures are always checked.
#[derive(Debug)]
struct Checker {
    inner: Option<Arc<dyn ServerCertVerifier>>,
    names: bool,
    trusted: Trusted,
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Checker {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(inner) = &self.inner else { return Ok(ServerCertVerified::assertion()) };
        match inner.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            // webpki checks the name only after the chain, so the chain is good here.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.names => Ok(ServerCertVerified::assertion()),
            Err(rustls::Error::InvalidCertificate(e)) => {
                Err(rustls::Error::General(self.explain(&e, server_name)))
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

impl Checker {
    /// What is wrong with the server's certificate, and what to do about it.
    fn explain(&self, e: &CertificateError, name: &ServerName<'_>) -> String {
        let by = match &self.trusted {
            Trusted::System => "a CA this system trusts".to_owned(),
            Trusted::File(path) => format!("the CA in sslrootcert={path}"),
        };
        let name = name.to_str();
        match e {
            CertificateError::UnknownIssuer | CertificateError::BadSignature => format!(
                "the database server's certificate is not signed by {by}; give \
                 sslrootcert=/path/to/ca.pem (the CA that signed it) in the URL, or \
                 sslmode=disable on a private network"
            ),
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!(
                    "the database server's certificate is not issued for the host name {name}; \
                     name the host as the certificate does (hostaddr=IP can still say where to \
                     connect), or use sslmode=verify-ca to check only who signed it"
                )
            }
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => format!(
                "the database server's certificate is out of its validity dates ({e:?}); renew \
                 it on the server, or check this machine's clock"
            ),
            other => format!(
                "the database server's certificate was refused ({other:?}); give \
                 sslrootcert=/path/to/ca.pem in the URL if it comes from a private CA, or \
                 sslmode=disable on a private network"
            ),
        }
    }
}

/// Why TLS failed, already worded for the person reading it (see [`Checker::explain`]).
#[derive(Debug)]
pub(crate) struct Refused(pub(crate) String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// The connector the postgres crate is given; `client` is absent with `sslmode=disable`,
/// where the crate never asks for TLS.
#[derive(Clone)]
pub(crate) struct Tls {
    client: Option<Arc<rustls::ClientConfig>>,
}

/// One connection's TLS setup, for the host the URL names.
pub(crate) struct Connect {
    client: Option<Arc<rustls::ClientConfig>>,
    host: Result<ServerName<'static>, String>,
}

impl<S> MakeTlsConnect<S> for Tls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = Stream<S>;
    type TlsConnect = Connect;
    type Error = Refused;

    fn make_tls_connect(&mut self, host: &str) -> Result<Connect, Refused> {
        let host = ServerName::try_from(host.to_owned()).map_err(|_| host.to_owned());
        Ok(Connect { client: self.client.clone(), host })
    }
}

impl<S> TlsConnect<S> for Connect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = Stream<S>;
    type Error = Refused;
    type Future = Pin<Box<dyn Future<Output = Result<Stream<S>, Refused>> + Send>>;

    fn connect(self, socket: S) -> Self::Future {
        Box::pin(async move {
            let client =
                self.client.ok_or_else(|| Refused("TLS is off (sslmode=disable)".into()))?;
            let host = self.host.map_err(|host| {
                Refused(format!("{host} is not a host name TLS can check a certificate against"))
            })?;
            let stream = tokio_rustls::TlsConnector::from(client)
                .connect(host, socket)
                .await
                .map_err(|e| Refused(handshake_failure(&e)))?;
            Ok(Stream(stream))
        })
    }
}

/// The words for a failed handshake: the checker's own when it refused the certificate.
fn handshake_failure(e: &io::Error) -> String {
    match e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
        Some(rustls::Error::General(explained)) => explained.clone(),
        Some(other) => format!("the TLS handshake with the database server failed: {other}"),
        None => format!("the TLS handshake with the database server failed: {e}"),
    }
}

/// An encrypted connection.
pub(crate) struct Stream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Stream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Stream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for Stream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

#[cfg(test)]
mod tests;
