//! The settings store's tests: accounts, passwords, the first file version, refusals.
use super::*;
use crate::files::tests::TempDir;
use std::sync::Arc;

const CODECS: [CodecKind; 2] = [CodecKind::Pcmu, CodecKind::Opus];

fn settings() -> AccountSettings {
    AccountSettings {
        display_name: "Alice".into(),
        sip_address: "sip:alice@example.com".into(),
        password: "s3cret-pw".into(),
        server: "wss://pbx.example.com:8443/ws".into(),
        register_expires: 300,
        password_storage: PasswordStorage::Session,
        ..Default::default()
    }
}

fn bob() -> AccountSettings {
    AccountSettings {
        display_name: "Bob".into(),
        sip_address: "bob@example.org".into(),
        password: "bob-pw".into(),
        server: "wss://sip.example.org".into(),
        password_storage: PasswordStorage::Keyring,
        ..Default::default()
    }
}

/// What the list shows of saved `s` with id `id`.
fn listed(id: &str, s: &AccountSettings) -> AccountSettings {
    AccountSettings {
        id: id.into(),
        password: String::new(),
        sip_address: s.sip_address.trim().into(),
        ..s.clone()
    }
}

fn mock() -> Arc<keyring_core::CredentialStore> {
    keyring_core::mock::Store::new().unwrap()
}

fn store_in(dir: &Path, keyring: &Arc<keyring_core::CredentialStore>) -> SettingsStore {
    SettingsStore::with_secrets(dir, SecretStore::with_keyring(dir, Ok(keyring.clone())))
}

#[test]
fn settings_round_trip_and_convert() {
    let dir = TempDir::new("settings-round-trip");
    let keyring = mock();
    let store = store_in(&dir.0, &keyring);
    assert_eq!(store.list().unwrap(), SavedAccounts::default());
    let (id, account) = store.save(&settings(), &CODECS).unwrap();
    let account = account.unwrap();
    assert_eq!(id, "1");
    assert_eq!(
        (account.user.as_str(), account.domain.as_str()),
        ("alice", "example.com")
    );
    assert_eq!(account.auth_user, "alice");
    assert_eq!(account.register_expires, 300);
    assert_eq!(account.codecs, CODECS);
    let list = store.list().unwrap();
    assert_eq!(list.default_account.as_deref(), Some("1"));
    assert_eq!(
        list.accounts,
        [SavedAccount {
            settings: listed("1", &settings()),
            has_password: true,
            engine: None
        }]
    );
    // A new session (a new store on the same file) has no session password, so no account
    // to start, and the list says so.
    let fresh = store_in(&dir.0, &keyring);
    assert!(!fresh.list().unwrap().accounts[0].has_password);
    assert!(fresh.accounts(&CODECS).unwrap().is_empty());
    assert!(fresh.account("1", &CODECS).unwrap().is_none());
}

#[test]
fn two_accounts_each_with_its_own_password_and_the_first_is_the_default() {
    let dir = TempDir::new("settings-two");
    let keyring = mock();
    let store = store_in(&dir.0, &keyring);
    let keyed = AccountSettings {
        password_storage: PasswordStorage::Keyring,
        ..settings()
    };
    assert_eq!(store.save(&keyed, &CODECS).unwrap().0, "1");
    let filed = AccountSettings {
        password_storage: PasswordStorage::File,
        ..bob()
    };
    assert_eq!(store.save(&filed, &CODECS).unwrap().0, "2");
    let fresh = store_in(&dir.0, &keyring);
    let running = fresh.accounts(&[CodecKind::Opus]).unwrap();
    let got: Vec<_> = running
        .iter()
        .map(|(id, a)| (id.as_str(), a.user.as_str(), a.password.as_str()))
        .collect();
    assert_eq!(got, [("1", "alice", "s3cret-pw"), ("2", "bob", "bob-pw")]);
    assert_eq!(running[0].1.codecs, [CodecKind::Opus]);
    assert_eq!(fresh.list().unwrap().default_account.as_deref(), Some("1"));
    fresh.set_default("2").unwrap();
    assert_eq!(fresh.list().unwrap().default_account.as_deref(), Some("2"));
    assert_eq!(
        fresh.set_default("9").unwrap_err().code,
        ErrorCode::SettingsUnknownAccount
    );
    // The same address twice is refused; the file stays.
    let before = std::fs::read(store.path()).unwrap();
    let again = AccountSettings {
        server: "wss://other.example.com".into(),
        ..settings()
    };
    assert_eq!(
        store.save(&again, &CODECS).unwrap_err().code,
        ErrorCode::SettingsDuplicateAccount
    );
    assert_eq!(std::fs::read(store.path()).unwrap(), before);
}

#[test]
fn an_empty_password_keeps_the_saved_one_even_when_it_moves() {
    let dir = TempDir::new("settings-keep-password");
    let keyring = mock();
    let store = store_in(&dir.0, &keyring);
    let (id, _) = store.save(&bob(), &CODECS).unwrap();
    let edit = AccountSettings {
        id: id.clone(),
        display_name: "Robert".into(),
        password: String::new(),
        password_storage: PasswordStorage::File,
        ..bob()
    };
    let (same, account) = store.save(&edit, &CODECS).unwrap();
    assert_eq!(same, id);
    assert_eq!(account.unwrap().password, "bob-pw");
    assert_eq!(
        std::fs::read_to_string(dir.0.join(format!("password-{id}"))).unwrap(),
        "bob-pw"
    );
    let fresh = store_in(&dir.0, &keyring);
    let list = fresh.list().unwrap();
    assert_eq!(list.accounts[0].settings.display_name, "Robert");
    assert!(list.accounts[0].has_password);
    // A new account must bring its password.
    let new = AccountSettings {
        password: String::new(),
        ..settings()
    };
    assert_eq!(
        store.save(&new, &CODECS).unwrap_err().code,
        ErrorCode::ConfigMissingPassword
    );
    // An id that isn't saved is refused, not added.
    let ghost = AccountSettings {
        id: "7".into(),
        ..settings()
    };
    assert_eq!(
        store.save(&ghost, &CODECS).unwrap_err().code,
        ErrorCode::SettingsUnknownAccount
    );
}

#[test]
fn an_unencrypted_server_needs_the_users_explicit_choice() {
    let dir = TempDir::new("settings-insecure");
    let keyring = mock();
    let store = store_in(&dir.0, &keyring);
    let plain = AccountSettings {
        server: "ws://pbx.example.com:8080".into(),
        ..settings()
    };
    assert_eq!(
        store.save(&plain, &CODECS).unwrap_err().code,
        ErrorCode::ConfigInsecureServer
    );
    assert_eq!(store.list().unwrap(), SavedAccounts::default());
    let chosen = AccountSettings {
        allow_insecure: true,
        ..plain
    };
    let (_, account) = store.save(&chosen, &CODECS).unwrap();
    assert!(!account.unwrap().server.secure);
    assert!(store.list().unwrap().accounts[0].settings.allow_insecure);
}

#[test]
fn a_first_version_ws_account_waits_for_the_users_choice() {
    let dir = TempDir::new("settings-v1-ws");
    let keyring = mock();
    std::fs::write(
        dir.0.join("settings.json"),
        r#"{"display_name":"","sip_address":"alice@example.com","auth_user":"",
           "server":"ws://pbx.example.com","register_expires":600,
           "password_storage":"file"}"#,
    )
    .unwrap();
    std::fs::write(dir.0.join("password"), "old-pw").unwrap();
    let store = store_in(&dir.0, &keyring);
    assert!(store.accounts(&CODECS).unwrap().is_empty());
    assert!(store.list().unwrap().accounts[0].has_password);
}

#[test]
fn a_disabled_account_is_kept_but_does_not_run() {
    let dir = TempDir::new("settings-disabled");
    let keyring = mock();
    let store = store_in(&dir.0, &keyring);
    let off = AccountSettings {
        enabled: false,
        ..bob()
    };
    let (id, account) = store.save(&off, &CODECS).unwrap();
    assert!(account.is_none());
    assert!(store.accounts(&CODECS).unwrap().is_empty());
    assert!(store.account(&id, &CODECS).unwrap().is_none());
    let listed_off = &store.list().unwrap().accounts[0];
    assert!(!listed_off.settings.enabled && listed_off.has_password);
    let on = AccountSettings {
        id: id.clone(),
        password: String::new(),
        ..bob()
    };
    assert!(store.save(&on, &CODECS).unwrap().1.is_some());
    assert_eq!(store.accounts(&CODECS).unwrap().len(), 1);
}

#[test]
fn removing_an_account_forgets_its_password_and_moves_the_default() {
    let dir = TempDir::new("settings-remove");
    let keyring = mock();
    let store = store_in(&dir.0, &keyring);
    let filed = AccountSettings {
        password_storage: PasswordStorage::File,
        ..settings()
    };
    let (alice, _) = store.save(&filed, &CODECS).unwrap();
    let (bob_id, _) = store.save(&bob(), &CODECS).unwrap();
    store.remove(&alice).unwrap();
    assert!(!dir.0.join(format!("password-{alice}")).exists());
    let list = store.list().unwrap();
    assert_eq!(list.accounts.len(), 1);
    assert_eq!(list.default_account, Some(bob_id.clone()));
    store.remove(&bob_id).unwrap();
    let fresh = store_in(&dir.0, &keyring);
    assert_eq!(fresh.list().unwrap(), SavedAccounts::default());
    // Its keyring entry went too: saving it again without a password is refused.
    let (again, _) = fresh.save(&bob(), &CODECS).unwrap();
    assert_ne!(again, bob_id, "ids are not reused");
    assert_eq!(
        store.remove("nope").unwrap_err().code,
        ErrorCode::SettingsUnknownAccount
    );
}

#[test]
fn the_first_version_file_is_read_as_one_account() {
    let dir = TempDir::new("settings-v1");
    let keyring = mock();
    std::fs::write(
        dir.0.join("settings.json"),
        r#"{"display_name":"Alice","sip_address":"alice@example.com","auth_user":"",
           "server":"wss://pbx.example.com","register_expires":600,
           "password_storage":"file","trusted_certificate":null}"#,
    )
    .unwrap();
    std::fs::write(dir.0.join("password"), "old-pw").unwrap();
    let store = store_in(&dir.0, &keyring);
    let list = store.list().unwrap();
    assert_eq!(list.default_account.as_deref(), Some("1"));
    assert_eq!(list.accounts[0].settings.id, "1");
    assert!(list.accounts[0].settings.enabled && list.accounts[0].has_password);
    assert_eq!(
        store.account("1", &CODECS).unwrap().unwrap().password,
        "old-pw"
    );
    assert!(!dir.0.join("password").exists());
    let (id, _) = store.save(&bob(), &CODECS).unwrap();
    assert_eq!(id, "2");
    let text = std::fs::read_to_string(store.path()).unwrap();
    assert!(text.contains("\"accounts\""), "{text}");
    assert_eq!(store.list().unwrap().accounts.len(), 2);
}

#[test]
fn trusting_a_certificate_pins_it_and_keeps_the_rest() {
    let dir = TempDir::new("settings-trust");
    let keyring = mock();
    let store = store_in(&dir.0, &keyring);
    assert_eq!(
        store
            .trust("1", &"AB:".repeat(32)[..95], &CODECS)
            .unwrap_err()
            .code,
        ErrorCode::SettingsUnknownAccount
    );
    let (id, _) = store.save(&settings(), &CODECS).unwrap();
    store.save(&bob(), &CODECS).unwrap();
    let fp = "ab".repeat(32);
    let account = store.trust(&id, &fp, &CODECS).unwrap().unwrap();
    let pinned = account.trusted_certificate.clone().unwrap();
    assert_eq!(pinned.len(), 95);
    assert_eq!(account.password, "s3cret-pw");
    let list = store.list().unwrap();
    assert_eq!(
        list.accounts[0].settings,
        AccountSettings {
            trusted_certificate: Some(pinned),
            ..listed(&id, &settings())
        }
    );
    assert_eq!(list.accounts[1].settings.trusted_certificate, None);
    let before = std::fs::read(store.path()).unwrap();
    let e = store.trust(&id, "not a fingerprint", &CODECS).unwrap_err();
    assert_eq!(e.code, ErrorCode::ConfigInvalidFingerprint);
    assert_eq!(std::fs::read(store.path()).unwrap(), before);
}

#[test]
fn invalid_settings_are_refused_and_the_old_file_kept() {
    let dir = TempDir::new("settings-invalid");
    let keyring = mock();
    let store = store_in(&dir.0, &keyring);
    let (id, _) = store.save(&settings(), &CODECS).unwrap();
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
    ];
    let codes: Vec<_> = bad
        .iter()
        .map(|s| {
            let edit = AccountSettings {
                id: id.clone(),
                ..s.clone()
            };
            let new = s.clone();
            let a = store.save(&edit, &CODECS).map(|_| ()).unwrap_err().code;
            let b = store.save(&new, &CODECS).map(|_| ()).unwrap_err().code;
            (a, b)
        })
        .collect();
    assert_eq!(
        codes,
        [
            (
                ErrorCode::ConfigInvalidServer,
                ErrorCode::ConfigInvalidServer
            ),
            (ErrorCode::ConfigInvalidUser, ErrorCode::ConfigInvalidUser),
            (
                ErrorCode::ConfigInvalidExpires,
                ErrorCode::ConfigInvalidExpires
            ),
        ]
    );
    let no_password = AccountSettings {
        sip_address: "carol@example.com".into(),
        password: String::new(),
        ..settings()
    };
    assert_eq!(
        store.save(&no_password, &CODECS).unwrap_err().code,
        ErrorCode::ConfigMissingPassword
    );
    assert_eq!(
        store.save(&settings(), &[]).unwrap_err().code,
        ErrorCode::ConfigNoCodecs
    );
    assert_eq!(std::fs::read(store.path()).unwrap(), before);
    assert_eq!(store.list().unwrap().accounts.len(), 1);
    assert!(!store.path().with_extension("json.tmp").exists());
}

#[test]
fn without_a_keyring_nothing_is_saved_and_the_code_says_why() {
    let dir = TempDir::new("settings-no-keyring");
    let store = SettingsStore::with_secrets(
        &dir.0,
        SecretStore::with_keyring(&dir.0, Err("no bus".into())),
    );
    let e = store.save(&bob(), &CODECS).unwrap_err();
    assert_eq!(e.code, ErrorCode::SecretsUnavailable);
    assert_eq!(store.list().unwrap(), SavedAccounts::default());
    assert_eq!(std::fs::read_dir(&dir.0).unwrap().count(), 0);
}

#[test]
fn the_password_is_never_in_the_settings_file_nor_listed() {
    let dir = TempDir::new("settings-password");
    let keyring = mock();
    let store = store_in(&dir.0, &keyring);
    let mut id = String::new();
    for storage in [PasswordStorage::Keyring, PasswordStorage::Session] {
        let s = AccountSettings {
            id: id.clone(),
            password_storage: storage,
            ..settings()
        };
        id = store.save(&s, &CODECS).unwrap().0;
        for entry in std::fs::read_dir(&dir.0).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            assert!(!text.contains("s3cret-pw"), "{storage:?}: {text}");
        }
        let listed = format!("{:?}", store.list().unwrap());
        assert!(!listed.contains("s3cret-pw"), "{listed}");
    }
    assert!(!format!("{:?}", settings()).contains("s3cret-pw"));
}

#[test]
fn a_corrupt_file_is_reported_not_replaced() {
    let dir = TempDir::new("settings-corrupt");
    let store = SettingsStore::with_secrets(
        &dir.0,
        SecretStore::with_keyring(&dir.0, Err("none".into())),
    );
    for text in [
        "{not json",
        r#"{"version":2,"accounts":[{"id":"a/b","display_name":"","sip_address":"a@b","auth_user":"","server":"wss://b","register_expires":600}]}"#,
    ] {
        std::fs::write(store.path(), text).unwrap();
        assert_eq!(store.list().unwrap_err().code, ErrorCode::SettingsCorrupt);
        assert_eq!(
            store.save(&settings(), &CODECS).unwrap_err().code,
            ErrorCode::SettingsCorrupt
        );
        assert_eq!(std::fs::read_to_string(store.path()).unwrap(), text);
    }
}
