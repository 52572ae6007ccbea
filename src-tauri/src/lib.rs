//! wren-desktop: the Tauri shell. It resolves the profile directory, installs the plugins,
//! opens the window and routes the UI's commands to `wren-engine` (see `commands`).

mod commands;
mod links;
mod os;
mod phone;
pub mod profile;

use phone::Phone;
use std::path::Path;
use tauri::{Manager, WebviewUrl, WebviewWindowBuilder};
use tauri_plugin_deep_link::DeepLinkExt;

/// Logs go to `DIR/wren.log` (only the user may read it: it names calls and servers);
/// `WREN_LOG` sets the filter as for the CLI, within the rules of `wren_engine::logging`.
fn init_logs(dir: &Path) -> std::io::Result<()> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    std::fs::create_dir_all(dir)?;
    let path = dir.join("wren.log");
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        // A file from an older version may have the umask's mode.
        if path.exists() {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    let file = options.open(&path)?;
    let filter = tracing_subscriber::EnvFilter::try_from_env("WREN_LOG")
        .unwrap_or_else(|_| "info,ezk_sip_auth=error".into());
    let _ = tracing_subscriber::fmt()
        .with_writer(std::sync::Mutex::new(
            wren_engine::logging::SafeWriter::new(file),
        ))
        .with_ansi(false)
        .with_env_filter(filter)
        .finish()
        .with(tracing_subscriber::filter::filter_fn(
            wren_engine::logging::quiet_crates,
        ))
        .try_init();
    Ok(())
}

/// `identifier` in tauri.conf.json.
const IDENTIFIER: &str = "org.wren.softphone";

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
        // With its deep-link feature, a second launch's links arrive through `on_open_url`.
        .plugin(
            tauri_plugin_single_instance::Builder::new()
                .dbus_id(profile::instance_id(IDENTIFIER, profile.as_deref()))
                .callback(|app, args, _cwd| {
                    os::raise(app);
                    os::open_links_in_args(app, args);
                })
                .build(),
        )
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
            app.manage(Phone::open(&dir));
            WebviewWindowBuilder::new(app, "main", WebviewUrl::default())
                .title("Wren")
                .inner_size(420.0, 680.0)
                .data_directory(dir.join("webview"))
                .build()?;
            let handle = app.handle().clone();
            if let Err(e) = os::install_tray(&handle) {
                // A desktop without a tray still gets the window.
                tracing::warn!("no tray icon: {e}");
            }
            let links = handle.clone();
            app.deep_link().on_open_url(move |event| {
                os::open_links(&links, event.urls().into_iter().map(String::from));
            });
            if let Ok(Some(urls)) = app.deep_link().get_current() {
                os::open_links(&handle, urls.into_iter().map(String::from));
            }
            os::open_links_in_args(&handle, std::env::args().collect());
            os::watch_devices(handle.clone());
            os::exit_on_signals(handle.clone());
            tauri::async_runtime::spawn(async move {
                if let Err(e) = handle.state::<Phone>().start_saved(&handle).await {
                    tracing::warn!("the saved account did not start: {e}");
                }
            });
            Ok(())
        })
        .on_window_event(os::window_event)
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
            commands::focus_call,
            commands::merge_calls,
            commands::split_call,
            commands::transfer_attended,
            commands::list_accounts,
            commands::save_account,
            commands::remove_account,
            commands::set_default_account,
            commands::trust_certificate,
            commands::load_preferences,
            commands::save_preferences,
            commands::list_devices,
            commands::test_audio,
            commands::set_volume,
            commands::history,
            commands::clear_history,
        ])
        .build(tauri::generate_context!())
        .expect("the Tauri app failed to start")
        .run(|app, event| {
            // Quitting unregisters and hangs up (bounded by the engine's shutdown grace), so
            // the server stops routing calls to a softphone that is gone.
            if let tauri::RunEvent::Exit = event {
                tauri::async_runtime::block_on(app.state::<Phone>().shutdown());
            }
        });
}
