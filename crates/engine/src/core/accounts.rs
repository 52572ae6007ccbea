//! Accounts: adding, changing and removing one without touching the others or any call,
//! the default account, registration intent, and shutdown.

use super::*;

impl EngineCore {
    /// Adds an account and connects it (registering too, once [`EngineCore::register`] was
    /// called). The first account becomes the default.
    pub fn add_account(&mut self, now: Instant, cfg: AccountConfig) -> AccountId {
        let id = AccountId(self.next_account);
        self.next_account += 1;
        let seed = self.next_seed();
        let ua = UserAgent::new(ua_config(&cfg), seed);
        let default = self.default.is_none();
        if default {
            self.default = Some(id);
        }
        self.emit(EventKind::AccountAdded {
            account: id,
            name: format!("{}@{}", cfg.user, cfg.domain),
            default,
            secure: cfg.server.secure,
        });
        self.accounts.insert(
            id,
            Account {
                cfg,
                ua,
                flow: Flow::Down { retry_at: None },
                backoff: BACKOFF_MIN,
                want_registered: self.registering,
                pending: None,
                retiring: None,
            },
        );
        self.connect(now, id);
        id
    }

    /// Changes one account. New codecs apply to the next call at once; a new server,
    /// identity or credentials reconnect and re-register the account, after its calls end if
    /// it has any. No other account or call is touched.
    pub fn update_account(
        &mut self,
        now: Instant,
        id: AccountId,
        cfg: AccountConfig,
    ) -> Result<(), EngineError> {
        let has_calls = self.calls.values().any(|c| c.account == id);
        let account = self.accounts.get_mut(&id).ok_or_else(no_account)?;
        if account.retiring.is_some() {
            return Err(no_account());
        }
        account.cfg.codecs = cfg.codecs.clone();
        if !connection_differs(&account.cfg, &cfg) {
            account.pending = None;
            return Ok(());
        }
        let name = format!("{}@{}", cfg.user, cfg.domain);
        let secure = cfg.server.secure;
        if has_calls {
            account.pending = Some(cfg);
        } else {
            self.replace_config(now, id, cfg);
        }
        let default = self.default == Some(id);
        self.emit(EventKind::AccountAdded {
            account: id,
            name,
            default,
            secure,
        });
        Ok(())
    }

    /// Removes one account: hangs up its calls, unregisters, closes its flow.
    pub fn remove_account(&mut self, now: Instant, id: AccountId) -> Result<(), EngineError> {
        let account = self.accounts.get_mut(&id).ok_or_else(no_account)?;
        if account.retiring.is_some() {
            return Ok(());
        }
        account.retiring = Some(now + GRACE);
        account.want_registered = false;
        account.pending = None;
        if matches!(account.flow, Flow::Up { .. }) {
            account.ua.unregister(now);
        }
        let calls = self.calls_of(id);
        for call in calls {
            let _ = self.hangup(now, call);
        }
        if self.default == Some(id) {
            self.default = self
                .accounts
                .iter()
                .find(|(k, a)| **k != id && a.retiring.is_none())
                .map(|(k, _)| *k);
            if let Some(next) = self.default {
                self.set_default(next)?;
            }
        }
        self.pump(now);
        Ok(())
    }

    /// Makes `id` the account calls go out from.
    pub fn set_default(&mut self, id: AccountId) -> Result<(), EngineError> {
        let account = self.accounts.get(&id).ok_or_else(no_account)?;
        let name = format!("{}@{}", account.cfg.user, account.cfg.domain);
        let secure = account.cfg.server.secure;
        self.default = Some(id);
        self.emit(EventKind::AccountAdded {
            account: id,
            name,
            default: true,
            secure,
        });
        Ok(())
    }

    /// Registers every account (and keeps them registered, new ones too).
    pub fn register(&mut self, now: Instant) {
        self.registering = true;
        let ids: Vec<AccountId> = self.accounts.keys().copied().collect();
        for id in ids {
            let Some(account) = self.accounts.get_mut(&id) else {
                continue;
            };
            if account.retiring.is_some() {
                continue;
            }
            account.want_registered = true;
            if matches!(account.flow, Flow::Up { .. }) {
                account.ua.register(now);
                self.emit(EventKind::Registration {
                    account: id,
                    state: RegistrationState::Registering,
                });
            }
        }
        self.pump(now);
    }

    /// Removes every account's registration.
    pub fn unregister(&mut self, now: Instant) {
        self.registering = false;
        for account in self.accounts.values_mut() {
            account.want_registered = false;
            if matches!(account.flow, Flow::Up { .. }) {
                account.ua.unregister(now);
            }
        }
        self.pump(now);
    }

    /// While on, incoming calls are declined with 486 Busy Here and reported as missed.
    pub fn set_do_not_disturb(&mut self, on: bool) {
        self.do_not_disturb = on;
    }

    /// Hangs up every call, unregisters, then closes the flows ([`Output::Stopped`]).
    pub fn shutdown(&mut self, now: Instant) {
        if self.shutdown.is_some() {
            return;
        }
        self.shutdown = Some(now + GRACE);
        let calls: Vec<CallId> = self.calls.keys().copied().collect();
        for call in calls {
            let _ = self.hangup(now, call);
        }
        self.registering = false;
        for account in self.accounts.values_mut() {
            if account.want_registered && matches!(account.flow, Flow::Up { .. }) {
                account.ua.unregister(now);
            }
            account.want_registered = false;
            if let Flow::Down { retry_at } = &mut account.flow {
                *retry_at = None;
            }
        }
        self.pump(now);
        self.check_shutdown(now);
    }

    /// A new user agent and flow for the account (its calls are gone).
    pub(in crate::core) fn replace_config(
        &mut self,
        now: Instant,
        id: AccountId,
        cfg: AccountConfig,
    ) {
        let seed = self.next_seed();
        let Some(account) = self.accounts.get_mut(&id) else {
            return;
        };
        account.ua = UserAgent::new(ua_config(&cfg), seed);
        account.cfg = cfg;
        account.pending = None;
        account.backoff = BACKOFF_MIN;
        self.out.push_back(Output::Disconnect { account: id });
        if account.want_registered {
            self.emit(EventKind::Registration {
                account: id,
                state: RegistrationState::Unregistered,
            });
        }
        self.connect(now, id);
    }

    /// An account being removed goes once its calls are gone and its unregistration is
    /// answered (or its grace time is up).
    pub(in crate::core) fn check_retiring(&mut self, now: Instant) {
        let done: Vec<AccountId> = self
            .accounts
            .iter()
            .filter(|(id, a)| {
                a.retiring.is_some_and(|until| {
                    now >= until
                        || (!a.ua.registration_pending()
                            && !self.calls.values().any(|c| c.account == **id))
                })
            })
            .map(|(id, _)| *id)
            .collect();
        for id in done {
            let calls = self.calls_of(id);
            for call in calls {
                self.drop_call(now, call);
            }
            self.accounts.remove(&id);
            self.by_sip.retain(|(a, _), _| *a != id);
            self.out.push_back(Output::Disconnect { account: id });
            self.emit(EventKind::AccountRemoved { account: id });
        }
    }

    pub(in crate::core) fn check_shutdown(&mut self, now: Instant) {
        let Some(deadline) = self.shutdown else {
            return;
        };
        if self.stopped {
            return;
        }
        let settled = self.calls.is_empty()
            && self
                .accounts
                .values()
                .all(|a| !a.ua.registration_pending() || !matches!(a.flow, Flow::Up { .. }));
        if !settled && now < deadline {
            return;
        }
        let calls: Vec<CallId> = self.calls.keys().copied().collect();
        for call in calls {
            self.drop_call(now, call);
        }
        let ids: Vec<AccountId> = self.accounts.keys().copied().collect();
        for id in ids {
            self.out.push_back(Output::Disconnect { account: id });
        }
        self.stopped = true;
        self.out.push_back(Output::Stopped);
    }
}
