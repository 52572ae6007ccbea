//! The desktop app's accounts: what the settings screen edits, stored as JSON in the profile
//! directory (`settings.json`: a list of accounts and which is the default). Only validated
//! settings are written, atomically (temp file + rename), so a bad value never replaces the
//! saved file. A password never goes into that file, and never back to the UI: it goes where
//! the user chose for that account (`secrets`: the OS keyring, this session, or an owner-only
//! file), and the list only says whether there is one.
//!
//! The first version of the file held one account as its top-level object; it is read as the
//! list with that one account (id `1`) and written as a list at the next change.

use crate::config::{AccountConfig, AccountInput};
use crate::error::{EngineError, ErrorCode};
use crate::event::AccountId;
use crate::files::{self, Access};
use crate::secrets::{PasswordStorage, SecretKey, SecretStore};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use wren_media::CodecKind;

fn yes() -> bool {
    true
}

/// One account as the settings screen edits it (the UI's `AccountSettings`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct AccountSettings {
    /// The account's id in the settings; empty for an account not saved yet (saving mints
    /// one).
    #[serde(default)]
    pub id: String,
    /// A disabled account stays in the list but neither registers nor calls.
    #[serde(default = "yes")]
    pub enabled: bool,
    pub display_name: String,
    /// `user@domain`, with or without a `sip:` prefix.
    pub sip_address: String,
    /// Empty means "the user part of the SIP address".
    pub auth_user: String,
    /// On save, a new password, or empty to keep the saved one. Always empty when listed.
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
    /// The user chose to connect without encryption (`ws://`): the password's digest, who
    /// calls whom and the media keys travel readable by anyone on the path.
    #[serde(default)]
    pub allow_insecure: bool,
}

impl Default for AccountSettings {
    fn default() -> Self {
        Self {
            id: String::new(),
            enabled: true,
            display_name: String::new(),
            sip_address: String::new(),
            auth_user: String::new(),
            password: String::new(),
            server: String::new(),
            register_expires: 600,
            password_storage: PasswordStorage::default(),
            trusted_certificate: None,
            allow_insecure: false,
        }
    }
}

impl std::fmt::Debug for AccountSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountSettings")
            .field("id", &self.id)
            .field("enabled", &self.enabled)
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

/// One saved account as the settings screen lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct SavedAccount {
    /// Its settings, with an empty password.
    pub settings: AccountSettings,
    /// Whether its password is at hand (saved, and readable now: a session password is gone
    /// after a restart, a locked keyring can't be read).
    pub has_password: bool,
    /// Its id in the running engine, when it runs there (the shell fills this in).
    pub engine: Option<AccountId>,
}

/// Every saved account, in the order they were added, and the default one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct SavedAccounts {
    pub accounts: Vec<SavedAccount>,
    /// The id of the account calls go from unless the user picks another.
    pub default_account: Option<String>,
}

/// The name a password is filed under in the keyring: the account's `user@domain`.
fn secret_name(account: &AccountConfig) -> String {
    format!("{}@{}", account.user, account.domain)
}

/// One account in the file: its settings without the password, so it can't be written.
#[derive(Serialize, Deserialize)]
struct Stored {
    #[serde(default)]
    id: String,
    #[serde(default = "yes")]
    enabled: bool,
    display_name: String,
    sip_address: String,
    auth_user: String,
    server: String,
    register_expires: u32,
    #[serde(default)]
    password_storage: PasswordStorage,
    #[serde(default)]
    trusted_certificate: Option<String>,
    #[serde(default)]
    allow_insecure: bool,
}

impl Stored {
    fn from_settings(id: String, s: &AccountSettings, account: &AccountConfig) -> Self {
        Self {
            id,
            enabled: s.enabled,
            display_name: s.display_name.clone(),
            sip_address: s.sip_address.trim().to_owned(),
            auth_user: s.auth_user.trim().to_owned(),
            server: s.server.trim().to_owned(),
            register_expires: s.register_expires,
            password_storage: s.password_storage,
            trusted_certificate: account.trusted_certificate.clone(),
            allow_insecure: s.allow_insecure,
        }
    }

    fn settings(&self) -> AccountSettings {
        AccountSettings {
            id: self.id.clone(),
            enabled: self.enabled,
            display_name: self.display_name.clone(),
            sip_address: self.sip_address.clone(),
            auth_user: self.auth_user.clone(),
            password: String::new(),
            server: self.server.clone(),
            register_expires: self.register_expires,
            password_storage: self.password_storage,
            trusted_certificate: self.trusted_certificate.clone(),
            allow_insecure: self.allow_insecure,
        }
    }

    /// The keyring name, when the saved address is valid (it was when saved).
    fn secret_name(&self) -> Option<String> {
        let probe = AccountSettings {
            password: "-".into(),
            ..self.settings()
        };
        probe.to_input().validate().ok().map(|a| secret_name(&a))
    }
}

/// The whole file.
#[derive(Default, Serialize, Deserialize)]
struct StoredFile {
    version: u32,
    #[serde(default)]
    default_account: Option<String>,
    /// Ids are never reused, so nothing left of a removed account is taken for a new one's.
    #[serde(default)]
    next_id: u64,
    accounts: Vec<Stored>,
}

impl StoredFile {
    /// Where account `id` is in the list, or `settings.unknown_account`.
    fn position(&self, id: &str) -> Result<usize, EngineError> {
        self.accounts
            .iter()
            .position(|a| a.id == id)
            .ok_or_else(|| unknown(id))
    }

    fn get(&self, id: &str) -> Result<&Stored, EngineError> {
        self.position(id).map(|i| &self.accounts[i])
    }
}

const VERSION: u32 = 2;

fn valid_id(id: &str) -> bool {
    (1..=32).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn unknown(id: &str) -> EngineError {
    EngineError::new(
        ErrorCode::SettingsUnknownAccount,
        format!("no saved account has the id {id:?}"),
    )
}

/// The accounts in `DIR/settings.json`, their passwords wherever the user chose.
#[derive(Debug)]
pub struct SettingsStore {
    path: PathBuf,
    secrets: SecretStore,
    /// One change at a time: each reads the file, changes it and writes it back.
    lock: Mutex<()>,
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
            lock: Mutex::new(()),
        }
    }

    /// The settings file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn corrupt(&self, why: impl std::fmt::Display) -> EngineError {
        EngineError::new(
            ErrorCode::SettingsCorrupt,
            format!("{} is not valid settings: {why}", self.path.display()),
        )
    }

    /// The file as saved; a first-version file (one account) is read as a list of it.
    fn read(&self) -> Result<StoredFile, EngineError> {
        let Some(text) = files::read_optional(&self.path)? else {
            return Ok(StoredFile {
                version: VERSION,
                ..Default::default()
            });
        };
        let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| self.corrupt(e))?;
        let file = if value.get("accounts").is_some() {
            serde_json::from_value::<StoredFile>(value).map_err(|e| self.corrupt(e))?
        } else {
            let mut one: Stored = serde_json::from_value(value).map_err(|e| self.corrupt(e))?;
            one.id = "1".into();
            if one.password_storage == PasswordStorage::File {
                self.adopt_first_password_file(&one.id)?;
            }
            StoredFile {
                version: VERSION,
                default_account: Some(one.id.clone()),
                next_id: 2,
                accounts: vec![one],
            }
        };
        let mut seen = std::collections::HashSet::new();
        if let Some(bad) = file
            .accounts
            .iter()
            .find(|a| !valid_id(&a.id) || !seen.insert(a.id.as_str()))
        {
            return Err(self.corrupt(format!(
                "the account id {:?} is invalid or repeated",
                bad.id
            )));
        }
        Ok(file)
    }

    /// The first version kept a `File` password in `DIR/password`: it becomes account 1's.
    fn adopt_first_password_file(&self, id: &str) -> Result<(), EngineError> {
        let old = self.path.with_file_name("password");
        let new = self.secrets.file(id);
        if old.exists() && !new.exists() {
            match std::fs::rename(&old, &new) {
                // Another reader moved it first.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                other => other.map_err(|e| files::io_error("move", &old, e))?,
            }
        }
        Ok(())
    }

    fn write(&self, file: &StoredFile) -> Result<(), EngineError> {
        let json = serde_json::to_vec_pretty(file)
            .map_err(|e| EngineError::new(ErrorCode::SettingsIo, e.to_string()))?;
        files::write_atomic(&self.path, &json, Access::Default)
    }

    fn guard(&self) -> std::sync::MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The saved password of `stored`, if it is at hand.
    fn password_of(&self, stored: &Stored) -> Option<String> {
        let name = stored.secret_name()?;
        let key = SecretKey {
            name: &name,
            id: &stored.id,
        };
        match self.secrets.load(stored.password_storage, key) {
            Ok(pw) => pw.filter(|pw| !pw.is_empty()),
            Err(e) => {
                tracing::warn!("a saved password can't be read: {e}");
                None
            }
        }
    }

    /// Every saved account (passwords left out) and the default one.
    pub fn list(&self) -> Result<SavedAccounts, EngineError> {
        let file = self.read()?;
        Ok(SavedAccounts {
            accounts: file
                .accounts
                .iter()
                .map(|a| SavedAccount {
                    settings: a.settings(),
                    has_password: self.password_of(a).is_some(),
                    engine: None,
                })
                .collect(),
            default_account: file.default_account,
        })
    }

    fn runnable(&self, stored: &Stored, codecs: &[CodecKind]) -> Option<AccountConfig> {
        if !stored.enabled {
            return None;
        }
        let server = stored.server.trim();
        if !stored.allow_insecure
            && server
                .get(..5)
                .is_some_and(|p| p.eq_ignore_ascii_case("ws://"))
        {
            // Saved before the choice existed (the first file version): not run until the
            // user chooses, in the settings.
            tracing::warn!("an account on ws:// waits for the user to allow it unencrypted");
            return None;
        }
        let mut input = stored.settings().to_input();
        input.password = self.password_of(stored)?;
        input.codecs = Some(codecs.to_vec());
        input
            .validate()
            .map_err(|e| tracing::warn!("a saved account can't run: {e}"))
            .ok()
    }

    /// The enabled accounts whose passwords are at hand, ready to run with these codecs, in
    /// the order they were added (the settings screen asks for the other passwords).
    pub fn accounts(
        &self,
        codecs: &[CodecKind],
    ) -> Result<Vec<(String, AccountConfig)>, EngineError> {
        let file = self.read()?;
        Ok(file
            .accounts
            .iter()
            .filter_map(|a| Some((a.id.clone(), self.runnable(a, codecs)?)))
            .collect())
    }

    /// Account `id` ready to run, or `None` when it is disabled or has no password at hand.
    pub fn account(
        &self,
        id: &str,
        codecs: &[CodecKind],
    ) -> Result<Option<AccountConfig>, EngineError> {
        let file = self.read()?;
        let stored = file.get(id)?;
        Ok(self.runnable(stored, codecs))
    }

    /// Validates `settings` and saves them: a new account when `id` is empty, else a change
    /// to that one (an empty password keeps the saved one, moved if the storage changed).
    /// The password goes where the settings say, then the file is replaced atomically; on any
    /// error the saved file stays as it was. Returns the account's id and, when it is
    /// enabled, the account to run with these codecs.
    pub fn save(
        &self,
        settings: &AccountSettings,
        codecs: &[CodecKind],
    ) -> Result<(String, Option<AccountConfig>), EngineError> {
        let _guard = self.guard();
        self.save_locked(settings, codecs)
    }

    /// [`SettingsStore::save`], the lock held by the caller.
    fn save_locked(
        &self,
        settings: &AccountSettings,
        codecs: &[CodecKind],
    ) -> Result<(String, Option<AccountConfig>), EngineError> {
        let mut file = self.read()?;
        let index = match settings.id.as_str() {
            "" => None,
            id => Some(file.position(id)?),
        };
        let old_name = index.and_then(|i| file.accounts[i].secret_name());
        let mut input = settings.to_input();
        if input.password.is_empty() {
            if let Some(i) = index {
                input.password = self.password_of(&file.accounts[i]).unwrap_or_default();
            }
        }
        let password = input.password.clone();
        input.codecs = Some(codecs.to_vec());
        let account = input.validate()?;
        if !account.server.secure && !settings.allow_insecure {
            return Err(EngineError::new(
                ErrorCode::ConfigInsecureServer,
                "ws:// is not encrypted: choose wss://, or allow an unencrypted connection",
            ));
        }
        let name = secret_name(&account);
        if file
            .accounts
            .iter()
            .any(|a| a.id != settings.id && a.secret_name().as_deref() == Some(name.as_str()))
        {
            return Err(EngineError::new(
                ErrorCode::SettingsDuplicateAccount,
                "another account already has this SIP address",
            ));
        }
        let id = match index {
            Some(i) => file.accounts[i].id.clone(),
            None => {
                let highest = file
                    .accounts
                    .iter()
                    .filter_map(|a| a.id.parse::<u64>().ok())
                    .max()
                    .unwrap_or(0);
                let n = file.next_id.max(highest + 1).max(1);
                file.next_id = n + 1;
                n.to_string()
            }
        };
        let key = SecretKey {
            name: &name,
            id: &id,
        };
        // The password goes to its new place first; its old places are emptied only once
        // the file saying where it is now has been written.
        self.secrets
            .put(settings.password_storage, key, &password)?;
        let stored = Stored::from_settings(id.clone(), settings, &account);
        match index {
            Some(i) => file.accounts[i] = stored,
            None => file.accounts.push(stored),
        }
        if file.default_account.is_none() {
            file.default_account = Some(id.clone());
        }
        file.version = VERSION;
        self.write(&file)?;
        self.secrets.keep_only(settings.password_storage, key)?;
        if let Some(old) = old_name.filter(|old| *old != name) {
            self.secrets.forget_keyring(&old);
        }
        Ok((id, settings.enabled.then_some(account)))
    }

    /// Removes account `id` and its password from wherever it was kept; the default passes
    /// to the first account left.
    pub fn remove(&self, id: &str) -> Result<(), EngineError> {
        let _guard = self.guard();
        let mut file = self.read()?;
        let i = file.position(id)?;
        let gone = file.accounts.remove(i);
        if file.default_account.as_deref() == Some(id) {
            file.default_account = file.accounts.first().map(|a| a.id.clone());
        }
        self.write(&file)?;
        if let Some(name) = gone.secret_name() {
            self.secrets.forget(SecretKey {
                name: &name,
                id: &gone.id,
            })?;
        }
        Ok(())
    }

    /// Makes account `id` the one calls go from by default.
    pub fn set_default(&self, id: &str) -> Result<(), EngineError> {
        let _guard = self.guard();
        let mut file = self.read()?;
        file.get(id)?;
        file.default_account = Some(id.to_owned());
        self.write(&file)
    }

    /// Pins the server certificate `sha256` for account `id`; returns the account to run.
    pub fn trust(
        &self,
        id: &str,
        sha256: &str,
        codecs: &[CodecKind],
    ) -> Result<Option<AccountConfig>, EngineError> {
        let _guard = self.guard();
        let file = self.read()?;
        let stored = file.get(id)?;
        let settings = AccountSettings {
            trusted_certificate: Some(sha256.to_owned()),
            ..stored.settings()
        };
        self.save_locked(&settings, codecs)
            .map(|(_, account)| account)
    }
}

#[cfg(test)]
mod tests;
