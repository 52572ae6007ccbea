//! Each account's flow as the driver sees it: what its tasks report, and the reader and
//! writer tasks themselves (the writer drains a bounded queue; the driver never awaits it).

use crate::core::FlowDown;
use crate::error::{EngineError, ErrorCode};
use crate::event::AccountId;
use crate::wss;
use futures_util::{SinkExt, StreamExt};
use std::net::IpAddr;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// Messages a flow's writer may hold before the flow counts as stalled.
pub(crate) const SEND_QUEUE: usize = 256;
/// How long a closing flow's writer may take to flush before it is cut.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// What a flow's tasks report, tagged with the flow's generation (reports from a flow the
/// core already dropped are ignored).
pub(super) struct FlowNote {
    pub(super) account: AccountId,
    pub(super) generation: u64,
    pub(super) what: FlowWhat,
}

pub(super) enum FlowWhat {
    Up {
        local_ip: IpAddr,
        writer: mpsc::Sender<WsMessage>,
        tasks: [JoinHandle<()>; 2],
    },
    Frame(WsMessage),
    Down(FlowDown),
}

pub(super) enum FlowIo {
    Connecting(JoinHandle<()>),
    Up {
        writer: mpsc::Sender<WsMessage>,
        tasks: [JoinHandle<()>; 2],
    },
}

pub(super) struct FlowSlot {
    pub(super) generation: u64,
    pub(super) io: FlowIo,
}

impl FlowSlot {
    /// Stops the flow: the writer gets a moment to flush (and close), the reader stops now.
    pub(super) fn close(self) {
        match self.io {
            FlowIo::Connecting(task) => task.abort(),
            FlowIo::Up {
                writer,
                tasks: [reader, write_task],
            } => {
                reader.abort();
                drop(writer);
                let abort = write_task.abort_handle();
                tokio::spawn(async move {
                    if tokio::time::timeout(CLOSE_GRACE, write_task).await.is_err() {
                        abort.abort();
                    }
                });
            }
        }
    }
}

/// Splits an open WebSocket into a reader task (frames to the driver) and a writer task (from
/// a bounded queue to the socket).
pub(super) fn spawn_flow(
    account: AccountId,
    generation: u64,
    ws: wss::Ws,
    notes: mpsc::Sender<FlowNote>,
) -> (mpsc::Sender<WsMessage>, [JoinHandle<()>; 2]) {
    let (mut sink, mut stream) = ws.split();
    let (writer, mut queue) = mpsc::channel::<WsMessage>(SEND_QUEUE);
    let note = move |what| FlowNote {
        account,
        generation,
        what,
    };
    let reader_notes = notes.clone();
    let reader = tokio::spawn(async move {
        let down = loop {
            match stream.next().await {
                Some(Ok(WsMessage::Close(frame))) => {
                    // The core keeps only the reason's printable characters.
                    let (code, reason) = frame.map_or((1005, String::new()), |f| {
                        (u16::from(f.code), f.reason.to_string())
                    });
                    break FlowDown::Closed { code, reason };
                }
                Some(Ok(msg)) => {
                    if reader_notes.send(note(FlowWhat::Frame(msg))).await.is_err() {
                        return; // the driver is gone
                    }
                }
                Some(Err(e)) => {
                    use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
                    let code = match &e {
                        WsError::Capacity(CapacityError::MessageTooLong { .. }) => {
                            ErrorCode::WsMessageTooBig
                        }
                        _ => ErrorCode::NetConnectionLost,
                    };
                    break FlowDown::Lost(EngineError::new(code, e.to_string()));
                }
                None => {
                    break FlowDown::Lost(EngineError::new(
                        ErrorCode::NetConnectionLost,
                        "the connection ended",
                    ))
                }
            }
        };
        let _ = reader_notes.send(note(FlowWhat::Down(down))).await;
    });
    let write_task = tokio::spawn(async move {
        while let Some(msg) = queue.recv().await {
            if let Err(e) = sink.send(msg).await {
                let error = EngineError::new(ErrorCode::NetConnectionLost, e.to_string());
                let _ = notes
                    .send(note(FlowWhat::Down(FlowDown::Lost(error))))
                    .await;
                return;
            }
        }
        // The driver closed the flow: say goodbye (RFC 6455 §7.1.2).
        let _ = sink.close().await;
    });
    (writer, [reader, write_task])
}
