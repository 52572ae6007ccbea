//! The SIP flow: a WebSocket with subprotocol `sip` (RFC 7118 §4), over TLS verified against
//! the system trust store plus an optional pinned CA, or a server certificate the user chose
//! to trust by its SHA-256 fingerprint. There is no "accept any certificate".

use crate::config::{AccountConfig, ServerUrl};
use crate::error::{EngineError, ErrorCode};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::{ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long a connection attempt (TCP, TLS and upgrade) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest WebSocket message (and frame) Wren takes: a SIP message is at most this
/// (the parser's limit), so nothing larger is ever buffered; a larger one fails the flow.
pub const MAX_MESSAGE: usize = 64 * 1024;

/// The WebSocket limits of every flow.
pub fn ws_config() -> tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
    tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE))
}

/// Why a flow could not be opened, and whether retrying soon could help (not for a
/// certificate or configuration problem).
#[derive(Debug)]
pub struct ConnectError {
    pub error: EngineError,
    pub retry_slowly: bool,
}

fn soon(error: EngineError) -> ConnectError {
    ConnectError {
        error,
        retry_slowly: false,
    }
}

fn slowly(error: EngineError) -> ConnectError {
    ConnectError {
        error,
        retry_slowly: true,
    }
}

/// An open flow and the local address media should advertise.
pub struct Flow {
    pub ws: Ws,
    pub local_ip: IpAddr,
}

/// A certificate's SHA-256 fingerprint as people compare them: `AB:CD:...` (32 pairs).
pub fn fingerprint(der: &[u8]) -> String {
    let digest = Sha256::digest(der);
    let hex: Vec<String> = digest.iter().map(|b| format!("{b:02X}")).collect();
    hex.join(":")
}

/// Normalises a fingerprint the user pasted (any case, with or without colons).
pub fn normalise_fingerprint(text: &str) -> Option<String> {
    let hex: String = text
        .chars()
        .filter(|c| *c != ':' && !c.is_whitespace())
        .collect();
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let upper = hex.to_ascii_uppercase();
    let pairs: Vec<&str> = (0..32).map(|i| &upper[2 * i..2 * i + 2]).collect();
    Some(pairs.join(":"))
}

/// The platform verifier, except that a server certificate whose fingerprint the user pinned
/// is accepted as it is (trust on the user's word, like an SSH host key); handshake signatures
/// are always checked. Remembers the last certificate it refused, to show its fingerprint.
#[derive(Debug)]
struct Verifier {
    inner: rustls_platform_verifier::Verifier,
    pinned: Option<String>,
    refused: Arc<Mutex<Option<String>>>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let seen = fingerprint(end_entity);
        if self.pinned.as_deref() == Some(seen.as_str()) {
            return Ok(ServerCertVerified::assertion());
        }
        let verdict = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        if verdict.is_err() {
            *self
                .refused
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(seen);
        }
        verdict
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Builds the TLS client configuration: platform verifier plus the pinned CA if any, also
/// accepting the server certificate with fingerprint `pinned`; a refused server
/// certificate's fingerprint lands in `refused`.
pub fn tls_config(
    ca_file: Option<&std::path::Path>,
    pinned: Option<&str>,
    refused: Arc<Mutex<Option<String>>>,
) -> Result<rustls::ClientConfig, EngineError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut extra = Vec::new();
    if let Some(path) = ca_file {
        let bad = |why: String| EngineError::new(ErrorCode::ConfigInvalidCa, why);
        for cert in CertificateDer::pem_file_iter(path)
            .map_err(|e| bad(format!("can't read CA file {}: {e}", path.display())))?
        {
            extra.push(cert.map_err(|e| bad(format!("bad PEM in {}: {e}", path.display())))?);
        }
        if extra.is_empty() {
            return Err(bad(format!("no certificate in {}", path.display())));
        }
    }
    let inner = rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider.clone())
        .map_err(|e| EngineError::new(ErrorCode::TlsSetupFailed, e.to_string()))?;
    let verifier = Verifier {
        inner,
        pinned: pinned.and_then(normalise_fingerprint),
        refused,
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| EngineError::new(ErrorCode::TlsSetupFailed, e.to_string()))?
        .dangerous() // only to plug in the platform verifier, which verifies fully
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(config)
}

/// Opens the flow to the account's server. A refused server certificate's fingerprint is
/// left in `refused`.
pub async fn connect(
    account: &AccountConfig,
    refused: Arc<Mutex<Option<String>>>,
) -> Result<Flow, ConnectError> {
    let tls = if account.server.secure {
        Some(Arc::new(
            tls_config(
                account.ca_file.as_deref(),
                account.trusted_certificate.as_deref(),
                refused,
            )
            .map_err(slowly)?,
        ))
    } else {
        None
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, connect_inner(&account.server, tls)).await {
        Ok(result) => result,
        Err(_) => Err(soon(EngineError::new(
            ErrorCode::NetTimeout,
            format!(
                "no answer from {} within {CONNECT_TIMEOUT:?}",
                account.server.url()
            ),
        ))),
    }
}

async fn connect_inner(
    server: &ServerUrl,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> Result<Flow, ConnectError> {
    let url = server.url();
    let tcp = TcpStream::connect((server.host.as_str(), server.port))
        .await
        .map_err(|e| {
            soon(EngineError::new(
                ErrorCode::NetUnreachable,
                format!("can't connect to {url}: {e}"),
            ))
        })?;
    tcp.set_nodelay(true).ok();
    let local_ip = tcp
        .local_addr()
        .map_err(|e| soon(EngineError::new(ErrorCode::NetUnreachable, e.to_string())))?
        .ip();
    let mut request = url.as_str().into_client_request().map_err(|e| {
        slowly(EngineError::new(
            ErrorCode::ConfigInvalidServer,
            e.to_string(),
        ))
    })?;
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("sip"));
    let connector = match tls {
        Some(cfg) => Connector::Rustls(cfg),
        None => Connector::Plain,
    };
    let (ws, response) = tokio_tungstenite::client_async_tls_with_config(
        request,
        tcp,
        Some(ws_config()),
        Some(connector),
    )
    .await
    .map_err(|e| classify(&url, e))?;
    // RFC 7118 §4.1: fail the connection if the server did not select `sip`.
    let selected = response
        .headers()
        .get("Sec-WebSocket-Protocol")
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    if !selected.is_some_and(|p| p.eq_ignore_ascii_case("sip")) {
        return Err(slowly(EngineError::new(
            ErrorCode::WsNoSipSubprotocol,
            format!("{url} did not accept the WebSocket subprotocol \"sip\""),
        )));
    }
    Ok(Flow { ws, local_ip })
}

/// A refused server certificate, by what is wrong with it (the UI says which, and "Trust
/// certificate" accepts that problem).
pub fn certificate_problem(why: &rustls::CertificateError) -> (ErrorCode, &'static str) {
    use rustls::CertificateError as C;
    match why {
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            (ErrorCode::TlsNameMismatch, "is for another server name")
        }
        C::Expired | C::ExpiredContext { .. } => (ErrorCode::TlsExpired, "has expired"),
        C::NotValidYet | C::NotValidYetContext { .. } => {
            (ErrorCode::TlsNotYetValid, "is not valid yet")
        }
        C::UnknownIssuer => (
            ErrorCode::TlsUnknownIssuer,
            "was issued by an authority this system doesn't know (self-signed?)",
        ),
        _ => (ErrorCode::TlsUntrustedCertificate, "is not trusted"),
    }
}

fn tls_error(url: &str, tls: &rustls::Error) -> ConnectError {
    match tls {
        rustls::Error::InvalidCertificate(why) => {
            let (code, what) = certificate_problem(why);
            slowly(EngineError::new(
                code,
                format!("the certificate of {url} {what} ({why:?})"),
            ))
        }
        other => slowly(EngineError::new(
            ErrorCode::TlsHandshakeFailed,
            format!("{url}: {other}"),
        )),
    }
}

fn classify(url: &str, e: tokio_tungstenite::tungstenite::Error) -> ConnectError {
    use tokio_tungstenite::tungstenite::error::{ProtocolError, TlsError};
    use tokio_tungstenite::tungstenite::Error as E;
    let text = e.to_string();
    match &e {
        E::Io(io) => match io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
            Some(tls) => tls_error(url, tls),
            // The server went away during the upgrade (RFC 6455 §4.1: fail the connection).
            None => soon(EngineError::new(
                ErrorCode::WsHandshakeFailed,
                format!("{url}: {text}"),
            )),
        },
        E::Tls(TlsError::Rustls(tls)) => tls_error(url, tls),
        E::Tls(t) => slowly(EngineError::new(
            ErrorCode::TlsHandshakeFailed,
            format!("{url}: {t}"),
        )),
        E::Http(resp) => soon(EngineError::new(
            ErrorCode::WsHandshakeFailed,
            format!(
                "{url} refused the WebSocket upgrade: HTTP {}",
                resp.status()
            ),
        )),
        E::Protocol(ProtocolError::SecWebSocketSubProtocolError(p)) => slowly(EngineError::new(
            ErrorCode::WsNoSipSubprotocol,
            format!("{url} did not accept the WebSocket subprotocol \"sip\": {p}"),
        )),
        _ => soon(EngineError::new(
            ErrorCode::WsHandshakeFailed,
            format!("{url}: {text}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_certificate_problem_has_its_own_code() {
        use rustls::CertificateError as C;
        let table = [
            (C::NotValidForName, ErrorCode::TlsNameMismatch),
            (C::Expired, ErrorCode::TlsExpired),
            (C::NotValidYet, ErrorCode::TlsNotYetValid),
            (C::UnknownIssuer, ErrorCode::TlsUnknownIssuer),
            (C::BadSignature, ErrorCode::TlsUntrustedCertificate),
            (C::Revoked, ErrorCode::TlsUntrustedCertificate),
        ];
        for (problem, code) in table {
            assert_eq!(certificate_problem(&problem).0, code, "{problem:?}");
            assert!(code.is_certificate());
            let e = tls_error("wss://x", &rustls::Error::InvalidCertificate(problem));
            assert_eq!(e.error.code, code);
            assert!(e.retry_slowly, "a certificate problem is not retried soon");
        }
        assert!(!ErrorCode::TlsHandshakeFailed.is_certificate());
    }

    #[test]
    fn fingerprints_are_sha256_in_colon_pairs_and_pasted_ones_normalise() {
        let fp = fingerprint(b"abc");
        assert_eq!(
            fp,
            "BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:B0:03:61:A3:96:17:7A:9C:B4:10:FF:61:F2:00:15:AD"
        );
        assert_eq!(
            normalise_fingerprint(&fp.to_lowercase().replace(':', "")),
            Some(fp.clone())
        );
        assert_eq!(normalise_fingerprint(&fp), Some(fp));
        assert_eq!(normalise_fingerprint("AB:CD"), None);
        assert_eq!(normalise_fingerprint(&"zz".repeat(32)), None);
    }
}
