//! Where the account password lives: the OS secret store (Secret Service on Linux, Keychain,
//! Credential Manager, through `keyring`), this session's memory, or a file only the user can
//! read. The user chooses; when the secret store is missing, saving says so
//! (`secrets.unavailable`) instead of silently falling back to a file.

use crate::error::{EngineError, ErrorCode};
use crate::files::{self, Access};
use keyring_core::{CredentialStore, Entry, Error as KeyringError};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

/// The keyring service name under which passwords are filed.
const SERVICE: &str = "org.wren.softphone";

/// Where a password is kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "snake_case")]
pub enum PasswordStorage {
    /// The OS secret store.
    #[default]
    Keyring,
    /// Memory only: asked again after a restart.
    Session,
    /// `DIR/password`, mode 0600: readable by anything running as the user.
    File,
}

/// The password of one account, wherever the user chose to keep it.
pub struct SecretStore {
    keyring: Result<Arc<CredentialStore>, String>,
    file: PathBuf,
    /// This session's copy: (account, password).
    session: Mutex<Option<(String, String)>>,
}

impl std::fmt::Debug for SecretStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretStore")
            .field("keyring", &self.keyring.as_ref().map(|_| "available"))
            .field("file", &self.file)
            .finish()
    }
}

fn unavailable(why: impl std::fmt::Display) -> EngineError {
    EngineError::new(
        ErrorCode::SecretsUnavailable,
        format!("the system's secret store is not available: {why}"),
    )
}

fn keyring_error(e: KeyringError) -> EngineError {
    match e {
        KeyringError::NoDefaultStore
        | KeyringError::NoStorageAccess(_)
        | KeyringError::PlatformFailure(_) => unavailable(e),
        e => EngineError::new(
            ErrorCode::SecretsFailed,
            format!("the secret store failed: {e}"),
        ),
    }
}

impl SecretStore {
    /// A store for the profile in `dir`, using the OS secret store when there is one.
    pub fn new(dir: &Path) -> Self {
        let keyring = match keyring::Entry::store_status() {
            Ok(()) => keyring_core::get_default_store().ok_or_else(|| "no default store".into()),
            Err(e) => Err(e.to_string()),
        };
        Self::with_keyring(dir, keyring)
    }

    /// A store with the given secret store (a mock in tests), or none (`Err(why)`).
    pub fn with_keyring(dir: &Path, keyring: Result<Arc<CredentialStore>, String>) -> Self {
        Self {
            keyring,
            file: dir.join("password"),
            session: Mutex::new(None),
        }
    }

    fn entry(&self, account: &str) -> Result<Entry, EngineError> {
        let store = self.keyring.as_ref().map_err(unavailable)?;
        store.build(SERVICE, account, None).map_err(keyring_error)
    }

    /// Keeps `password` for `account` in `storage` and removes it from the other places, so
    /// switching to the keyring deletes the file. On error nothing else was changed.
    pub fn store(
        &self,
        storage: PasswordStorage,
        account: &str,
        password: &str,
    ) -> Result<(), EngineError> {
        match storage {
            PasswordStorage::Keyring => self
                .entry(account)?
                .set_password(password)
                .map_err(keyring_error)?,
            PasswordStorage::File => {
                files::write_atomic(&self.file, password.as_bytes(), Access::OwnerOnly)?
            }
            PasswordStorage::Session => {}
        }
        *self.session.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((account.to_owned(), password.to_owned()));
        if storage != PasswordStorage::File {
            files::remove(&self.file)?;
        }
        if storage != PasswordStorage::Keyring {
            self.forget_keyring(account);
        }
        Ok(())
    }

    /// The password for `account` from `storage`, or `None` when it isn't there (a new
    /// session with `Session` storage, say).
    pub fn load(
        &self,
        storage: PasswordStorage,
        account: &str,
    ) -> Result<Option<String>, EngineError> {
        if let Some((_, pw)) = self
            .session
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .filter(|(a, _)| a == account)
        {
            return Ok(Some(pw.clone()));
        }
        let found = match storage {
            PasswordStorage::Keyring => match self.entry(account)?.get_password() {
                Ok(pw) => Some(pw),
                Err(KeyringError::NoEntry) => None,
                Err(e) => return Err(keyring_error(e)),
            },
            PasswordStorage::File => files::read_optional(&self.file)?,
            PasswordStorage::Session => None,
        };
        if let Some(pw) = &found {
            *self.session.lock().unwrap_or_else(PoisonError::into_inner) =
                Some((account.to_owned(), pw.clone()));
        }
        Ok(found)
    }

    /// Removes `account`'s password from the secret store (when the account is renamed).
    pub fn forget_keyring(&self, account: &str) {
        if let Ok(entry) = self.entry(account) {
            match entry.delete_credential() {
                Ok(()) | Err(KeyringError::NoEntry) => {}
                Err(e) => tracing::warn!("could not remove an old password from the keyring: {e}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::tests::TempDir;

    fn mock() -> Arc<CredentialStore> {
        keyring_core::mock::Store::new().unwrap()
    }

    #[test]
    fn keyring_passwords_round_trip_and_never_touch_the_disk() {
        let dir = TempDir::new("secrets-keyring");
        let keyring = mock();
        let store = SecretStore::with_keyring(&dir.0, Ok(keyring.clone()));
        store
            .store(PasswordStorage::Keyring, "alice@example.com", "pw-1")
            .unwrap();
        assert_eq!(std::fs::read_dir(&dir.0).unwrap().count(), 0);
        // A new session reads it back from the keyring.
        let fresh = SecretStore::with_keyring(&dir.0, Ok(keyring));
        assert_eq!(
            fresh
                .load(PasswordStorage::Keyring, "alice@example.com")
                .unwrap()
                .as_deref(),
            Some("pw-1")
        );
        assert_eq!(
            fresh.load(PasswordStorage::Keyring, "bob@example.com"),
            Ok(None)
        );
    }

    #[test]
    fn without_a_keyring_saving_there_fails_and_nothing_is_written() {
        let dir = TempDir::new("secrets-none");
        let store = SecretStore::with_keyring(&dir.0, Err("no D-Bus session".into()));
        let e = store
            .store(PasswordStorage::Keyring, "alice@example.com", "pw")
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::SecretsUnavailable);
        assert_eq!(std::fs::read_dir(&dir.0).unwrap().count(), 0);
        assert_eq!(
            store.load(PasswordStorage::Keyring, "alice@example.com"),
            Err(unavailable("no D-Bus session"))
        );
        // The two explicit choices still work.
        store
            .store(PasswordStorage::Session, "alice@example.com", "pw")
            .unwrap();
        assert_eq!(std::fs::read_dir(&dir.0).unwrap().count(), 0);
        let fresh = SecretStore::with_keyring(&dir.0, Err("none".into()));
        assert_eq!(
            fresh.load(PasswordStorage::Session, "alice@example.com"),
            Ok(None)
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_file_password_is_owner_only_and_removed_when_moving_to_the_keyring() {
        use std::os::unix::fs::PermissionsExt;
        let dir = TempDir::new("secrets-file");
        let keyring = mock();
        let store = SecretStore::with_keyring(&dir.0, Ok(keyring.clone()));
        store
            .store(PasswordStorage::File, "alice@example.com", "pw-file")
            .unwrap();
        let path = dir.0.join("password");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let fresh = SecretStore::with_keyring(&dir.0, Ok(keyring.clone()));
        assert_eq!(
            fresh
                .load(PasswordStorage::File, "alice@example.com")
                .unwrap()
                .as_deref(),
            Some("pw-file")
        );
        store
            .store(PasswordStorage::Keyring, "alice@example.com", "pw-key")
            .unwrap();
        assert!(!path.exists());
        // And back: the keyring entry goes away.
        store
            .store(PasswordStorage::File, "alice@example.com", "pw-file")
            .unwrap();
        let fresh = SecretStore::with_keyring(&dir.0, Ok(keyring));
        assert_eq!(
            fresh.load(PasswordStorage::Keyring, "alice@example.com"),
            Ok(None)
        );
    }
}
