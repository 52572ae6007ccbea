//! wren-desktop: the Tauri shell. It resolves the profile directory, installs the plugins,
//! opens the window and routes the UI's commands to `wren-engine` (see `commands`).

mod commands;
mod phone;
pub mod profile;

use phone::Phone;
use std::path::Path;
use tauri::{Manager, WebviewUrl, WebviewWindowBuilder};
use wren_engine::SettingsStore;

/// Logs go to `DIR/wren.log`; `WREN_LOG` sets the filter as for the CLI.
fn init_logs(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("wren.log"))?;
    let mut filter = tracing_subscriber::EnvFilter::try_from_env("WREN_LOG")
        .unwrap_or_else(|_| "info,ezk_sip_auth=error".into());
    for cap in wren_engine::LOG_CAPS {
        if let Ok(directive) = cap.parse() {
            filter = filter.add_directive(directive);
        }
    }
    let _ = tracing_subscriber::fmt()
        .with_writer(std::sync::Mutex::new(file))
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init();
    Ok(())
}

/// Runs the app until its window closes.
pub fn run() {
    let profile =
        profile::requested_profile(std::env::args_os(), std::env::var_os("WREN_PROFILE_DIR"));
    let mut window_state = tauri_plugin_window_state::Builder::new();
    if let Some(dir) = &profile {
        // An absolute file name replaces the plugin's default directory.
        window_state = window_state.with_filename(dir.join("window-state.json").to_string_lossy());
    }
    tauri::Builder::default()
        // First, so a second launch only focuses the running one (and hands it deep links).
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
            if let Some(window) = app.get_webview_window("main") {
                let _ = window.unminimize();
                let _ = window.set_focus();
            }
        }))
        .plugin(tauri_plugin_deep_link::init())
        .plugin(tauri_plugin_notification::init())
        .plugin(window_state.build())
        // Registered but off: nothing enables it until the user asks.
        .plugin(tauri_plugin_autostart::Builder::new().build())
        .setup(move |app| {
            let dir = match profile {
                Some(dir) => dir,
                None => app.path().app_config_dir()?,
            };
            std::fs::create_dir_all(&dir)?;
            init_logs(&dir.join("logs"))?;
            tracing::info!("profile in {}", dir.display());
            app.manage(Phone::new(SettingsStore::new(&dir)));
            WebviewWindowBuilder::new(app, "main", WebviewUrl::default())
                .title("Wren")
                .inner_size(420.0, 680.0)
                .data_directory(dir.join("webview"))
                .build()?;
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::snapshot,
            commands::register,
            commands::unregister,
            commands::call,
            commands::answer,
            commands::reject,
            commands::hangup,
            commands::set_muted,
            commands::set_held,
            commands::send_dtmf,
            commands::transfer,
            commands::load_settings,
            commands::save_settings,
        ])
        .run(tauri::generate_context!())
        .expect("the Tauri app failed to start");
}
