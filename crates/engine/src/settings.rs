//! The desktop app's account settings: what the settings screen edits, stored as JSON in the
//! profile directory. Only validated settings are written, atomically (temp file + rename), so
//! a bad value never replaces the saved file. The password is never written: it lives in
//! memory for this session only; the OS keyring (the `keyring` crate) comes next.

use crate::config::{AccountConfig, AccountInput};
use crate::error::EngineError;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Account settings as the settings screen edits them (the UI's `AccountSettings`).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountSettings {
    pub display_name: String,
    /// `user@domain`, with or without a `sip:` prefix.
    pub sip_address: String,
    /// Empty means "the user part of the SIP address".
    pub auth_user: String,
    pub password: String,
    /// `wss://host[:port][/path]` or `ws://...`.
    pub server: String,
    pub register_expires: u32,
}

impl std::fmt::Debug for AccountSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountSettings")
            .field("server", &self.server)
            .field("sip_address", &"<redacted>")
            .field("password", &"<redacted>")
            .finish()
    }
}

impl AccountSettings {
    /// The engine's input: `sip:user@domain` splits into user and domain; empty means unset.
    pub fn to_input(&self) -> AccountInput {
        let address = self.sip_address.trim();
        let address = ["sip:", "sips:"]
            .iter()
            .find_map(|p| {
                address
                    .get(..p.len())
                    .filter(|head| head.eq_ignore_ascii_case(p))
                    .map(|_| &address[p.len()..])
            })
            .unwrap_or(address);
        let (user, domain) = match address.split_once('@') {
            Some((u, d)) => (u, Some(d.to_owned())),
            None => (address, None),
        };
        let non_empty = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        AccountInput {
            server: self.server.clone(),
            user: user.to_owned(),
            domain,
            auth_user: non_empty(&self.auth_user),
            password: self.password.clone(),
            display_name: non_empty(&self.display_name),
            register_expires: Some(self.register_expires),
            ..Default::default()
        }
    }
}

/// What goes into the file: the settings without the password, so it can't be written.
#[derive(Serialize, Deserialize)]
struct Stored {
    display_name: String,
    sip_address: String,
    auth_user: String,
    server: String,
    register_expires: u32,
}

/// Settings in `DIR/settings.json`, plus this session's password.
#[derive(Debug)]
pub struct SettingsStore {
    path: PathBuf,
    /// Held for the session only; the keyring comes next.
    password: Mutex<String>,
}

fn io_error(what: &str, path: &Path, e: impl std::fmt::Display) -> EngineError {
    EngineError::new(
        "settings.io",
        format!("could not {what} {}: {e}", path.display()),
    )
}

impl SettingsStore {
    /// A store for the settings file in `dir` (created on the first save).
    pub fn new(dir: &Path) -> Self {
        Self {
            path: dir.join("settings.json"),
            password: Mutex::new(String::new()),
        }
    }

    /// The settings file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved settings (with this session's password, if one was saved), or `None`
    /// before the first save.
    pub fn load(&self) -> Result<Option<AccountSettings>, EngineError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error("read", &self.path, e)),
        };
        let s: Stored = serde_json::from_str(&text).map_err(|e| {
            EngineError::new(
                "settings.corrupt",
                format!("{} is not valid settings: {e}", self.path.display()),
            )
        })?;
        Ok(Some(AccountSettings {
            display_name: s.display_name,
            sip_address: s.sip_address,
            auth_user: s.auth_user,
            password: self.session_password(),
            server: s.server,
            register_expires: s.register_expires,
        }))
    }

    /// Validates, then replaces the file atomically and keeps the password in memory; on
    /// any error the saved file stays as it was. Returns the account to run.
    pub fn save(&self, settings: &AccountSettings) -> Result<AccountConfig, EngineError> {
        let account = settings.to_input().validate()?;
        let stored = Stored {
            display_name: settings.display_name.clone(),
            sip_address: settings.sip_address.trim().to_owned(),
            auth_user: settings.auth_user.trim().to_owned(),
            server: settings.server.trim().to_owned(),
            register_expires: settings.register_expires,
        };
        let json = serde_json::to_vec_pretty(&stored)
            .map_err(|e| EngineError::new("settings.io", e.to_string()))?;
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io_error("create", dir, e))?;
        }
        let tmp = self.path.with_extension("json.tmp");
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&json)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        };
        if let Err(e) = write() {
            let _ = std::fs::remove_file(&tmp);
            return Err(io_error("write", &self.path, e));
        }
        *self.password.lock().unwrap_or_else(|p| p.into_inner()) = settings.password.clone();
        Ok(account)
    }

    fn session_password(&self) -> String {
        self.password
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!(
                "wren-settings-{name}-{}-{:?}",
                std::process::id(),
                std::time::SystemTime::now()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn settings() -> AccountSettings {
        AccountSettings {
            display_name: "Alice".into(),
            sip_address: "sip:alice@example.com".into(),
            auth_user: String::new(),
            password: "s3cret-pw".into(),
            server: "wss://pbx.example.com:8443/ws".into(),
            register_expires: 300,
        }
    }

    #[test]
    fn settings_round_trip_and_convert() {
        let dir = TempDir::new("round-trip");
        let store = SettingsStore::new(&dir.0);
        assert_eq!(store.load().unwrap(), None);
        let account = store.save(&settings()).unwrap();
        assert_eq!(
            (account.user.as_str(), account.domain.as_str()),
            ("alice", "example.com")
        );
        assert_eq!(account.auth_user, "alice");
        assert_eq!(account.register_expires, 300);
        assert_eq!(store.load().unwrap(), Some(settings()));
        // A new session (a new store on the same file) has no password.
        let fresh = SettingsStore::new(&dir.0).load().unwrap().unwrap();
        assert_eq!(
            fresh,
            AccountSettings {
                password: String::new(),
                ..settings()
            }
        );
    }

    #[test]
    fn invalid_settings_are_refused_and_the_old_file_kept() {
        let dir = TempDir::new("invalid");
        let store = SettingsStore::new(&dir.0);
        store.save(&settings()).unwrap();
        let before = std::fs::read(store.path()).unwrap();
        let bad = [
            AccountSettings {
                server: "http://x".into(),
                ..settings()
            },
            AccountSettings {
                sip_address: "al ice@example.com".into(),
                ..settings()
            },
            AccountSettings {
                register_expires: 5,
                ..settings()
            },
            AccountSettings {
                password: String::new(),
                ..settings()
            },
        ];
        let codes: Vec<_> = bad
            .iter()
            .map(|s| store.save(s).unwrap_err().code)
            .collect();
        assert_eq!(
            codes,
            [
                "config.invalid_server",
                "config.invalid_user",
                "config.invalid_expires",
                "config.missing_password"
            ]
        );
        assert_eq!(std::fs::read(store.path()).unwrap(), before);
        assert_eq!(store.load().unwrap(), Some(settings()));
        assert!(!store.path().with_extension("json.tmp").exists());
    }

    #[test]
    fn the_password_is_never_written() {
        let dir = TempDir::new("password");
        let store = SettingsStore::new(&dir.0);
        store.save(&settings()).unwrap();
        for entry in std::fs::read_dir(&dir.0).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            assert!(!text.contains("s3cret-pw"), "{text}");
            assert!(!text.contains("password"), "{text}");
        }
        assert!(!format!("{:?}", settings()).contains("s3cret-pw"));
    }

    #[test]
    fn a_corrupt_file_is_reported_not_replaced_by_load() {
        let dir = TempDir::new("corrupt");
        let store = SettingsStore::new(&dir.0);
        std::fs::write(store.path(), "{not json").unwrap();
        assert_eq!(store.load().unwrap_err().code, "settings.corrupt");
        assert_eq!(std::fs::read_to_string(store.path()).unwrap(), "{not json");
    }
}
