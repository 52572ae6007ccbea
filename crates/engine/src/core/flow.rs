//! Each account's WebSocket flow as the I/O layer reports it: up, down (with the close code
//! deciding how soon to retry, RFC 6455 §7.4), data, keep-alive; and opening a flow.

use super::*;

impl EngineCore {
    /// The account's flow is open; media will use `local_ip`.
    pub fn flow_up(&mut self, now: Instant, id: AccountId, local_ip: IpAddr) {
        let Some(account) = self.accounts.get_mut(&id) else {
            return;
        };
        tracing::info!(account = id.0, "connected to {}", account.cfg.server.url());
        account.flow = Flow::Up {
            local_ip,
            last_rx: now,
            ping_at: now + PING_EVERY,
        };
        let register = account.want_registered && self.shutdown.is_none();
        if register {
            account.ua.register(now);
        }
        self.emit(EventKind::Connection {
            account: id,
            state: ConnectionState::Connected,
        });
        if register {
            self.emit(EventKind::Registration {
                account: id,
                state: RegistrationState::Registering,
            });
        }
        self.pump(now);
    }

    /// The account's flow failed to open, or ended.
    pub fn flow_down(&mut self, now: Instant, id: AccountId, why: FlowDown) {
        let Some(account) = self.accounts.get_mut(&id) else {
            return;
        };
        let was_up = matches!(account.flow, Flow::Up { .. });
        let (error, delay, certificate) = match why {
            FlowDown::ConnectFailed {
                error,
                retry_slowly,
                certificate,
            } => {
                let delay = if retry_slowly {
                    BACKOFF_MAX
                } else {
                    account.backoff
                };
                (error, delay, certificate)
            }
            FlowDown::Closed { code, reason } => {
                let delay = match code {
                    1003 | 1008 => POLICY_BACKOFF,
                    _ => account.backoff,
                };
                let error = EngineError::new(
                    ErrorCode::WsClosed,
                    format!(
                        "the server closed the connection ({code} {})",
                        printable(&reason)
                    ),
                );
                (error, delay, None)
            }
            FlowDown::Lost(error) => (error, account.backoff, None),
        };
        tracing::warn!(account = id.0, "connection: {error}");
        account.backoff = (account.backoff * 2).min(BACKOFF_MAX);
        let retry = (self.shutdown.is_none() && account.retiring.is_none()).then_some(delay);
        account.flow = Flow::Down {
            retry_at: retry.map(|d| now + d),
        };
        if was_up {
            account.ua.flow_reset(now);
        }
        let registering = was_up && account.want_registered;
        self.emit(EventKind::Connection {
            account: id,
            state: ConnectionState::Disconnected {
                error,
                retry_in_ms: retry.map(|d| d.as_millis() as u64),
                certificate: certificate.map(|sha256| Certificate { sha256 }),
            },
        });
        if registering {
            self.emit(EventKind::Registration {
                account: id,
                state: RegistrationState::Registering,
            });
        }
        self.pump(now);
        self.check_retiring(now);
        self.check_shutdown(now);
    }

    /// A SIP message arrived on the account's flow.
    pub fn flow_data(&mut self, now: Instant, id: AccountId, data: &[u8]) {
        let Some(account) = self.accounts.get_mut(&id) else {
            return;
        };
        if let Flow::Up { last_rx, .. } = &mut account.flow {
            *last_rx = now;
        }
        tracing::trace!(
            account = id.0,
            "recv {}",
            wren_sip::redact(&String::from_utf8_lossy(data))
        );
        account.ua.handle_input(now, data);
        self.pump(now);
    }

    /// Something else (a pong, a ping) arrived on the account's flow: it is alive.
    pub fn flow_alive(&mut self, now: Instant, id: AccountId) {
        if let Some(Account {
            flow: Flow::Up { last_rx, .. },
            ..
        }) = self.accounts.get_mut(&id)
        {
            *last_rx = now;
        }
    }

    pub(in crate::core) fn connect(&mut self, _now: Instant, id: AccountId) {
        let Some(account) = self.accounts.get_mut(&id) else {
            return;
        };
        account.flow = Flow::Connecting;
        self.out.push_back(Output::Connect {
            account: id,
            config: Box::new(account.cfg.clone()),
        });
        if self.snapshot.account(id).map(|a| &a.connection) != Some(&ConnectionState::Connecting) {
            self.emit(EventKind::Connection {
                account: id,
                state: ConnectionState::Connecting,
            });
        }
    }
}
