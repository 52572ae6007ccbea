//! wren-engine: the one async crate. A driver task owns the WSS flow, the RTP sockets, the SIP
//! user agent and the media sessions; callers hold an [`EngineHandle`] and read
//! [`EngineEvent`]s.

mod config;
mod driver;
mod error;
mod event;
mod handle;
mod media;
mod settings;
mod wss;

pub use config::{AccountConfig, AccountInput, ServerUrl};
pub use error::EngineError;
pub use event::{
    CallId, CallOutcome, CallSnapshot, CallState, CallStats, ConnectionState, Direction,
    EngineEvent, EventKind, RegistrationState, Snapshot,
};
pub use handle::EngineHandle;
pub use media::{AudioInput, MediaOptions};
pub use settings::{AccountSettings, SettingsStore};
pub use wren_media::CodecKind;

use tokio::sync::{broadcast, mpsc};

/// Log filter directives every binary appends to the user's: the WebSocket library logs
/// whole frames (SIP messages with identities and digests) at debug and trace. The engine
/// logs the same messages itself, redacted.
pub const LOG_CAPS: &[&str] = &["tungstenite=info", "tokio_tungstenite=info"];

/// Starts an engine for one account on the current tokio runtime. The receiver sees every
/// event from the first one.
pub fn start(account: AccountConfig) -> (EngineHandle, broadcast::Receiver<EngineEvent>) {
    let (tx, rx) = mpsc::channel(64);
    let (events, first) = broadcast::channel(1024);
    let driver = driver::Driver::new(account, rx, events.clone());
    tokio::spawn(driver.run());
    (EngineHandle { tx, events }, first)
}
