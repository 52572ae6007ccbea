//! The app's place on the desktop: the tray icon (registration state, Show/Hide, Do not
//! disturb, Quit), notifications for incoming and missed calls, dial links, closing to the
//! tray, start at login, and watching for sound devices that come and go.

use crate::links::dial_target;
use crate::phone::Phone;
use serde::Serialize;
use std::time::Duration;
use tauri::image::Image;
use tauri::menu::{CheckMenuItem, Menu, MenuItem};
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{AppHandle, Emitter, Manager, Window, WindowEvent, Wry};
use tauri_plugin_autostart::ManagerExt as _;
use tauri_plugin_notification::NotificationExt as _;
use wren_engine::{Direction, EventKind, HistoryEntry, HistoryOutcome, RegistrationState};

/// A link asked to dial (the UI's `DialRequest`).
pub const DIAL_REQUEST_EVENT: &str = "dial-request";
/// A sound device appeared or went away.
pub const DEVICES_CHANGED_EVENT: &str = "devices-changed";
/// How often the device list is compared while the window is visible.
const DEVICE_POLL: Duration = Duration::from_secs(4);

#[derive(Clone, Serialize)]
struct DialRequest {
    target: String,
    confirm: bool,
}

/// The tray icon and the menu item that mirrors do-not-disturb.
pub struct Tray {
    icon: TrayIcon,
    dnd: CheckMenuItem<Wry>,
    base: Image<'static>,
}

/// The registration state as a dot colour on the tray icon, and words for its tooltip.
fn status_look(state: &RegistrationState) -> ([u8; 3], &'static str) {
    match state {
        RegistrationState::Registered { .. } => ([0x2e, 0xa0, 0x43], "Registered"),
        RegistrationState::Registering => ([0xd9, 0x8e, 0x04], "Registering"),
        RegistrationState::Failed { .. } => ([0xcf, 0x22, 0x2e], "Registration failed"),
        RegistrationState::Unregistered => ([0x8c, 0x95, 0x9f], "Not registered"),
    }
}

/// The app icon with a status dot in its lower right quarter.
fn with_dot(base: &Image<'_>, rgb: [u8; 3]) -> Image<'static> {
    let (w, h) = (base.width(), base.height());
    let mut rgba = base.rgba().to_vec();
    let r = w.min(h) as f32 * 0.22;
    let (cx, cy) = (w as f32 - r - 1.0, h as f32 - r - 1.0);
    for y in 0..h {
        for x in 0..w {
            let d = ((x as f32 + 0.5 - cx).powi(2) + (y as f32 + 0.5 - cy).powi(2)).sqrt();
            if d <= r {
                let i = ((y * w + x) * 4) as usize;
                let px = if d > r - 1.5 { [255, 255, 255] } else { rgb };
                rgba[i..i + 4].copy_from_slice(&[px[0], px[1], px[2], 255]);
            }
        }
    }
    Image::new_owned(rgba, w, h)
}

/// Builds the tray icon; the app runs without one where the desktop has no tray.
pub fn install_tray(app: &AppHandle) -> tauri::Result<()> {
    let dnd_on = app.state::<Phone>().current().app.do_not_disturb;
    let show = MenuItem::with_id(app, "show", "Show/Hide", true, None::<&str>)?;
    let dnd = CheckMenuItem::with_id(app, "dnd", "Do not disturb", true, dnd_on, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?;
    let menu = Menu::with_items(app, &[&show, &dnd, &quit])?;
    let base = app
        .default_window_icon()
        .cloned()
        .map(Image::to_owned)
        .unwrap_or_else(|| Image::new_owned(vec![0; 32 * 32 * 4], 32, 32));
    let (rgb, words) = status_look(&RegistrationState::Unregistered);
    let icon = TrayIconBuilder::with_id("wren")
        .icon(with_dot(&base, rgb))
        .tooltip(format!("Wren: {words}"))
        .menu(&menu)
        .on_menu_event(|app, event| match event.id.as_ref() {
            "show" => toggle_window(app),
            "dnd" => {
                let app = app.clone();
                tauri::async_runtime::spawn(async move { toggle_dnd(&app).await });
            }
            "quit" => {
                let app = app.clone();
                tauri::async_runtime::spawn(async move {
                    app.state::<Phone>().shutdown().await;
                    app.exit(0);
                });
            }
            _ => {}
        })
        .build(app)?;
    app.manage(Tray { icon, dnd, base });
    Ok(())
}

fn toggle_window(app: &AppHandle) {
    if let Some(w) = app.get_webview_window("main") {
        if w.is_visible().unwrap_or(false) {
            let _ = w.hide();
        } else {
            raise(app);
        }
    }
}

/// Shows, unminimises and focuses the main window.
pub fn raise(app: &AppHandle) {
    if let Some(w) = app.get_webview_window("main") {
        let _ = w.show();
        let _ = w.unminimize();
        let _ = w.set_focus();
    }
}

async fn toggle_dnd(app: &AppHandle) {
    let phone = app.state::<Phone>();
    let mut prefs = phone.current();
    prefs.app.do_not_disturb = !prefs.app.do_not_disturb;
    // Saving applies it to the engine and sets the tray's check (preferences_changed).
    if let Err(e) = phone.apply_preferences(app, prefs).await {
        tracing::warn!("do not disturb not changed: {e}");
    }
}

/// Follows an engine event: the tray shows the registration state; an incoming call raises
/// the window and, if wanted, notifies with the caller.
pub fn engine_event(app: &AppHandle, kind: &EventKind) {
    match kind {
        EventKind::Registration { state, .. } => {
            if let Some(tray) = app.try_state::<Tray>() {
                let (rgb, words) = status_look(state);
                let _ = tray.icon.set_icon(Some(with_dot(&tray.base, rgb)));
                let _ = tray.icon.set_tooltip(Some(format!("Wren: {words}")));
            }
        }
        EventKind::CallAdded {
            direction: Direction::Incoming,
            remote,
            ..
        } => {
            raise(app);
            notify(app, "Incoming call", remote);
        }
        _ => {}
    }
}

/// A finished call: a missed one is notified.
pub fn call_finished(app: &AppHandle, entry: &HistoryEntry) {
    if entry.outcome == HistoryOutcome::Missed {
        notify(app, "Missed call", &entry.remote);
    }
}

/// The caller as people read it: `"Carol" <sip:carol@host>` shows as `Carol (carol@host)`.
fn caller_label(remote: &str) -> String {
    let uri_part = |s: &str| {
        let s = s.trim().trim_start_matches('<').trim_end_matches('>');
        let s = s.split(';').next().unwrap_or(s);
        s.strip_prefix("sip:")
            .or_else(|| s.strip_prefix("sips:"))
            .unwrap_or(s)
            .to_owned()
    };
    match remote.split_once('<') {
        Some((name, uri)) if !name.trim().trim_matches('"').is_empty() => {
            format!("{} ({})", name.trim().trim_matches('"'), uri_part(uri))
        }
        _ => uri_part(remote),
    }
}

fn notify(app: &AppHandle, title: &str, remote: &str) {
    if !app.state::<Phone>().current().app.notifications {
        return;
    }
    if let Err(e) = app
        .notification()
        .builder()
        .title(title)
        .body(caller_label(remote))
        .show()
    {
        tracing::warn!("no notification shown: {e}");
    }
}

/// Applies what the OS owns after the preferences changed: start at login, the tray's
/// do-not-disturb check.
pub fn preferences_changed(
    app: &AppHandle,
    before: &wren_engine::Preferences,
    after: &wren_engine::Preferences,
) {
    if before.app.start_at_login != after.app.start_at_login {
        let launcher = app.autolaunch();
        let done = if after.app.start_at_login {
            launcher.enable()
        } else {
            launcher.disable()
        };
        if let Err(e) = done {
            tracing::warn!("start at login not changed: {e}");
        }
    }
    if let Some(tray) = app.try_state::<Tray>() {
        let _ = tray.dnd.set_checked(after.app.do_not_disturb);
    }
}

/// A `sip:`/`tel:`/... link was opened (at launch or in a second instance): raise the window
/// and ask the UI to dial, confirming first if the user wants that.
pub fn open_links(app: &AppHandle, links: impl IntoIterator<Item = String>) {
    for link in links {
        let Some(target) = dial_target(&link) else {
            tracing::warn!("ignored a link that is not a dial link");
            continue;
        };
        raise(app);
        let confirm = app.state::<Phone>().current().app.confirm_links;
        let _ = app.emit(DIAL_REQUEST_EVENT, DialRequest { target, confirm });
    }
}

/// Links on a command line (the desktop entry's `wren-desktop %u`, or after `--profile DIR`),
/// at launch or forwarded by a second launch. The deep-link plugin has no schemes configured,
/// so on Linux it never reports these itself (it would only take a lone argument, and a link
/// would then be dialled twice); the desktop entry registers the schemes.
pub fn open_links_in_args(app: &AppHandle, args: Vec<String>) {
    let links = args
        .into_iter()
        .skip(1)
        .filter(|a| dial_target(a).is_some());
    open_links(app, links);
}

/// Closing the window hides it when the user chose "close to tray".
pub fn window_event(window: &Window, event: &WindowEvent) {
    if let WindowEvent::CloseRequested { api, .. } = event {
        let app = window.app_handle();
        let to_tray = app.state::<Phone>().current().app.close_to_tray;
        if to_tray && app.try_state::<Tray>().is_some() {
            api.prevent_close();
            let _ = window.hide();
        }
    }
}

/// SIGTERM (a session logging out, a service manager) and SIGINT quit the app the normal way,
/// so it unregisters first.
pub fn exit_on_signals(app: AppHandle) {
    #[cfg(unix)]
    tauri::async_runtime::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            tracing::warn!("no signal handlers: SIGTERM ends the app without unregistering");
            return;
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: quitting"),
            _ = int.recv() => tracing::info!("SIGINT: quitting"),
        }
        app.exit(0);
    });
}

/// Compares the device list every few seconds while the window is visible and tells the UI
/// when it changed.
pub fn watch_devices(app: AppHandle) {
    tauri::async_runtime::spawn(async move {
        let mut last = None;
        loop {
            tokio::time::sleep(DEVICE_POLL).await;
            let visible = app
                .get_webview_window("main")
                .and_then(|w| w.is_visible().ok())
                .unwrap_or(false);
            if !visible {
                continue;
            }
            let audio = app.state::<Phone>().audio.clone();
            let list = move || crate::commands::devices(&audio);
            let Ok(Ok(now)) = tauri::async_runtime::spawn_blocking(list).await else {
                continue;
            };
            let names = (now.inputs, now.outputs);
            if last.as_ref().is_some_and(|l| *l != names) {
                let _ = app.emit(DEVICES_CHANGED_EVENT, ());
            }
            last = Some(names);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::caller_label;

    #[test]
    fn callers_read_as_name_and_address() {
        assert_eq!(
            caller_label("\"Carol\" <sip:carol@127.0.0.1;transport=udp>"),
            "Carol (carol@127.0.0.1)"
        );
        assert_eq!(caller_label("<sip:bob@example.com>"), "bob@example.com");
        assert_eq!(caller_label("sip:1234@pbx"), "1234@pbx");
    }
}
