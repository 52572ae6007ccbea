//! `EngineHandle`: commands in, typed replies back; events out through a broadcast channel.

use crate::error::EngineError;
use crate::event::{CallId, EngineEvent, Snapshot};
use crate::media::MediaOptions;
use tokio::sync::{broadcast, mpsc, oneshot};

pub(crate) type Reply<T> = oneshot::Sender<Result<T, EngineError>>;

pub(crate) enum Command {
    Register(Reply<()>),
    Unregister(Reply<()>),
    Call {
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
    Snapshot(oneshot::Sender<Snapshot>),
    Shutdown(oneshot::Sender<()>),
}

/// Cloneable handle to a running engine.
#[derive(Clone)]
pub struct EngineHandle {
    pub(crate) tx: mpsc::Sender<Command>,
    pub(crate) events: broadcast::Sender<EngineEvent>,
}

fn gone() -> EngineError {
    EngineError::new("engine.stopped", "the engine has stopped")
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

    /// Registers the account (and keeps it registered); progress comes as events.
    pub async fn register(&self) -> Result<(), EngineError> {
        self.ask(Command::Register).await
    }

    /// Removes the registration.
    pub async fn unregister(&self) -> Result<(), EngineError> {
        self.ask(Command::Unregister).await
    }

    /// Places a call to a user name, `user@host` or SIP URI.
    pub async fn call(&self, target: &str, media: MediaOptions) -> Result<CallId, EngineError> {
        let target = target.to_owned();
        self.ask(|reply| Command::Call {
            target,
            media,
            reply,
        })
        .await
    }

    /// Answers an incoming call.
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
