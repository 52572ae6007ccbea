//! The commands `ui/src/lib/backend/tauri.ts` invokes: each converts its arguments, forwards
//! to the engine and returns the engine's `{ code, message }` error. No logic lives here.

use crate::phone::Phone;
use tauri::{AppHandle, State};
use wren_engine::{AccountSettings, CallId, EngineError, MediaOptions, Snapshot};

/// The SIP status a declined incoming call gets (486 Busy Here: the caller's other devices
/// keep ringing, unlike 603).
const REJECT_STATUS: u16 = 486;

/// Calls carry no audio device yet: the engine sends silence until device audio is wired in.
fn media() -> MediaOptions {
    MediaOptions::default()
}

/// For controls the engine doesn't have yet (mute, hold, DTMF, transfer): a clean error the
/// UI shows as such.
fn unsupported(what: &str) -> EngineError {
    EngineError::new(
        "engine.unsupported",
        format!("{what} is not supported by this version of the engine yet"),
    )
}

#[tauri::command]
pub async fn snapshot(phone: State<'_, Phone>) -> Result<Snapshot, EngineError> {
    phone.snapshot().await
}

#[tauri::command]
pub async fn register(phone: State<'_, Phone>) -> Result<(), EngineError> {
    phone.engine().await?.register().await
}

#[tauri::command]
pub async fn unregister(phone: State<'_, Phone>) -> Result<(), EngineError> {
    phone.engine().await?.unregister().await
}

#[tauri::command]
pub async fn call(phone: State<'_, Phone>, target: String) -> Result<CallId, EngineError> {
    phone.engine().await?.call(&target, media()).await
}

#[tauri::command]
pub async fn answer(phone: State<'_, Phone>, call: u64) -> Result<(), EngineError> {
    phone.engine().await?.answer(CallId(call), media()).await
}

#[tauri::command]
pub async fn reject(phone: State<'_, Phone>, call: u64) -> Result<(), EngineError> {
    phone
        .engine()
        .await?
        .reject(CallId(call), REJECT_STATUS)
        .await
}

#[tauri::command]
pub async fn hangup(phone: State<'_, Phone>, call: u64) -> Result<(), EngineError> {
    phone.engine().await?.hangup(CallId(call)).await
}

/// Not in the engine yet: always `engine.unsupported`.
#[tauri::command]
pub fn set_muted(call: u64, muted: bool) -> Result<(), EngineError> {
    let _ = (call, muted);
    Err(unsupported("mute"))
}

/// Not in the engine yet: always `engine.unsupported`.
#[tauri::command]
pub fn set_held(call: u64, held: bool) -> Result<(), EngineError> {
    let _ = (call, held);
    Err(unsupported("hold"))
}

/// Not in the engine yet: always `engine.unsupported`.
#[tauri::command]
pub fn send_dtmf(call: u64, digits: String) -> Result<(), EngineError> {
    let _ = (call, digits);
    Err(unsupported("DTMF"))
}

/// Not in the engine yet: always `engine.unsupported`.
#[tauri::command]
pub fn transfer(call: u64, target: String) -> Result<(), EngineError> {
    let _ = (call, target);
    Err(unsupported("transfer"))
}

#[tauri::command]
pub fn load_settings(phone: State<'_, Phone>) -> Result<Option<AccountSettings>, EngineError> {
    phone.settings.load()
}

/// Validates and stores the settings (the old file stays on error), then restarts the engine
/// with them and registers.
#[tauri::command]
pub async fn save_settings(
    app: AppHandle,
    phone: State<'_, Phone>,
    settings: AccountSettings,
) -> Result<(), EngineError> {
    let account = phone.settings.save(&settings)?;
    phone.restart(&app, account).await
}
