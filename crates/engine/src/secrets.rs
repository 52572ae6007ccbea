//! Where each account's password lives: the OS secret store (Secret Service on Linux, Keychain,
//! Credential Manager, through `keyring`), this session's memory, or a file only the user can
//! read. The user chooses per account; when the secret store is missing, saving says so
//! (`secrets.unavailable`) instead of silently falling back to a file.

use crate::error::{EngineError, ErrorCode};
use crate::files::{self, Access};
use keyring_core::{CredentialStore, Entry, Error as KeyringError};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
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
    /// `DIR/password-ID`, mode 0600: readable by anything running as the user.
    File,
}

/// Which account a password belongs to: its name in the keyring and its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretKey<'a> {
    /// `user@domain`: what the keyring files it under (and what other tools show).
    pub name: &'a str,
    /// The account's id in the settings (letters, digits, `-`, `_`): names its file.
    pub id: &'a str,
}

/// The passwords of the accounts, each wherever the user chose to keep it.
pub struct SecretStore {
    keyring: Result<Arc<CredentialStore>, String>,
    dir: PathBuf,
    /// This session's copies, by keyring name.
    session: Mutex<HashMap<String, String>>,
}

impl std::fmt::Debug for SecretStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretStore")
            .field("keyring", &self.keyring.as_ref().map(|_| "available"))
            .field("dir", &self.dir)
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
            dir: dir.to_owned(),
            session: Mutex::new(HashMap::new()),
        }
    }

    /// Where a `File` password of account `id` is kept.
    pub fn file(&self, id: &str) -> PathBuf {
        self.dir.join(format!("password-{id}"))
    }

    fn session(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.session.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn entry(&self, account: &str) -> Result<Entry, EngineError> {
        let store = self.keyring.as_ref().map_err(unavailable)?;
        store.build(SERVICE, account, None).map_err(keyring_error)
    }

    /// Keeps `password` for `key` in `storage` and removes it from the other places, so
    /// switching to the keyring deletes the file. On error nothing else was changed.
    pub fn store(
        &self,
        storage: PasswordStorage,
        key: SecretKey<'_>,
        password: &str,
    ) -> Result<(), EngineError> {
        self.put(storage, key, password)?;
        self.keep_only(storage, key)
    }

    /// Keeps `password` for `key` in `storage`, leaving any other copy where it is.
    pub fn put(
        &self,
        storage: PasswordStorage,
        key: SecretKey<'_>,
        password: &str,
    ) -> Result<(), EngineError> {
        match storage {
            PasswordStorage::Keyring => self
                .entry(key.name)?
                .set_password(password)
                .map_err(keyring_error)?,
            PasswordStorage::File => {
                files::write_atomic(&self.file(key.id), password.as_bytes(), Access::OwnerOnly)?
            }
            PasswordStorage::Session => {}
        }
        self.session()
            .insert(key.name.to_owned(), password.to_owned());
        Ok(())
    }

    /// Removes `key`'s password from every place but `storage`.
    pub fn keep_only(
        &self,
        storage: PasswordStorage,
        key: SecretKey<'_>,
    ) -> Result<(), EngineError> {
        if storage != PasswordStorage::File {
            files::remove(&self.file(key.id))?;
        }
        if storage != PasswordStorage::Keyring {
            self.forget_keyring(key.name);
        }
        Ok(())
    }

    /// The password for `key` from `storage`, or `None` when it isn't there (a new session
    /// with `Session` storage, say).
    pub fn load(
        &self,
        storage: PasswordStorage,
        key: SecretKey<'_>,
    ) -> Result<Option<String>, EngineError> {
        if let Some(pw) = self.session().get(key.name) {
            return Ok(Some(pw.clone()));
        }
        let found = match storage {
            PasswordStorage::Keyring => match self.entry(key.name)?.get_password() {
                Ok(pw) => Some(pw),
                Err(KeyringError::NoEntry) => None,
                Err(e) => return Err(keyring_error(e)),
            },
            PasswordStorage::File => files::read_optional(&self.file(key.id))?,
            PasswordStorage::Session => None,
        };
        if let Some(pw) = &found {
            self.session().insert(key.name.to_owned(), pw.clone());
        }
        Ok(found)
    }

    /// Forgets `key`'s password everywhere (the account was removed). A keyring that can't be
    /// reached is only logged: there is nothing of it to remove then.
    pub fn forget(&self, key: SecretKey<'_>) -> Result<(), EngineError> {
        self.session().remove(key.name);
        self.forget_keyring(key.name);
        files::remove(&self.file(key.id))
    }

    /// Removes `account`'s password from the secret store (when the account is renamed or its
    /// password moves elsewhere).
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

    const ALICE: SecretKey<'static> = SecretKey {
        name: "alice@example.com",
        id: "1",
    };
    const BOB: SecretKey<'static> = SecretKey {
        name: "bob@example.com",
        id: "2",
    };

    fn mock() -> Arc<CredentialStore> {
        keyring_core::mock::Store::new().unwrap()
    }

    #[test]
    fn keyring_passwords_round_trip_and_never_touch_the_disk() {
        let dir = TempDir::new("secrets-keyring");
        let keyring = mock();
        let store = SecretStore::with_keyring(&dir.0, Ok(keyring.clone()));
        store
            .store(PasswordStorage::Keyring, ALICE, "pw-1")
            .unwrap();
        assert_eq!(std::fs::read_dir(&dir.0).unwrap().count(), 0);
        // A new session reads it back from the keyring.
        let fresh = SecretStore::with_keyring(&dir.0, Ok(keyring));
        assert_eq!(
            fresh
                .load(PasswordStorage::Keyring, ALICE)
                .unwrap()
                .as_deref(),
            Some("pw-1")
        );
        assert_eq!(fresh.load(PasswordStorage::Keyring, BOB), Ok(None));
    }

    #[test]
    fn without_a_keyring_saving_there_fails_and_nothing_is_written() {
        let dir = TempDir::new("secrets-none");
        let store = SecretStore::with_keyring(&dir.0, Err("no D-Bus session".into()));
        let e = store
            .store(PasswordStorage::Keyring, ALICE, "pw")
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::SecretsUnavailable);
        assert_eq!(std::fs::read_dir(&dir.0).unwrap().count(), 0);
        assert_eq!(
            store.load(PasswordStorage::Keyring, ALICE),
            Err(unavailable("no D-Bus session"))
        );
        // The two explicit choices still work.
        store.store(PasswordStorage::Session, ALICE, "pw").unwrap();
        assert_eq!(std::fs::read_dir(&dir.0).unwrap().count(), 0);
        let fresh = SecretStore::with_keyring(&dir.0, Err("none".into()));
        assert_eq!(fresh.load(PasswordStorage::Session, ALICE), Ok(None));
    }

    #[cfg(unix)]
    #[test]
    fn a_file_password_is_owner_only_and_removed_when_moving_to_the_keyring() {
        use std::os::unix::fs::PermissionsExt;
        let dir = TempDir::new("secrets-file");
        let keyring = mock();
        let store = SecretStore::with_keyring(&dir.0, Ok(keyring.clone()));
        store
            .store(PasswordStorage::File, ALICE, "pw-file")
            .unwrap();
        let path = dir.0.join("password-1");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let fresh = SecretStore::with_keyring(&dir.0, Ok(keyring.clone()));
        assert_eq!(
            fresh.load(PasswordStorage::File, ALICE).unwrap().as_deref(),
            Some("pw-file")
        );
        store
            .store(PasswordStorage::Keyring, ALICE, "pw-key")
            .unwrap();
        assert!(!path.exists());
        // And back: the keyring entry goes away.
        store
            .store(PasswordStorage::File, ALICE, "pw-file")
            .unwrap();
        let fresh = SecretStore::with_keyring(&dir.0, Ok(keyring));
        assert_eq!(fresh.load(PasswordStorage::Keyring, ALICE), Ok(None));
    }

    #[test]
    fn each_account_has_its_own_password_and_forgetting_one_keeps_the_other() {
        let dir = TempDir::new("secrets-two");
        let keyring = mock();
        let store = SecretStore::with_keyring(&dir.0, Ok(keyring.clone()));
        store.store(PasswordStorage::File, ALICE, "pw-a").unwrap();
        store.store(PasswordStorage::Keyring, BOB, "pw-b").unwrap();
        store
            .store(
                PasswordStorage::Session,
                SecretKey {
                    name: "carol@x",
                    id: "3",
                },
                "pw-c",
            )
            .unwrap();
        let fresh = SecretStore::with_keyring(&dir.0, Ok(keyring.clone()));
        assert_eq!(
            fresh.load(PasswordStorage::File, ALICE).unwrap().as_deref(),
            Some("pw-a")
        );
        assert_eq!(
            fresh
                .load(PasswordStorage::Keyring, BOB)
                .unwrap()
                .as_deref(),
            Some("pw-b")
        );
        assert_eq!(
            store
                .load(
                    PasswordStorage::Session,
                    SecretKey {
                        name: "carol@x",
                        id: "3"
                    }
                )
                .unwrap()
                .as_deref(),
            Some("pw-c")
        );
        store.forget(ALICE).unwrap();
        assert!(!dir.0.join("password-1").exists());
        let fresh = SecretStore::with_keyring(&dir.0, Ok(keyring.clone()));
        assert_eq!(fresh.load(PasswordStorage::File, ALICE), Ok(None));
        assert_eq!(
            fresh
                .load(PasswordStorage::Keyring, BOB)
                .unwrap()
                .as_deref(),
            Some("pw-b")
        );
        store.forget(BOB).unwrap();
        let fresh = SecretStore::with_keyring(&dir.0, Ok(keyring));
        assert_eq!(fresh.load(PasswordStorage::Keyring, BOB), Ok(None));
        assert_eq!(store.load(PasswordStorage::Keyring, BOB), Ok(None));
    }
}
