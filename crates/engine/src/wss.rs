//! The SIP flow: a WebSocket with subprotocol `sip` (RFC 7118 §4), over TLS verified against
//! the system trust store plus an optional pinned CA. There is no "accept any certificate".

use crate::config::{AccountConfig, ServerUrl};
use crate::error::EngineError;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long a connection attempt (TCP, TLS and upgrade) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// An open flow and the local address media should advertise.
pub struct Flow {
    pub ws: Ws,
    pub local_ip: IpAddr,
}

/// Builds the TLS client configuration: platform verifier, plus the pinned CA if any.
pub fn tls_config(ca_file: Option<&std::path::Path>) -> Result<rustls::ClientConfig, EngineError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut extra = Vec::new();
    if let Some(path) = ca_file {
        let bad = |why: String| EngineError::new("config.invalid_ca", why);
        for cert in CertificateDer::pem_file_iter(path)
            .map_err(|e| bad(format!("can't read CA file {}: {e}", path.display())))?
        {
            extra.push(cert.map_err(|e| bad(format!("bad PEM in {}: {e}", path.display())))?);
        }
        if extra.is_empty() {
            return Err(bad(format!("no certificate in {}", path.display())));
        }
    }
    let verifier =
        rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider.clone())
            .map_err(|e| EngineError::new("tls.setup_failed", e.to_string()))?;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| EngineError::new("tls.setup_failed", e.to_string()))?
        .dangerous() // only to plug in the platform verifier, which verifies fully
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(config)
}

/// Opens the flow to the account's server.
pub async fn connect(account: &AccountConfig) -> Result<Flow, EngineError> {
    let tls = if account.server.secure {
        Some(Arc::new(tls_config(account.ca_file.as_deref())?))
    } else {
        None
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, connect_inner(&account.server, tls)).await {
        Ok(result) => result,
        Err(_) => Err(EngineError::new(
            "net.timeout",
            format!(
                "no answer from {} within {CONNECT_TIMEOUT:?}",
                account.server.url()
            ),
        )),
    }
}

async fn connect_inner(
    server: &ServerUrl,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> Result<Flow, EngineError> {
    let url = server.url();
    let tcp = TcpStream::connect((server.host.as_str(), server.port))
        .await
        .map_err(|e| EngineError::new("net.unreachable", format!("can't connect to {url}: {e}")))?;
    tcp.set_nodelay(true).ok();
    let local_ip = tcp
        .local_addr()
        .map_err(|e| EngineError::new("net.unreachable", e.to_string()))?
        .ip();
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| EngineError::new("config.invalid_server", e.to_string()))?;
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("sip"));
    let connector = match tls {
        Some(cfg) => Connector::Rustls(cfg),
        None => Connector::Plain,
    };
    let (ws, response) =
        tokio_tungstenite::client_async_tls_with_config(request, tcp, None, Some(connector))
            .await
            .map_err(|e| classify(&url, e))?;
    // RFC 7118 §4.1: fail the connection if the server did not select `sip`.
    let selected = response
        .headers()
        .get("Sec-WebSocket-Protocol")
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    if !selected.is_some_and(|p| p.eq_ignore_ascii_case("sip")) {
        return Err(EngineError::new(
            "ws.no_sip_subprotocol",
            format!("{url} did not accept the WebSocket subprotocol \"sip\""),
        ));
    }
    Ok(Flow { ws, local_ip })
}

fn classify(url: &str, e: tokio_tungstenite::tungstenite::Error) -> EngineError {
    use tokio_tungstenite::tungstenite::Error as E;
    let text = e.to_string();
    match &e {
        E::Io(io) => match io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
            Some(rustls::Error::InvalidCertificate(why)) => EngineError::new(
                "tls.untrusted_certificate",
                format!("the certificate of {url} is not trusted: {why:?}"),
            ),
            Some(tls) => EngineError::new("tls.handshake_failed", format!("{url}: {tls}")),
            // The server went away during the upgrade (RFC 6455 §4.1: fail the connection).
            None => EngineError::new("ws.handshake_failed", format!("{url}: {text}")),
        },
        E::Tls(t) => EngineError::new(
            "tls.untrusted_certificate",
            format!("the certificate of {url} is not trusted: {t}"),
        ),
        E::Http(resp) => EngineError::new(
            "ws.handshake_failed",
            format!(
                "{url} refused the WebSocket upgrade: HTTP {}",
                resp.status()
            ),
        ),
        E::Protocol(p) if p.to_string().contains("SubProtocol") => EngineError::new(
            "ws.no_sip_subprotocol",
            format!("{url} did not accept the WebSocket subprotocol \"sip\": {p}"),
        ),
        _ => EngineError::new("ws.handshake_failed", format!("{url}: {text}")),
    }
}
