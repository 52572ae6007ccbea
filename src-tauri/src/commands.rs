//! The commands `ui/src/lib/backend/tauri.ts` invokes: each converts its arguments, forwards
//! to the engine and returns the engine's `{ code, message }` error. No logic lives here.

use crate::phone::Phone;
use tauri::{AppHandle, State};
use wren_engine::{AccountSettings, CallId, EngineError, MediaOptions, Snapshot};

/// The SIP status a declined incoming call gets (486 Busy Here: the caller's other devices
/// keep ringing, unlike 603).
const REJECT_STATUS: u16 = 486;

/// Desktop calls use the microphone and speaker from the audio preferences.
fn media() -> MediaOptions {
    MediaOptions::devices()
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

#[tauri::command]
pub async fn set_muted(phone: State<'_, Phone>, call: u64, muted: bool) -> Result<(), EngineError> {
    phone.engine().await?.set_muted(CallId(call), muted).await
}

#[tauri::command]
pub async fn set_held(phone: State<'_, Phone>, call: u64, held: bool) -> Result<(), EngineError> {
    phone.engine().await?.set_held(CallId(call), held).await
}

#[tauri::command]
pub async fn send_dtmf(
    phone: State<'_, Phone>,
    call: u64,
    digits: String,
) -> Result<(), EngineError> {
    phone.engine().await?.send_dtmf(CallId(call), &digits).await
}

#[tauri::command]
pub async fn transfer(
    phone: State<'_, Phone>,
    call: u64,
    target: String,
) -> Result<(), EngineError> {
    phone.engine().await?.transfer(CallId(call), &target).await
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
