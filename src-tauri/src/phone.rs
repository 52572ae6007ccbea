//! The one piece of app state: the settings store and the running engine, if any.
//!
//! Each (re)start gets a new engine whose event numbers begin again at 1, so events reach the
//! UI as `seq + base`, with `base` one past the last number the UI saw: the UI sees a gap,
//! fetches a fresh snapshot and drops the old engine's state.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tauri::async_runtime::JoinHandle;
use tauri::{AppHandle, Emitter};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::Mutex;
use wren_engine::{
    AccountConfig, ConnectionState, EngineError, EngineHandle, RegistrationState, SettingsStore,
    Snapshot,
};

/// The Tauri event that carries each `EngineEvent` (the UI's `ENGINE_EVENT`).
pub const ENGINE_EVENT: &str = "engine-event";

struct Running {
    handle: EngineHandle,
    base: u64,
    forwarder: JoinHandle<()>,
}

/// Settings plus the engine they configure.
pub struct Phone {
    pub settings: SettingsStore,
    engine: Mutex<Option<Running>>,
    /// The last event number sent to the UI.
    last_seq: Arc<AtomicU64>,
}

fn not_configured() -> EngineError {
    EngineError::new("engine.not_configured", "no account has been saved yet")
}

impl Phone {
    pub fn new(settings: SettingsStore) -> Self {
        Self {
            settings,
            engine: Mutex::new(None),
            last_seq: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The running engine, or `engine.not_configured`.
    pub async fn engine(&self) -> Result<EngineHandle, EngineError> {
        let running = self.engine.lock().await;
        running
            .as_ref()
            .map(|r| r.handle.clone())
            .ok_or_else(not_configured)
    }

    /// The engine's snapshot in the UI's numbering; before any account, an idle one.
    pub async fn snapshot(&self) -> Result<Snapshot, EngineError> {
        let (handle, base) = match self.engine.lock().await.as_ref() {
            Some(r) => (r.handle.clone(), r.base),
            None => {
                return Ok(Snapshot {
                    seq: self.last_seq.load(Ordering::SeqCst),
                    connection: ConnectionState::Disconnected {
                        error: not_configured(),
                        retry_in_ms: None,
                        certificate: None,
                    },
                    registration: RegistrationState::Unregistered,
                    calls: Vec::new(),
                })
            }
        };
        let mut snap = handle.snapshot().await?;
        snap.seq += base;
        Ok(snap)
    }

    /// Stops the current engine (if any), starts one for `account`, forwards its events to
    /// the UI and registers.
    pub async fn restart(
        &self,
        app: &AppHandle,
        account: AccountConfig,
    ) -> Result<(), EngineError> {
        let mut running = self.engine.lock().await;
        if let Some(old) = running.take() {
            old.handle.shutdown().await;
            old.forwarder.abort();
        }
        let base = self.last_seq.load(Ordering::SeqCst) + 1;
        let (handle, mut events) = wren_engine::start_with_audio(
            account,
            std::sync::Arc::new(wren_engine::CpalBackend::default()),
            wren_engine::AudioPrefs::default(),
        );
        let (app, last_seq) = (app.clone(), self.last_seq.clone());
        let forwarder = tauri::async_runtime::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(mut ev) => {
                        ev.seq += base;
                        last_seq.store(ev.seq, Ordering::SeqCst);
                        if let Err(e) = app.emit(ENGINE_EVENT, &ev) {
                            tracing::warn!("could not emit an engine event: {e}");
                        }
                    }
                    // The UI sees the gap and fetches a snapshot.
                    Err(RecvError::Lagged(n)) => tracing::warn!("dropped {n} engine events"),
                    Err(RecvError::Closed) => break,
                }
            }
        });
        let handle = running
            .insert(Running {
                handle,
                base,
                forwarder,
            })
            .handle
            .clone();
        drop(running);
        handle.register().await
    }
}
