//! The desktop app's account settings: what the settings screen edits, stored as JSON in the
//! profile directory. Only validated settings are written, atomically (temp file + rename), so
//! a bad value never replaces the saved file. The password never goes into that file: it goes
//! where the user chose (`secrets`: the OS keyring, this session, or an owner-only file).

use crate::config::{AccountConfig, AccountInput};
use crate::error::{EngineError, ErrorCode};
use crate::files::{self, Access};
use crate::secrets::{PasswordStorage, SecretStore};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use wren_media::CodecKind;

/// Account settings as the settings screen edits them (the UI's `AccountSettings`).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
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
    /// Where the password is kept.
    #[serde(default)]
    pub password_storage: PasswordStorage,
    /// A pinned server certificate (SHA-256, `AB:CD:...`), trusted by the user.
    #[serde(default)]
    pub trusted_certificate: Option<String>,
}

impl std::fmt::Debug for AccountSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountSettings")
            .field("server", &self.server)
            .field("sip_address", &"<redacted>")
            .field("password", &"<redacted>")
            .field("password_storage", &self.password_storage)
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
            trusted_certificate: self.trusted_certificate.clone(),
            ..Default::default()
        }
    }
}

/// The name the password is filed under in the keyring: the account's `user@domain`.
fn secret_key(account: &AccountConfig) -> String {
    format!("{}@{}", account.user, account.domain)
}

/// What goes into the file: the settings without the password, so it can't be written.
#[derive(Serialize, Deserialize)]
struct Stored {
    display_name: String,
    sip_address: String,
    auth_user: String,
    server: String,
    register_expires: u32,
    #[serde(default)]
    password_storage: PasswordStorage,
    #[serde(default)]
    trusted_certificate: Option<String>,
}

/// Settings in `DIR/settings.json`, the password wherever the user chose.
#[derive(Debug)]
pub struct SettingsStore {
    path: PathBuf,
    secrets: SecretStore,
}

impl SettingsStore {
    /// A store for the settings file in `dir` (created on the first save), with the OS
    /// secret store for passwords.
    pub fn new(dir: &Path) -> Self {
        Self::with_secrets(dir, SecretStore::new(dir))
    }

    /// A store with the given secrets (tests use a mock keyring).
    pub fn with_secrets(dir: &Path, secrets: SecretStore) -> Self {
        Self {
            path: dir.join("settings.json"),
            secrets,
        }
    }

    /// The settings file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn load_stored(&self) -> Result<Option<Stored>, EngineError> {
        let Some(text) = files::read_optional(&self.path)? else {
            return Ok(None);
        };
        serde_json::from_str(&text).map(Some).map_err(|e| {
            EngineError::new(
                ErrorCode::SettingsCorrupt,
                format!("{} is not valid settings: {e}", self.path.display()),
            )
        })
    }

    /// The saved settings with the password from where it is kept (empty when it can't be
    /// found: a new session with session storage, or a locked keyring), or `None` before
    /// the first save.
    pub fn load(&self) -> Result<Option<AccountSettings>, EngineError> {
        let Some(s) = self.load_stored()? else {
            return Ok(None);
        };
        let mut settings = AccountSettings {
            display_name: s.display_name,
            sip_address: s.sip_address,
            auth_user: s.auth_user,
            password: String::new(),
            server: s.server,
            register_expires: s.register_expires,
            password_storage: s.password_storage,
            trusted_certificate: s.trusted_certificate,
        };
        // Validation with a placeholder password only to learn the account's key.
        let probe = AccountSettings {
            password: "-".into(),
            ..settings.clone()
        };
        if let Ok(account) = probe.to_input().validate() {
            match self
                .secrets
                .load(settings.password_storage, &secret_key(&account))
            {
                Ok(pw) => settings.password = pw.unwrap_or_default(),
                Err(e) => tracing::warn!("the saved password can't be read: {e}"),
            }
        }
        Ok(Some(settings))
    }

    /// The saved account, ready to run with these codecs; `None` before the first save or
    /// when the password isn't available (the settings screen asks for it).
    pub fn account(&self, codecs: Vec<CodecKind>) -> Result<Option<AccountConfig>, EngineError> {
        let Some(settings) = self.load()? else {
            return Ok(None);
        };
        if settings.password.is_empty() {
            return Ok(None);
        }
        let mut input = settings.to_input();
        input.codecs = Some(codecs);
        input.validate().map(Some)
    }

    /// Validates, stores the password where `settings` says, then replaces the file
    /// atomically; on any error the saved file stays as it was. Returns the account to run
    /// with these codecs.
    pub fn save(
        &self,
        settings: &AccountSettings,
        codecs: Vec<CodecKind>,
    ) -> Result<AccountConfig, EngineError> {
        let mut input = settings.to_input();
        input.codecs = Some(codecs);
        let account = input.validate()?;
        let previous = self.load_stored().ok().flatten().and_then(|s| {
            AccountSettings {
                sip_address: s.sip_address,
                server: s.server,
                register_expires: s.register_expires,
                password: "-".into(),
                ..Default::default()
            }
            .to_input()
            .validate()
            .ok()
        });
        let key = secret_key(&account);
        self.secrets
            .store(settings.password_storage, &key, &settings.password)?;
        let stored = Stored {
            display_name: settings.display_name.clone(),
            sip_address: settings.sip_address.trim().to_owned(),
            auth_user: settings.auth_user.trim().to_owned(),
            server: settings.server.trim().to_owned(),
            register_expires: settings.register_expires,
            password_storage: settings.password_storage,
            trusted_certificate: account.trusted_certificate.clone(),
        };
        let json = serde_json::to_vec_pretty(&stored)
            .map_err(|e| EngineError::new(ErrorCode::SettingsIo, e.to_string()))?;
        files::write_atomic(&self.path, &json, Access::Default)?;
        if let Some(old) = previous.map(|a| secret_key(&a)).filter(|old| *old != key) {
            self.secrets.forget_keyring(&old);
        }
        Ok(account)
    }

    /// Pins the server certificate `sha256` in the saved settings; returns the account to
    /// run. `settings.missing` before the first save.
    pub fn trust(
        &self,
        sha256: &str,
        codecs: Vec<CodecKind>,
    ) -> Result<AccountConfig, EngineError> {
        let mut settings = self.load()?.ok_or_else(|| {
            EngineError::new(
                ErrorCode::SettingsMissing,
                "save the account settings first",
            )
        })?;
        settings.trusted_certificate = Some(sha256.to_owned());
        self.save(&settings, codecs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::tests::TempDir;
    use std::sync::Arc;

    const CODECS: [CodecKind; 2] = [CodecKind::Pcmu, CodecKind::Opus];

    fn settings() -> AccountSettings {
        AccountSettings {
            display_name: "Alice".into(),
            sip_address: "sip:alice@example.com".into(),
            auth_user: String::new(),
            password: "s3cret-pw".into(),
            server: "wss://pbx.example.com:8443/ws".into(),
            register_expires: 300,
            password_storage: PasswordStorage::Session,
            trusted_certificate: None,
        }
    }

    fn store_in(dir: &Path, keyring: &Arc<keyring_core::CredentialStore>) -> SettingsStore {
        SettingsStore::with_secrets(dir, SecretStore::with_keyring(dir, Ok(keyring.clone())))
    }

    #[test]
    fn settings_round_trip_and_convert() {
        let dir = TempDir::new("settings-round-trip");
        let keyring: Arc<keyring_core::CredentialStore> = keyring_core::mock::Store::new().unwrap();
        let store = store_in(&dir.0, &keyring);
        assert_eq!(store.load().unwrap(), None);
        let account = store.save(&settings(), CODECS.to_vec()).unwrap();
        assert_eq!(
            (account.user.as_str(), account.domain.as_str()),
            ("alice", "example.com")
        );
        assert_eq!(account.auth_user, "alice");
        assert_eq!(account.register_expires, 300);
        assert_eq!(account.codecs, CODECS);
        assert_eq!(store.load().unwrap(), Some(settings()));
        // A new session (a new store on the same file) has no session password, so no account
        // to start.
        let fresh = store_in(&dir.0, &keyring);
        assert_eq!(
            fresh.load().unwrap().unwrap(),
            AccountSettings {
                password: String::new(),
                ..settings()
            }
        );
        assert!(fresh.account(CODECS.to_vec()).unwrap().is_none());
    }

    #[test]
    fn a_keyring_password_starts_the_next_session() {
        let dir = TempDir::new("settings-keyring");
        let keyring: Arc<keyring_core::CredentialStore> = keyring_core::mock::Store::new().unwrap();
        let keyed = AccountSettings {
            password_storage: PasswordStorage::Keyring,
            ..settings()
        };
        store_in(&dir.0, &keyring)
            .save(&keyed, CODECS.to_vec())
            .unwrap();
        let fresh = store_in(&dir.0, &keyring);
        assert_eq!(fresh.load().unwrap(), Some(keyed));
        let account = fresh.account(vec![CodecKind::Opus]).unwrap().unwrap();
        assert_eq!(account.password, "s3cret-pw");
        assert_eq!(account.codecs, [CodecKind::Opus]);
    }

    #[test]
    fn trusting_a_certificate_pins_it_and_keeps_the_rest() {
        let dir = TempDir::new("settings-trust");
        let keyring: Arc<keyring_core::CredentialStore> = keyring_core::mock::Store::new().unwrap();
        let store = store_in(&dir.0, &keyring);
        assert_eq!(
            store
                .trust(&"AB:".repeat(32)[..95], CODECS.to_vec())
                .unwrap_err()
                .code,
            ErrorCode::SettingsMissing
        );
        store.save(&settings(), CODECS.to_vec()).unwrap();
        let fp = "ab".repeat(32);
        let account = store.trust(&fp, CODECS.to_vec()).unwrap();
        let pinned = account.trusted_certificate.clone().unwrap();
        assert_eq!(pinned.len(), 95);
        assert_eq!(
            store.load().unwrap().unwrap(),
            AccountSettings {
                trusted_certificate: Some(pinned),
                ..settings()
            }
        );
        let before = std::fs::read(store.path()).unwrap();
        let e = store
            .trust("not a fingerprint", CODECS.to_vec())
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::ConfigInvalidFingerprint);
        assert_eq!(std::fs::read(store.path()).unwrap(), before);
    }

    #[test]
    fn invalid_settings_are_refused_and_the_old_file_kept() {
        let dir = TempDir::new("settings-invalid");
        let keyring: Arc<keyring_core::CredentialStore> = keyring_core::mock::Store::new().unwrap();
        let store = store_in(&dir.0, &keyring);
        store.save(&settings(), CODECS.to_vec()).unwrap();
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
            .map(|s| store.save(s, CODECS.to_vec()).unwrap_err().code)
            .collect();
        assert_eq!(
            codes,
            [
                ErrorCode::ConfigInvalidServer,
                ErrorCode::ConfigInvalidUser,
                ErrorCode::ConfigInvalidExpires,
                ErrorCode::ConfigMissingPassword
            ]
        );
        assert_eq!(
            store.save(&settings(), Vec::new()).unwrap_err().code,
            ErrorCode::ConfigNoCodecs
        );
        assert_eq!(std::fs::read(store.path()).unwrap(), before);
        assert_eq!(store.load().unwrap(), Some(settings()));
        assert!(!store.path().with_extension("json.tmp").exists());
    }

    #[test]
    fn without_a_keyring_nothing_is_saved_and_the_code_says_why() {
        let dir = TempDir::new("settings-no-keyring");
        let store = SettingsStore::with_secrets(
            &dir.0,
            SecretStore::with_keyring(&dir.0, Err("no bus".into())),
        );
        let keyed = AccountSettings {
            password_storage: PasswordStorage::Keyring,
            ..settings()
        };
        let e = store.save(&keyed, CODECS.to_vec()).unwrap_err();
        assert_eq!(e.code, ErrorCode::SecretsUnavailable);
        assert_eq!(store.load().unwrap(), None);
        assert_eq!(std::fs::read_dir(&dir.0).unwrap().count(), 0);
    }

    #[test]
    fn the_password_is_never_in_the_settings_file() {
        let dir = TempDir::new("settings-password");
        let keyring: Arc<keyring_core::CredentialStore> = keyring_core::mock::Store::new().unwrap();
        let store = store_in(&dir.0, &keyring);
        for storage in [PasswordStorage::Keyring, PasswordStorage::Session] {
            let s = AccountSettings {
                password_storage: storage,
                ..settings()
            };
            store.save(&s, CODECS.to_vec()).unwrap();
            for entry in std::fs::read_dir(&dir.0).unwrap() {
                let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
                assert!(!text.contains("s3cret-pw"), "{storage:?}: {text}");
            }
        }
        assert!(!format!("{:?}", settings()).contains("s3cret-pw"));
    }

    #[test]
    fn a_corrupt_file_is_reported_not_replaced_by_load() {
        let dir = TempDir::new("settings-corrupt");
        let store = SettingsStore::with_secrets(
            &dir.0,
            SecretStore::with_keyring(&dir.0, Err("none".into())),
        );
        std::fs::write(store.path(), "{not json").unwrap();
        assert_eq!(store.load().unwrap_err().code, ErrorCode::SettingsCorrupt);
        assert_eq!(std::fs::read_to_string(store.path()).unwrap(), "{not json");
    }
}
