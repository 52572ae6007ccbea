//! The WebSocket flow against small local servers that misbehave on purpose: a server that
//! won't select `sip`, one that closes mid-handshake, one that drops the connection (the
//! engine reconnects and re-registers).

use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use wren_engine::{AccountInput, ConnectionState, EngineEvent, ErrorCode, EventKind};

#[allow(clippy::result_large_err)] // the signature tungstenite's callback requires
fn select_sip(_: &Request, mut resp: Response) -> Result<Response, ErrorResponse> {
    resp.headers_mut()
        .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("sip"));
    Ok(resp)
}

fn account(port: u16) -> wren_engine::AccountConfig {
    AccountInput {
        server: format!("ws://127.0.0.1:{port}"),
        user: "alice".into(),
        password: "pw".into(),
        ..Default::default()
    }
    .validate()
    .expect("valid account")
}

async fn next_connection(rx: &mut broadcast::Receiver<EngineEvent>) -> ConnectionState {
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("an event in time")
            .expect("engine alive");
        if let EventKind::Connection { state: c, .. } = ev.kind {
            if c != ConnectionState::Connecting {
                return c;
            }
        }
    }
}

fn error_code(state: ConnectionState) -> ErrorCode {
    match state {
        ConnectionState::Disconnected { error, .. } => error.code,
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[tokio::test]
async fn server_not_selecting_sip_subprotocol_is_refused() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        // Accepts the upgrade but selects no subprotocol.
        let _ws = tokio_tungstenite::accept_async(tcp).await;
        tokio::time::sleep(Duration::from_secs(5)).await;
    });
    let (engine, mut rx) = wren_engine::start(account(port));
    assert_eq!(
        error_code(next_connection(&mut rx).await),
        ErrorCode::WsNoSipSubprotocol
    );
    engine.shutdown().await;
}

#[tokio::test]
async fn server_closing_mid_handshake_is_a_clean_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 64];
        let _ = tcp.read(&mut buf).await; // part of the upgrade request, then hang up
    });
    let (engine, mut rx) = wren_engine::start(account(port));
    let state = next_connection(&mut rx).await;
    let ConnectionState::Disconnected { retry_in_ms, .. } = &state else {
        panic!("{state:?}")
    };
    assert!(retry_in_ms.is_some(), "a transient failure is retried");
    assert_eq!(error_code(state), ErrorCode::WsHandshakeFailed);
    engine.shutdown().await;
}

#[tokio::test]
async fn dropped_connection_reconnects() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        for _ in 0..2 {
            let (tcp, _) = listener.accept().await.unwrap();
            let ws = tokio_tungstenite::accept_hdr_async(tcp, select_sip)
                .await
                .unwrap();
            drop(ws); // gone without a close frame
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    });
    let (engine, mut rx) = wren_engine::start(account(port));
    assert_eq!(next_connection(&mut rx).await, ConnectionState::Connected);
    assert_eq!(
        error_code(next_connection(&mut rx).await),
        ErrorCode::NetConnectionLost
    );
    // Backoff starts at 1 s; the engine comes back on its own.
    assert_eq!(next_connection(&mut rx).await, ConnectionState::Connected);
    let snap = engine.snapshot().await.unwrap();
    assert!(snap.seq >= 4, "{snap:?}");
    engine.shutdown().await;
}

#[tokio::test]
async fn unreachable_server_is_reported() {
    // Bind then drop to get a port nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (engine, mut rx) = wren_engine::start(account(port));
    assert_eq!(
        error_code(next_connection(&mut rx).await),
        ErrorCode::NetUnreachable
    );
    engine.shutdown().await;
}

/// A server that stops reading while it keeps asking (OPTIONS, each wanting a 200): the
/// engine's writes back up, its bounded send queue fills, and the flow is declared lost
/// (`net.send_stalled`) instead of the engine freezing; commands are answered throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_flow_does_not_stall_the_engine() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    // A small receive buffer, so the engine's answers back up soon.
    socket.set_recv_buffer_size(4096).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = socket.local_addr().unwrap().port();
    let listener = socket.listen(4).unwrap();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_hdr_async(tcp, select_sip)
            .await
            .unwrap();
        // Bounded: at most 40,000 requests, never a read.
        for i in 0..40_000u32 {
            let req = format!(
                "OPTIONS sip:alice@127.0.0.1 SIP/2.0\r\n\
                 Via: SIP/2.0/WSS srv.invalid;branch=z9hG4bK{i}\r\n\
                 Max-Forwards: 70\r\n\
                 From: <sip:srv@127.0.0.1>;tag=s{i}\r\n\
                 To: <sip:alice@127.0.0.1>\r\n\
                 Call-ID: stall-{i}\r\n\
                 CSeq: 1 OPTIONS\r\n\
                 Content-Length: 0\r\n\r\n"
            );
            if ws.send(Message::text(req)).await.is_err() {
                break;
            }
        }
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    let (engine, mut rx) = wren_engine::start(account(port));
    assert_eq!(next_connection(&mut rx).await, ConnectionState::Connected);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut slowest = Duration::ZERO;
    let lost = loop {
        // The engine answers a command at once however full its flow is.
        let asked = tokio::time::Instant::now();
        tokio::time::timeout(Duration::from_secs(2), engine.snapshot())
            .await
            .expect("the engine answers while its flow is stalled")
            .unwrap();
        slowest = slowest.max(asked.elapsed());
        match tokio::time::timeout(Duration::from_millis(100), rx.recv()).await {
            Ok(Ok(ev)) => {
                if let EventKind::Connection {
                    state: state @ ConnectionState::Disconnected { .. },
                    ..
                } = ev.kind
                {
                    break state;
                }
            }
            Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Err(e)) => panic!("{e}"),
            Err(_) => {}
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stall was never noticed"
        );
    };
    assert_eq!(error_code(lost), ErrorCode::NetSendStalled);
    assert!(
        slowest < Duration::from_secs(1),
        "a command waited {slowest:?}"
    );
    engine.shutdown().await;
}

/// A server that sends a message far larger than any SIP message, in frames each small enough
/// on its own: the flow fails with `ws.message_too_big` as soon as the message passes the SIP
/// limit (nothing more of it is buffered), and a hostile close reason on the next connection
/// reaches the error's text only as printable characters.
#[tokio::test]
async fn an_oversized_message_fails_the_flow_and_a_hostile_close_reason_is_made_printable() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::{CloseFrame, Frame};
    use tokio_tungstenite::tungstenite::Message;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = sent.clone();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_hdr_async(tcp, select_sip)
            .await
            .unwrap();
        // 16 KiB frames of one text message, up to 16 MiB in all (the client stops reading
        // long before).
        let chunk = vec![b'a'; 16 * 1024];
        for i in 0..1024 {
            let opcode = if i == 0 {
                OpCode::Data(Data::Text)
            } else {
                OpCode::Data(Data::Continue)
            };
            let frame = Frame::message(chunk.clone(), opcode, false);
            if ws.send(Message::Frame(frame)).await.is_err() {
                break;
            }
            counter.fetch_add(chunk.len(), std::sync::atomic::Ordering::Relaxed);
        }
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_hdr_async(tcp, select_sip)
            .await
            .unwrap();
        let _ = ws
            .close(Some(CloseFrame {
                code: 1000u16.into(),
                reason: "\u{1b}[31mEVIL\r\nforged: line\u{7}".into(),
            }))
            .await;
        tokio::time::sleep(Duration::from_secs(5)).await;
    });
    let (engine, mut rx) = wren_engine::start(account(port));
    assert_eq!(next_connection(&mut rx).await, ConnectionState::Connected);
    assert_eq!(
        error_code(next_connection(&mut rx).await),
        ErrorCode::WsMessageTooBig
    );
    assert_eq!(next_connection(&mut rx).await, ConnectionState::Connected);
    let ConnectionState::Disconnected { error, .. } = next_connection(&mut rx).await else {
        panic!("the hostile close should fail the flow");
    };
    assert_eq!(error.code, ErrorCode::WsClosed);
    assert!(error.message.contains("EVIL"), "{error:?}");
    assert!(
        !error.message.chars().any(char::is_control),
        "control characters in {:?}",
        error.message
    );
    engine.shutdown().await;
    // The server could not push the whole 16 MiB: the client closed the flow early.
    assert!(
        sent.load(std::sync::atomic::Ordering::Relaxed) < 16 * 1024 * 1024,
        "the whole message was taken"
    );
}
