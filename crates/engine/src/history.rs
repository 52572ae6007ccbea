//! Call history: `CallLog` turns the engine's call events into one entry per finished call,
//! `HistoryStore` keeps them in SQLite (`DIR/history.sqlite3`) on a thread of its own, so a
//! slow disk never stalls the caller. An engine given a store records its own calls there
//! (`wren_engine::start_recording`); the store tells its subscribers what changed.

use crate::error::{EngineError, ErrorCode};
use crate::event::{AccountId, CallId, CallOutcome, CallState, Direction, EventKind};
use rusqlite::{params, Connection};
use serde::Serialize;
use std::collections::HashMap;
use std::path::Path;
use tokio::sync::{broadcast, oneshot};

/// The oldest entries go once there are more than this many.
const KEEP: u32 = 2000;

/// How a finished call is shown in the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "snake_case")]
pub enum HistoryOutcome {
    /// Talked (either direction).
    Answered,
    /// Incoming, never answered here (caller gave up, or do-not-disturb).
    Missed,
    /// Incoming, we refused it.
    Declined,
    /// Outgoing, we gave up before an answer.
    Cancelled,
    /// Outgoing, the far end refused it.
    Rejected,
    Failed,
    Transferred,
}

impl HistoryOutcome {
    fn classify(direction: Direction, outcome: CallOutcome, answered: bool) -> Self {
        match (outcome, direction) {
            (CallOutcome::Completed, _) if answered => Self::Answered,
            (CallOutcome::Failed, _) => Self::Failed,
            (CallOutcome::Transferred, _) => Self::Transferred,
            (CallOutcome::Rejected, Direction::Incoming) => Self::Declined,
            (CallOutcome::Rejected, Direction::Outgoing) => Self::Rejected,
            (_, Direction::Incoming) => Self::Missed,
            (_, Direction::Outgoing) => Self::Cancelled,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Answered => "answered",
            Self::Missed => "missed",
            Self::Declined => "declined",
            Self::Cancelled => "cancelled",
            Self::Rejected => "rejected",
            Self::Failed => "failed",
            Self::Transferred => "transferred",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [
            Self::Answered,
            Self::Missed,
            Self::Declined,
            Self::Cancelled,
            Self::Rejected,
            Self::Failed,
            Self::Transferred,
        ]
        .into_iter()
        .find(|o| o.as_str() == text)
    }
}

/// One finished call (the UI's `HistoryEntry`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct HistoryEntry {
    /// 0 until stored.
    pub id: i64,
    pub direction: Direction,
    pub remote: String,
    /// The account it was made from or came to (`user@domain`; empty for calls recorded
    /// before accounts were kept).
    pub account: String,
    /// Wall-clock start, milliseconds since the Unix epoch.
    pub started_at_ms: i64,
    /// Seconds talked (0 when never answered).
    pub duration_s: f64,
    pub outcome: HistoryOutcome,
}

struct Pending {
    direction: Direction,
    remote: String,
    account: String,
    started_at_ms: i64,
    answered: bool,
    outcome: Option<CallOutcome>,
}

/// Follows one engine's events and hands back each call once it is over.
#[derive(Default)]
pub struct CallLog {
    calls: HashMap<CallId, Pending>,
    accounts: HashMap<AccountId, String>,
}

impl CallLog {
    /// Folds an event in; returns the call's entry when the event ends it. `now_ms` is the
    /// wall clock, used as the start of a call that appears.
    pub fn observe(&mut self, kind: &EventKind, now_ms: i64) -> Option<HistoryEntry> {
        match kind {
            EventKind::AccountAdded { account, name, .. } => {
                self.accounts.insert(*account, name.clone());
                None
            }
            EventKind::CallAdded {
                call,
                account,
                direction,
                remote,
            } => {
                self.calls.insert(
                    *call,
                    Pending {
                        direction: *direction,
                        remote: remote.clone(),
                        account: self.accounts.get(account).cloned().unwrap_or_default(),
                        started_at_ms: now_ms,
                        answered: false,
                        outcome: None,
                    },
                );
                None
            }
            EventKind::CallChanged { call, state, .. } => {
                if let Some(p) = self.calls.get_mut(call) {
                    match state {
                        CallState::Active { .. } => p.answered = true,
                        CallState::Ended { outcome, .. } => p.outcome = Some(*outcome),
                        _ => {}
                    }
                }
                None
            }
            EventKind::CallRemoved { call, stats, .. } => {
                let p = self.calls.remove(call)?;
                let outcome = p.outcome.unwrap_or(CallOutcome::Failed);
                Some(HistoryEntry {
                    id: 0,
                    direction: p.direction,
                    remote: p.remote,
                    account: p.account,
                    started_at_ms: p.started_at_ms,
                    duration_s: if p.answered { stats.duration_s } else { 0.0 },
                    outcome: HistoryOutcome::classify(p.direction, outcome, p.answered),
                })
            }
            EventKind::AccountRemoved { .. }
            | EventKind::Connection { .. }
            | EventKind::Registration { .. }
            | EventKind::Focus { .. } => None,
        }
    }
}

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// What changed in the history.
#[derive(Debug, Clone, PartialEq)]
pub enum HistoryChange {
    /// A finished call was stored (with its id).
    Added(HistoryEntry),
    /// Every entry was deleted.
    Cleared,
}

/// The history database, served by its own thread; the thread ends when the last clone of
/// the store drops.
#[derive(Clone)]
pub struct HistoryStore {
    jobs: std::sync::mpsc::Sender<Job>,
    changes: broadcast::Sender<HistoryChange>,
}

fn db_error(e: impl std::fmt::Display) -> EngineError {
    EngineError::new(ErrorCode::HistoryFailed, format!("call history: {e}"))
}

fn closed() -> EngineError {
    EngineError::new(ErrorCode::HistoryFailed, "the history thread has stopped")
}

fn direction_str(d: Direction) -> &'static str {
    match d {
        Direction::Incoming => "incoming",
        Direction::Outgoing => "outgoing",
    }
}

fn migrate(db: &Connection) -> rusqlite::Result<()> {
    db.pragma_update(None, "journal_mode", "WAL")?;
    db.execute_batch(
        "CREATE TABLE IF NOT EXISTS calls (
            id INTEGER PRIMARY KEY,
            direction TEXT NOT NULL,
            remote TEXT NOT NULL,
            started_at_ms INTEGER NOT NULL,
            duration_s REAL NOT NULL,
            outcome TEXT NOT NULL
        );",
    )?;
    let version: i64 = db.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version < 2 {
        // Version 2: the account of each call.
        let has_account = db.prepare("SELECT account FROM calls LIMIT 0").is_ok();
        if !has_account {
            db.execute_batch("ALTER TABLE calls ADD COLUMN account TEXT NOT NULL DEFAULT ''")?;
        }
        db.execute_batch("PRAGMA user_version = 2;")?;
    }
    Ok(())
}

impl HistoryStore {
    /// Opens (or creates) the database at `path`; `history.failed` when it can't be read,
    /// in which case the file is left alone.
    pub fn open(path: &Path) -> Result<Self, EngineError> {
        let db = Connection::open(path).map_err(db_error)?;
        migrate(&db).map_err(db_error)?;
        let (jobs, rx) = std::sync::mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("wren-history".into())
            .spawn(move || {
                let mut db = db;
                for job in rx {
                    job(&mut db);
                }
            })
            .map_err(db_error)?;
        Ok(Self {
            jobs,
            changes: broadcast::channel(64).0,
        })
    }

    /// What changes from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<HistoryChange> {
        self.changes.subscribe()
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, EngineError> {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(Box::new(move |db| {
                let _ = tx.send(f(db).map_err(db_error));
            }))
            .map_err(|_| closed())?;
        rx.await.map_err(|_| closed())?
    }

    /// Stores a finished call; returns its id.
    pub async fn add(&self, entry: HistoryEntry) -> Result<i64, EngineError> {
        let stored = entry.clone();
        let id = self
            .run(move |db| {
                let tx = db.transaction()?;
                tx.execute(
                "INSERT INTO calls (direction, remote, started_at_ms, duration_s, outcome, account)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    direction_str(entry.direction),
                    entry.remote,
                    entry.started_at_ms,
                    entry.duration_s,
                    entry.outcome.as_str(),
                    entry.account
                ],
            )?;
                let id = tx.last_insert_rowid();
                tx.execute(
                    "DELETE FROM calls WHERE id NOT IN
                 (SELECT id FROM calls ORDER BY id DESC LIMIT ?1)",
                    params![KEEP],
                )?;
                tx.commit()?;
                Ok(id)
            })
            .await?;
        let _ = self
            .changes
            .send(HistoryChange::Added(HistoryEntry { id, ..stored }));
        Ok(id)
    }

    /// The last `limit` calls, newest first. Rows this version can't read are skipped.
    pub async fn list(&self, limit: u32) -> Result<Vec<HistoryEntry>, EngineError> {
        self.run(move |db| {
            let mut stmt = db.prepare(
                "SELECT id, direction, remote, started_at_ms, duration_s, outcome, account
                 FROM calls ORDER BY id DESC LIMIT ?1",
            )?;
            let rows = stmt.query_map(params![limit], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, f64>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (id, direction, remote, started_at_ms, duration_s, outcome, account) = row?;
                let direction = match direction.as_str() {
                    "incoming" => Direction::Incoming,
                    "outgoing" => Direction::Outgoing,
                    _ => continue,
                };
                let Some(outcome) = HistoryOutcome::parse(&outcome) else {
                    continue;
                };
                out.push(HistoryEntry {
                    id,
                    direction,
                    remote,
                    account,
                    started_at_ms,
                    duration_s,
                    outcome,
                });
            }
            Ok(out)
        })
        .await
    }

    /// Deletes every entry.
    pub async fn clear(&self) -> Result<(), EngineError> {
        self.run(|db| db.execute("DELETE FROM calls", []).map(|_| ()))
            .await?;
        let _ = self.changes.send(HistoryChange::Cleared);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::CallStats;
    use crate::files::tests::TempDir;

    fn added(call: u64, direction: Direction) -> EventKind {
        EventKind::CallAdded {
            call: CallId(call),
            account: AccountId(1),
            direction,
            remote: format!("sip:peer{call}@example.com"),
        }
    }

    fn active(call: u64) -> EventKind {
        EventKind::CallChanged {
            call: CallId(call),
            account: AccountId(1),
            state: CallState::Active {
                codec: "opus".into(),
                muted: false,
                held: false,
                remote_held: false,
                conference: false,
            },
        }
    }

    fn ended(call: u64, outcome: CallOutcome) -> EventKind {
        EventKind::CallChanged {
            call: CallId(call),
            account: AccountId(1),
            state: CallState::Ended {
                outcome,
                status: None,
                error: None,
            },
        }
    }

    fn removed(call: u64, duration_s: f64) -> EventKind {
        EventKind::CallRemoved {
            call: CallId(call),
            account: AccountId(1),
            stats: CallStats {
                duration_s,
                ..Default::default()
            },
        }
    }

    /// The entry a call with these events leaves.
    fn entry_for(events: &[EventKind]) -> Option<HistoryEntry> {
        let mut log = CallLog::default();
        let mut out = None;
        for (t, ev) in events.iter().enumerate() {
            if let Some(e) = log.observe(ev, 1_000 + t as i64) {
                assert!(out.is_none(), "two entries for one call");
                out = Some(e);
            }
        }
        out
    }

    #[test]
    fn each_way_a_call_ends_has_its_history_outcome() {
        use CallOutcome::*;
        use Direction::*;
        let cases = [
            (Outgoing, true, Completed, HistoryOutcome::Answered, 12.5),
            (Incoming, true, Completed, HistoryOutcome::Answered, 12.5),
            (Incoming, false, Cancelled, HistoryOutcome::Missed, 0.0),
            (Incoming, false, Rejected, HistoryOutcome::Declined, 0.0),
            (Outgoing, false, Cancelled, HistoryOutcome::Cancelled, 0.0),
            (Outgoing, false, Rejected, HistoryOutcome::Rejected, 0.0),
            (Outgoing, false, Failed, HistoryOutcome::Failed, 0.0),
            (
                Outgoing,
                true,
                Transferred,
                HistoryOutcome::Transferred,
                12.5,
            ),
        ];
        for (direction, answered, outcome, want, duration) in cases {
            let mut events = vec![added(7, direction)];
            if answered {
                events.push(active(7));
            }
            events.extend([ended(7, outcome), removed(7, 12.5)]);
            let e = entry_for(&events).expect("an entry");
            assert_eq!(
                (e.outcome, e.duration_s, e.direction, e.started_at_ms),
                (want, duration, direction, 1_000),
                "{direction:?} {outcome:?} answered={answered}"
            );
            assert_eq!(e.remote, "sip:peer7@example.com");
        }
        // A removal for a call we never saw added (another engine's) leaves nothing.
        assert_eq!(entry_for(&[removed(9, 1.0)]), None);
    }

    #[tokio::test]
    async fn entries_persist_newest_first_and_clear() {
        let dir = TempDir::new("history");
        let path = dir.0.join("history.sqlite3");
        let store = HistoryStore::open(&path).unwrap();
        for (i, outcome) in [HistoryOutcome::Answered, HistoryOutcome::Missed]
            .into_iter()
            .enumerate()
        {
            let id = store
                .add(HistoryEntry {
                    id: 0,
                    direction: Direction::Incoming,
                    remote: format!("sip:caller{i}@example.com"),
                    account: "alice@example.com".into(),
                    started_at_ms: 1_700_000_000_000 + i as i64,
                    duration_s: 3.0 * i as f64,
                    outcome,
                })
                .await
                .unwrap();
            assert!(id > 0);
        }
        drop(store);
        let store = HistoryStore::open(&path).unwrap();
        let list = store.list(10).await.unwrap();
        let summary: Vec<_> = list
            .iter()
            .map(|e| (e.remote.as_str(), e.outcome, e.duration_s))
            .collect();
        assert_eq!(
            summary,
            [
                ("sip:caller1@example.com", HistoryOutcome::Missed, 3.0),
                ("sip:caller0@example.com", HistoryOutcome::Answered, 0.0)
            ]
        );
        assert_eq!(store.list(1).await.unwrap().len(), 1);
        store.clear().await.unwrap();
        assert!(store.list(10).await.unwrap().is_empty());
    }

    #[test]
    fn a_file_that_is_not_a_database_is_reported_and_kept() {
        let dir = TempDir::new("history-corrupt");
        let path = dir.0.join("history.sqlite3");
        std::fs::write(&path, b"this is not sqlite, but it is somebody's file").unwrap();
        let e = HistoryStore::open(&path).err().expect("an error");
        assert_eq!(e.code, ErrorCode::HistoryFailed);
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"this is not sqlite, but it is somebody's file"
        );
    }
}
