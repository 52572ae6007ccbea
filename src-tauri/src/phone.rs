//! The one piece of app state: the profile's stores and the engine.
//!
//! One engine runs for the app's life; accounts are added to it and changed in place, never
//! by restarting it. Its events reach the UI as `seq + base` (`base` is the last number the UI
//! saw before the engine started), so numbering never goes back.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError};
use tauri::async_runtime::JoinHandle;
use tauri::{AppHandle, Emitter, Manager};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::Mutex;
use wren_engine::{
    AccountConfig, AccountId, CpalBackend, EngineError, EngineEvent, EngineHandle, ErrorCode,
    HistoryChange, HistoryStore, Preferences, PreferencesStore, SavedAccounts, SettingsStore,
    Snapshot,
};

/// The Tauri event that carries each `EngineEvent` (the UI's `ENGINE_EVENT`).
pub const ENGINE_EVENT: &str = "engine-event";
/// Microphone and speaker levels, about 20 a second while audio runs.
pub const LEVELS_EVENT: &str = "levels";
/// The call history changed: the UI fetches it again.
pub const HISTORY_CHANGED_EVENT: &str = "history-changed";

struct Running {
    handle: EngineHandle,
    base: u64,
    tasks: Vec<JoinHandle<()>>,
}

/// The profile's stores plus the engine they configure.
pub struct Phone {
    pub settings: SettingsStore,
    pub preferences: PreferencesStore,
    /// `None` when the database can't be opened (the app still phones; `history` says why).
    pub history: Result<HistoryStore, EngineError>,
    /// The sound system, connected once (a PulseAudio client is a connection).
    pub audio: Arc<CpalBackend>,
    /// The preferences in force (saved, or the defaults), for the tray and links.
    current: std::sync::Mutex<Preferences>,
    engine: Mutex<Option<Running>>,
    /// Each saved account running in the engine: its settings id to its engine id.
    accounts: Mutex<HashMap<String, AccountId>>,
    /// One account change at a time, from the settings store to the engine (a removal can't
    /// slip between a save and the engine taking the saved account).
    pub account_changes: Mutex<()>,
    /// The last event number sent to the UI.
    last_seq: Arc<AtomicU64>,
}

fn not_configured() -> EngineError {
    EngineError::new(
        ErrorCode::EngineNotConfigured,
        "no account has been saved yet",
    )
}

impl Phone {
    /// The stores of the profile in `dir`.
    pub fn open(dir: &Path) -> Self {
        let preferences = PreferencesStore::new(dir);
        let current = preferences.load().unwrap_or_else(|e| {
            tracing::warn!("using default preferences: {e}");
            Preferences::default()
        });
        let history = HistoryStore::open(&dir.join("history.sqlite3"));
        if let Err(e) = &history {
            tracing::warn!("no call history this session: {e}");
        }
        let audio = Arc::new(CpalBackend::default());
        match audio.fallback_reason() {
            Some(why) => tracing::info!("sound through {} ({why})", audio.host_name()),
            None => tracing::info!("sound through {}", audio.host_name()),
        }
        Self {
            settings: SettingsStore::new(dir),
            preferences,
            history,
            audio,
            current: std::sync::Mutex::new(current),
            engine: Mutex::new(None),
            accounts: Mutex::new(HashMap::new()),
            account_changes: Mutex::new(()),
            last_seq: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The preferences in force.
    pub fn current(&self) -> Preferences {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn set_current(&self, prefs: Preferences) {
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = prefs;
    }

    /// The history store, or why there is none.
    pub fn history(&self) -> Result<&HistoryStore, EngineError> {
        self.history.as_ref().map_err(Clone::clone)
    }

    /// The running engine, or `engine.not_configured`.
    pub async fn engine(&self) -> Result<EngineHandle, EngineError> {
        let running = self.engine.lock().await;
        running
            .as_ref()
            .map(|r| r.handle.clone())
            .ok_or_else(not_configured)
    }

    /// The running engine, if any.
    pub async fn engine_if_running(&self) -> Option<EngineHandle> {
        self.engine.lock().await.as_ref().map(|r| r.handle.clone())
    }

    /// The engine's snapshot in the UI's numbering; before the engine runs, an empty one.
    pub async fn snapshot(&self) -> Result<Snapshot, EngineError> {
        let (handle, base) = match self.engine.lock().await.as_ref() {
            Some(r) => (r.handle.clone(), r.base),
            None => {
                let mut snap = Snapshot::empty();
                snap.seq = self.last_seq.load(Ordering::SeqCst);
                return Ok(snap);
            }
        };
        let mut snap = handle.snapshot().await?;
        snap.seq += base;
        Ok(snap)
    }

    /// Starts the one engine of the app's life (no account yet) with the preferences in
    /// force and the history to record finished calls in, forwarding its events, levels and
    /// history changes to the UI.
    pub async fn start(&self, app: &AppHandle) -> Result<EngineHandle, EngineError> {
        let mut running = self.engine.lock().await;
        if let Some(r) = running.as_ref() {
            return Ok(r.handle.clone());
        }
        let prefs = self.current();
        let base = self.last_seq.load(Ordering::SeqCst);
        // The engine records its own finished calls; without a database it still phones.
        let (handle, events) = match &self.history {
            Ok(store) => {
                wren_engine::start_recording(self.audio.clone(), prefs.audio_prefs(), store.clone())
            }
            Err(_) => wren_engine::start_empty(self.audio.clone(), prefs.audio_prefs()),
        };
        handle.set_do_not_disturb(prefs.app.do_not_disturb).await?;
        let forwarder = tauri::async_runtime::spawn(forward_events(
            app.clone(),
            events,
            base,
            self.last_seq.clone(),
        ));
        let mut levels = handle.levels();
        let app_for_levels = app.clone();
        let meters = tauri::async_runtime::spawn(async move {
            // The engine updates the watch about 20 times a second while audio runs.
            while levels.changed().await.is_ok() {
                let now = *levels.borrow_and_update();
                let _ = app_for_levels.emit(LEVELS_EVENT, now);
            }
        });
        let mut tasks = vec![forwarder, meters];
        if let Ok(store) = &self.history {
            tasks.push(tauri::async_runtime::spawn(history_changes(
                app.clone(),
                store.subscribe(),
            )));
        }
        let handle = running
            .insert(Running {
                handle,
                base,
                tasks,
            })
            .handle
            .clone();
        Ok(handle)
    }

    /// Puts saved account `id` into the running engine: added the first time, changed in
    /// place after that (no other account or call is touched), and registered; `None` (it
    /// was disabled, or has no password at hand) takes it out of the engine.
    pub async fn apply_account(
        &self,
        app: &AppHandle,
        id: &str,
        account: Option<AccountConfig>,
    ) -> Result<(), EngineError> {
        let engine = self.start(app).await?;
        let mut running = self.accounts.lock().await;
        let runs = account.is_some();
        match (running.get(id).copied(), account) {
            (Some(existing), Some(account)) => engine.update_account(existing, account).await?,
            (None, Some(account)) => {
                running.insert(id.to_owned(), engine.add_account(account).await?);
            }
            (Some(existing), None) => {
                running.remove(id);
                engine.remove_account(existing).await?;
            }
            (None, None) => {}
        }
        drop(running);
        self.apply_default(app).await?;
        if runs {
            engine.register().await?;
        }
        Ok(())
    }

    /// Makes the saved default account the engine's default, when it runs.
    pub async fn apply_default(&self, app: &AppHandle) -> Result<(), EngineError> {
        let list = blocking(app, |phone| phone.settings.list()).await?;
        let running = self.accounts.lock().await;
        let Some(id) = list.default_account.and_then(|d| running.get(&d).copied()) else {
            return Ok(());
        };
        drop(running);
        self.start(app).await?.set_default_account(id).await
    }

    /// The saved accounts, each with its id in the engine when it runs there.
    pub async fn saved_accounts(&self, app: &AppHandle) -> Result<SavedAccounts, EngineError> {
        let mut list = blocking(app, |phone| phone.settings.list()).await?;
        let running = self.accounts.lock().await;
        for saved in &mut list.accounts {
            saved.engine = running.get(&saved.settings.id).copied();
        }
        Ok(list)
    }

    /// The settings id of the account the engine knows as `engine`.
    pub async fn settings_id(&self, engine: AccountId) -> Result<String, EngineError> {
        let running = self.accounts.lock().await;
        running
            .iter()
            .find(|(_, e)| **e == engine)
            .map(|(id, _)| id.clone())
            .ok_or_else(|| {
                EngineError::new(
                    ErrorCode::SettingsUnknownAccount,
                    "that account is not running",
                )
            })
    }

    /// Validates and saves `prefs` (the file stays on error), then applies them: the engine
    /// takes audio and do-not-disturb at once and a new codec order by re-registering when no
    /// call is up (otherwise from the next start); the OS takes start at login and the tray.
    pub async fn apply_preferences(
        &self,
        app: &AppHandle,
        prefs: Preferences,
    ) -> Result<(), EngineError> {
        let before = self.current();
        let saved = prefs.clone();
        blocking(app, move |phone| phone.preferences.save(&saved)).await?;
        self.set_current(prefs.clone());
        crate::os::preferences_changed(app, &before, &prefs);
        let Some(engine) = self.engine_if_running().await else {
            return Ok(());
        };
        engine.set_audio(prefs.audio_prefs()).await?;
        engine.set_do_not_disturb(prefs.app.do_not_disturb).await?;
        if before.codec_order() != prefs.codec_order() {
            // Each account takes the new order for its next call; nothing reconnects.
            self.start_saved(app).await?;
        }
        Ok(())
    }

    /// Puts every enabled saved account whose password is at hand into the engine (started
    /// if need be): at launch, and when the codec order changes.
    pub async fn start_saved(&self, app: &AppHandle) -> Result<(), EngineError> {
        self.start(app).await?;
        let codecs = self.current().codec_order();
        let accounts = blocking(app, move |phone| phone.settings.accounts(&codecs)).await?;
        let mut first_error = None;
        for (id, account) in accounts {
            // One account that can't start doesn't keep the others from it.
            if let Err(e) = self.apply_account(app, &id, Some(account)).await {
                tracing::warn!("a saved account did not start: {e}");
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Stops the engine (unregistering) before the app exits.
    pub async fn shutdown(&self) {
        if let Some(old) = self.engine.lock().await.take() {
            old.handle.shutdown().await;
            old.tasks.iter().for_each(JoinHandle::abort);
        }
    }
}

/// Runs `f` on a blocking thread (keyring calls go over D-Bus; file writes sync to disk).
pub async fn blocking<T: Send + 'static>(
    app: &AppHandle,
    f: impl FnOnce(&Phone) -> Result<T, EngineError> + Send + 'static,
) -> Result<T, EngineError> {
    let app = app.clone();
    tauri::async_runtime::spawn_blocking(move || f(&app.state::<Phone>()))
        .await
        .map_err(|e| EngineError::new(ErrorCode::EngineFailed, e.to_string()))?
}

/// Sends one engine's events to the UI (renumbered) and to the OS integration.
async fn forward_events(
    app: AppHandle,
    mut events: tokio::sync::broadcast::Receiver<EngineEvent>,
    base: u64,
    last_seq: Arc<AtomicU64>,
) {
    loop {
        match events.recv().await {
            Ok(mut ev) => {
                ev.seq += base;
                last_seq.store(ev.seq, Ordering::SeqCst);
                if let Err(e) = app.emit(ENGINE_EVENT, &ev) {
                    tracing::warn!("could not emit an engine event: {e}");
                }
                crate::os::engine_event(&app, &ev.kind);
            }
            // The UI sees the gap and fetches a snapshot.
            Err(RecvError::Lagged(n)) => tracing::warn!("dropped {n} engine events"),
            Err(RecvError::Closed) => break,
        }
    }
}

/// Tells the UI the history changed (it fetches it again) and the OS of a missed call.
async fn history_changes(
    app: AppHandle,
    mut changes: tokio::sync::broadcast::Receiver<HistoryChange>,
) {
    loop {
        match changes.recv().await {
            Ok(change) => {
                if let HistoryChange::Added(entry) = &change {
                    crate::os::call_finished(&app, entry);
                }
                let _ = app.emit(HISTORY_CHANGED_EVENT, ());
            }
            Err(RecvError::Lagged(_)) => {
                let _ = app.emit(HISTORY_CHANGED_EVENT, ());
            }
            Err(RecvError::Closed) => break,
        }
    }
}
