//! `EngineHandle`: commands in, typed replies back; events out through a broadcast channel.

use crate::config::AccountConfig;
use crate::error::{EngineError, ErrorCode};
use crate::event::{AccountId, CallId, EngineEvent, Snapshot};
use crate::media::{AudioPrefs, Levels, MediaOptions};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

pub(crate) type Reply<T> = oneshot::Sender<Result<T, EngineError>>;

pub(crate) enum Command {
    AddAccount(Box<AccountConfig>, Reply<AccountId>),
    UpdateAccount(AccountId, Box<AccountConfig>, Reply<()>),
    RemoveAccount(AccountId, Reply<()>),
    SetDefaultAccount(AccountId, Reply<()>),
    Register(Reply<()>),
    Unregister(Reply<()>),
    Call {
        account: Option<AccountId>,
        target: String,
        media: MediaOptions,
        reply: Reply<CallId>,
    },
    Answer {
        call: CallId,
        media: MediaOptions,
        reply: Reply<()>,
    },
    Reject {
        call: CallId,
        code: u16,
        reply: Reply<()>,
    },
    Hangup {
        call: CallId,
        reply: Reply<()>,
    },
    SetMuted {
        call: CallId,
        muted: bool,
        reply: Reply<()>,
    },
    SetHeld {
        call: CallId,
        held: bool,
        reply: Reply<()>,
    },
    Focus {
        call: CallId,
        reply: Reply<()>,
    },
    Merge {
        call: CallId,
        other: CallId,
        reply: Reply<()>,
    },
    Split {
        call: CallId,
        reply: Reply<()>,
    },
    SendDtmf {
        call: CallId,
        digits: String,
        reply: Reply<()>,
    },
    TransferAttended {
        call: CallId,
        to: CallId,
        reply: Reply<()>,
    },
    Transfer {
        call: CallId,
        target: String,
        reply: Reply<()>,
    },
    SetAudio(AudioPrefs, Reply<()>),
    SetDoNotDisturb(bool, Reply<()>),
    TestAudio {
        speaker: Option<String>,
        microphone: Option<String>,
        reply: Reply<()>,
    },
    Snapshot(oneshot::Sender<Snapshot>),
    Shutdown(oneshot::Sender<()>),
}

/// Cloneable handle to a running engine.
#[derive(Clone)]
pub struct EngineHandle {
    pub(crate) tx: mpsc::Sender<Command>,
    pub(crate) events: broadcast::Sender<EngineEvent>,
    pub(crate) levels: watch::Receiver<Levels>,
}

fn gone() -> EngineError {
    EngineError::new(ErrorCode::EngineStopped, "the engine has stopped")
}

impl EngineHandle {
    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, EngineError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(make(reply)).await.map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }

    /// Subscribes to events from now on; pair with [`EngineHandle::snapshot`] to resync.
    pub fn subscribe(&self) -> broadcast::Receiver<EngineEvent> {
        self.events.subscribe()
    }

    /// Adds an account and connects it (it registers once [`EngineHandle::register`] was
    /// called); no other account or call is touched. The first account is the default.
    pub async fn add_account(&self, account: AccountConfig) -> Result<AccountId, EngineError> {
        self.ask(|reply| Command::AddAccount(Box::new(account), reply))
            .await
    }

    /// Changes one account: new codecs apply to the next call; a new server, identity or
    /// password reconnects and re-registers it (after its calls end, if it has any).
    pub async fn update_account(
        &self,
        id: AccountId,
        account: AccountConfig,
    ) -> Result<(), EngineError> {
        self.ask(|reply| Command::UpdateAccount(id, Box::new(account), reply))
            .await
    }

    /// Removes one account: hangs up its calls, unregisters it, closes its flow.
    pub async fn remove_account(&self, id: AccountId) -> Result<(), EngineError> {
        self.ask(|reply| Command::RemoveAccount(id, reply)).await
    }

    /// Makes `id` the account calls go out from when none is named.
    pub async fn set_default_account(&self, id: AccountId) -> Result<(), EngineError> {
        self.ask(|reply| Command::SetDefaultAccount(id, reply))
            .await
    }

    /// Registers every account (and keeps them registered, accounts added later too);
    /// progress comes as events.
    pub async fn register(&self) -> Result<(), EngineError> {
        self.ask(Command::Register).await
    }

    /// Removes every account's registration.
    pub async fn unregister(&self) -> Result<(), EngineError> {
        self.ask(Command::Unregister).await
    }

    /// Places a call from the default account to a user name, `user@host` or SIP URI. The
    /// call that had the microphone is put on hold.
    pub async fn call(&self, target: &str, media: MediaOptions) -> Result<CallId, EngineError> {
        self.call_from(None, target, media).await
    }

    /// [`EngineHandle::call`] from a chosen account (`None`: the default one).
    pub async fn call_from(
        &self,
        account: Option<AccountId>,
        target: &str,
        media: MediaOptions,
    ) -> Result<CallId, EngineError> {
        let target = target.to_owned();
        self.ask(|reply| Command::Call {
            account,
            target,
            media,
            reply,
        })
        .await
    }

    /// Switches to a call: it gets the microphone and speaker (resumed with a re-INVITE) and
    /// the call or conference that had them is put on hold.
    pub async fn focus(&self, call: CallId) -> Result<(), EngineError> {
        self.ask(|reply| Command::Focus { call, reply }).await
    }

    /// Joins two established calls into a local three-way conference: each far end hears the
    /// other and our microphone.
    pub async fn merge(&self, call: CallId, other: CallId) -> Result<(), EngineError> {
        self.ask(|reply| Command::Merge { call, other, reply })
            .await
    }

    /// Takes a call out of the conference and puts it on hold.
    pub async fn split(&self, call: CallId) -> Result<(), EngineError> {
        self.ask(|reply| Command::Split { call, reply }).await
    }

    /// Attended transfer (RFC 5589): the far end of `call` is connected to the far end of
    /// `to` (REFER with Replaces), and both calls end with outcome `transferred`. Replies once
    /// the far end of `call` accepts or refuses to try.
    pub async fn transfer_attended(&self, call: CallId, to: CallId) -> Result<(), EngineError> {
        self.ask(|reply| Command::TransferAttended { call, to, reply })
            .await
    }

    /// Answers an incoming call (the call that had the microphone is put on hold).
    pub async fn answer(&self, call: CallId, media: MediaOptions) -> Result<(), EngineError> {
        self.ask(|reply| Command::Answer { call, media, reply })
            .await
    }

    /// Declines an incoming call with `code` (486 busy, 603 decline).
    pub async fn reject(&self, call: CallId, code: u16) -> Result<(), EngineError> {
        self.ask(|reply| Command::Reject { call, code, reply })
            .await
    }

    /// Hangs up or cancels a call.
    pub async fn hangup(&self, call: CallId) -> Result<(), EngineError> {
        self.ask(|reply| Command::Hangup { call, reply }).await
    }

    /// Mutes or unmutes our microphone in a call (silence is still sent, so the far end's
    /// jitter buffer and NATs see a live stream).
    pub async fn set_muted(&self, call: CallId, muted: bool) -> Result<(), EngineError> {
        self.ask(|reply| Command::SetMuted { call, muted, reply })
            .await
    }

    /// Puts a call on hold (a re-INVITE with `a=sendonly`) or resumes it (`a=sendrecv`).
    /// Returns once the offer is sent; the outcome comes as a `call_changed` event.
    pub async fn set_held(&self, call: CallId, held: bool) -> Result<(), EngineError> {
        self.ask(|reply| Command::SetHeld { call, held, reply })
            .await
    }

    /// Sends DTMF digits (`0-9*#A-D`) as RFC 4733 telephone-events.
    pub async fn send_dtmf(&self, call: CallId, digits: &str) -> Result<(), EngineError> {
        let digits = digits.to_owned();
        self.ask(|reply| Command::SendDtmf {
            call,
            digits,
            reply,
        })
        .await
    }

    /// Blind transfer (RFC 3515 REFER): replies once the far end accepts or refuses to try;
    /// on success the call ends with outcome `transferred`.
    pub async fn transfer(&self, call: CallId, target: &str) -> Result<(), EngineError> {
        let target = target.to_owned();
        self.ask(|reply| Command::Transfer {
            call,
            target,
            reply,
        })
        .await
    }

    /// Changes devices, ringtone and volume; a running call keeps its devices but takes the
    /// new volume.
    pub async fn set_audio(&self, prefs: AudioPrefs) -> Result<(), EngineError> {
        self.ask(|reply| Command::SetAudio(prefs, reply)).await
    }

    /// While on, incoming calls are declined with 486 Busy Here and reported as missed.
    pub async fn set_do_not_disturb(&self, on: bool) -> Result<(), EngineError> {
        self.ask(|reply| Command::SetDoNotDisturb(on, reply)).await
    }

    /// Plays a one-second test tone on `speaker` while metering `microphone` (see
    /// [`EngineHandle::levels`]); `None` is the system default. The devices need not be the
    /// saved ones, so the settings screen can test before saving.
    pub async fn test_audio(
        &self,
        speaker: Option<String>,
        microphone: Option<String>,
    ) -> Result<(), EngineError> {
        self.ask(|reply| Command::TestAudio {
            speaker,
            microphone,
            reply,
        })
        .await
    }

    /// Microphone and speaker levels, updated about 20 times a second while audio runs.
    pub fn levels(&self) -> watch::Receiver<Levels> {
        self.levels.clone()
    }

    /// The current state, as of the returned `seq`.
    pub async fn snapshot(&self) -> Result<Snapshot, EngineError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Snapshot(reply))
            .await
            .map_err(|_| gone())?;
        rx.await.map_err(|_| gone())
    }

    /// Hangs up every call, unregisters, closes the flow and stops the engine.
    pub async fn shutdown(&self) {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Command::Shutdown(reply)).await.is_ok() {
            let _ = rx.await;
        }
    }
}
