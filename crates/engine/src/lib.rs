//! wren-engine: the one async crate. A driver task owns the WSS flow, the RTP sockets, the SIP
//! user agent and the media sessions; callers hold an [`EngineHandle`] and read
//! [`EngineEvent`]s.

mod config;
pub mod core;
pub mod devices;
mod driver;
mod error;
mod event;
mod files;
mod handle;
mod history;
pub mod hub;
pub mod logging;
mod media;
mod preferences;
mod secrets;
mod settings;
mod wss;

pub use config::{AccountConfig, AccountInput, ServerUrl};
pub use error::{EngineError, ErrorCode, Fault};
pub use event::{
    AccountId, AccountSnapshot, CallId, CallOutcome, CallSnapshot, CallState, CallStats,
    Certificate, ConnectionState, Direction, EngineEvent, EventKind, RegistrationState, Snapshot,
};
pub use handle::EngineHandle;
pub use history::{CallLog, HistoryChange, HistoryEntry, HistoryOutcome, HistoryStore};
pub use media::{AudioInput, AudioOutput, AudioPrefs, Levels, MediaOptions};
pub use preferences::{
    AppChoice, AudioChoice, CodecChoice, CodecName, Preferences, PreferencesStore, RingtoneName,
    Theme,
};
pub use secrets::{PasswordStorage, SecretKey, SecretStore};
pub use settings::{AccountSettings, SavedAccount, SavedAccounts, SettingsStore};
pub use wren_audio::{AudioBackend, CpalBackend, DeviceInfo, FakeBackend, Ringtone};
pub use wren_media::CodecKind;

use std::sync::Arc;
use tokio::sync::{broadcast, mpsc, watch};

/// Starts an engine for one account on the current tokio runtime, with no sound devices
/// (calls use files, tones or silence). The receiver sees every event from the first one.
pub fn start(account: AccountConfig) -> (EngineHandle, broadcast::Receiver<EngineEvent>) {
    start_with_audio(account, Arc::new(FakeBackend::new()), AudioPrefs::default())
}

/// [`start`] with sound devices from `backend` ([`CpalBackend`] on a desktop).
pub fn start_with_audio(
    account: AccountConfig,
    backend: Arc<dyn AudioBackend + Send + Sync>,
    prefs: AudioPrefs,
) -> (EngineHandle, broadcast::Receiver<EngineEvent>) {
    spawn(Some(account), backend, prefs, None)
}

/// Starts an engine with no account yet (the desktop app adds its accounts, and adds,
/// changes and removes them while it runs).
pub fn start_empty(
    backend: Arc<dyn AudioBackend + Send + Sync>,
    prefs: AudioPrefs,
) -> (EngineHandle, broadcast::Receiver<EngineEvent>) {
    spawn(None, backend, prefs, None)
}

/// [`start_empty`], recording every finished call in `history` (the desktop app's engine).
pub fn start_recording(
    backend: Arc<dyn AudioBackend + Send + Sync>,
    prefs: AudioPrefs,
    history: HistoryStore,
) -> (EngineHandle, broadcast::Receiver<EngineEvent>) {
    spawn(None, backend, prefs, Some(history))
}

fn spawn(
    account: Option<AccountConfig>,
    backend: Arc<dyn AudioBackend + Send + Sync>,
    prefs: AudioPrefs,
    history: Option<HistoryStore>,
) -> (EngineHandle, broadcast::Receiver<EngineEvent>) {
    let (tx, rx) = mpsc::channel(64);
    let (events, first) = broadcast::channel(1024);
    let (levels_tx, levels) = watch::channel(Levels::SILENT);
    let audio = media::AudioEnv { backend, prefs };
    let driver = driver::Driver::new(rx, events.clone(), audio, levels_tx, history);
    tokio::spawn(driver.run(account));
    (EngineHandle { tx, events, levels }, first)
}

/// The sound devices `backend` offers: (inputs, outputs), by name.
pub fn list_devices(
    backend: &dyn AudioBackend,
) -> Result<(Vec<DeviceInfo>, Vec<DeviceInfo>), EngineError> {
    let list = |d| backend.devices(d).map_err(media::audio_error);
    Ok((
        list(wren_audio::Direction::Input)?,
        list(wren_audio::Direction::Output)?,
    ))
}
