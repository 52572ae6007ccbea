//! Generates the Tauri context, and `allow-<command>` permissions for our own commands so the
//! capability can list exactly the ones the UI uses.

const COMMANDS: &[&str] = &[
    "snapshot",
    "register",
    "unregister",
    "call",
    "answer",
    "reject",
    "hangup",
    "set_muted",
    "set_held",
    "send_dtmf",
    "transfer",
    "focus_call",
    "merge_calls",
    "split_call",
    "transfer_attended",
    "list_accounts",
    "save_account",
    "remove_account",
    "set_default_account",
    "trust_certificate",
    "load_preferences",
    "save_preferences",
    "list_devices",
    "test_audio",
    "set_volume",
    "history",
    "clear_history",
];

fn main() {
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .expect("tauri build step failed");
}
