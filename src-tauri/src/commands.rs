//! The commands `ui/src/lib/backend/tauri.ts` invokes: each converts its arguments, forwards
//! to the engine and returns the engine's `{ code, message }` error. No logic lives here.

use crate::phone::{blocking, Phone};
use serde::Serialize;
use tauri::{AppHandle, State};
use wren_engine::{
    AccountId, AccountSettings, CallId, CpalBackend, EngineError, HistoryEntry, MediaOptions,
    Preferences, SavedAccounts, Snapshot,
};

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

/// Calls from `account` (`None`: the default account).
#[tauri::command]
pub async fn call(
    phone: State<'_, Phone>,
    target: String,
    account: Option<u32>,
) -> Result<CallId, EngineError> {
    phone
        .engine()
        .await?
        .call_from(account.map(AccountId), &target, media())
        .await
}

#[tauri::command]
pub async fn focus_call(phone: State<'_, Phone>, call: u64) -> Result<(), EngineError> {
    phone.engine().await?.focus(CallId(call)).await
}

#[tauri::command]
pub async fn merge_calls(
    phone: State<'_, Phone>,
    call: u64,
    other: u64,
) -> Result<(), EngineError> {
    phone
        .engine()
        .await?
        .merge(CallId(call), CallId(other))
        .await
}

#[tauri::command]
pub async fn split_call(phone: State<'_, Phone>, call: u64) -> Result<(), EngineError> {
    phone.engine().await?.split(CallId(call)).await
}

#[tauri::command]
pub async fn transfer_attended(
    phone: State<'_, Phone>,
    call: u64,
    to: u64,
) -> Result<(), EngineError> {
    phone
        .engine()
        .await?
        .transfer_attended(CallId(call), CallId(to))
        .await
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

/// The saved accounts (no passwords), each with its id in the engine when it runs there.
#[tauri::command]
pub async fn list_accounts(
    app: AppHandle,
    phone: State<'_, Phone>,
) -> Result<SavedAccounts, EngineError> {
    phone.saved_accounts(&app).await
}

/// Validates and stores one account (new when its id is empty; the old file stays on error),
/// then puts it into the engine (changed in place, no restart) and registers it, or takes it
/// out when it was disabled. Returns its id.
#[tauri::command]
pub async fn save_account(
    app: AppHandle,
    phone: State<'_, Phone>,
    settings: AccountSettings,
) -> Result<String, EngineError> {
    let _one_at_a_time = phone.account_changes.lock().await;
    let codecs = phone.current().codec_order();
    let (id, account) =
        blocking(&app, move |phone| phone.settings.save(&settings, &codecs)).await?;
    phone.apply_account(&app, &id, account).await?;
    Ok(id)
}

/// Removes one account: its calls end, it unregisters, its password is forgotten.
#[tauri::command]
pub async fn remove_account(
    app: AppHandle,
    phone: State<'_, Phone>,
    id: String,
) -> Result<(), EngineError> {
    let _one_at_a_time = phone.account_changes.lock().await;
    phone.apply_account(&app, &id, None).await?;
    blocking(&app, move |phone| phone.settings.remove(&id)).await?;
    phone.apply_default(&app).await
}

/// Makes one account the one calls go from unless the user picks another.
#[tauri::command]
pub async fn set_default_account(
    app: AppHandle,
    phone: State<'_, Phone>,
    id: String,
) -> Result<(), EngineError> {
    blocking(&app, move |phone| phone.settings.set_default(&id)).await?;
    phone.apply_default(&app).await
}

/// Pins the server certificate with this SHA-256 fingerprint for the account the engine knows
/// as `account`, which reconnects.
#[tauri::command]
pub async fn trust_certificate(
    app: AppHandle,
    phone: State<'_, Phone>,
    account: u32,
    sha256: String,
) -> Result<(), EngineError> {
    let _one_at_a_time = phone.account_changes.lock().await;
    let id = phone.settings_id(AccountId(account)).await?;
    let codecs = phone.current().codec_order();
    let key = id.clone();
    let config = blocking(&app, move |phone| {
        phone.settings.trust(&key, &sha256, &codecs)
    })
    .await?;
    phone.apply_account(&app, &id, config).await
}

#[tauri::command]
pub async fn load_preferences(app: AppHandle) -> Result<Preferences, EngineError> {
    blocking(&app, |phone| phone.preferences.load()).await
}

/// Validates and stores the preferences, then applies them (see `Phone::apply_preferences`).
#[tauri::command]
pub async fn save_preferences(
    app: AppHandle,
    phone: State<'_, Phone>,
    mut preferences: Preferences,
) -> Result<(), EngineError> {
    // The volume is set from the call screen, not the settings screen.
    preferences.audio.volume = phone.current().audio.volume;
    phone.apply_preferences(&app, preferences).await
}

/// Audio devices by name.
#[derive(Serialize)]
pub struct Devices {
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
}

/// The sound devices the system offers now.
pub fn devices(audio: &CpalBackend) -> Result<Devices, EngineError> {
    let (inputs, outputs) = wren_engine::list_devices(audio)?;
    let names = |d: Vec<wren_engine::DeviceInfo>| d.into_iter().map(|d| d.name).collect();
    Ok(Devices {
        inputs: names(inputs),
        outputs: names(outputs),
    })
}

#[tauri::command]
pub async fn list_devices(app: AppHandle) -> Result<Devices, EngineError> {
    blocking(&app, |phone| devices(&phone.audio)).await
}

#[tauri::command]
pub async fn test_audio(
    phone: State<'_, Phone>,
    speaker: Option<String>,
    microphone: Option<String>,
) -> Result<(), EngineError> {
    phone.engine().await?.test_audio(speaker, microphone).await
}

/// Speaker volume, 0 to 1: applied to the running call and kept for the next.
#[tauri::command]
pub async fn set_volume(
    app: AppHandle,
    phone: State<'_, Phone>,
    volume: f32,
) -> Result<(), EngineError> {
    let mut prefs = phone.current();
    prefs.audio.volume = volume;
    phone.apply_preferences(&app, prefs).await
}

#[tauri::command]
pub async fn history(
    phone: State<'_, Phone>,
    limit: u32,
) -> Result<Vec<HistoryEntry>, EngineError> {
    phone.history()?.list(limit.min(1000)).await
}

#[tauri::command]
pub async fn clear_history(phone: State<'_, Phone>) -> Result<(), EngineError> {
    // The store tells the UI (`Phone::start` forwards its changes).
    phone.history()?.clear().await
}
