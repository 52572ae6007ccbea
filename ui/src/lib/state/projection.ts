// The UI's copy of the engine state: a snapshot, then events folded in by sequence number.
// `applyEvent` is the same fold as the engine's `Snapshot::apply` (crates/engine/src/event.rs).
import type { EngineEvent } from '../bindings/EngineEvent';
import type { Snapshot } from '../bindings/Snapshot';

/** Returns the snapshot with one event folded in (the input is not modified). */
export function applyEvent(s: Snapshot, ev: EngineEvent): Snapshot {
  const next: Snapshot = { ...s, seq: ev.seq };
  switch (ev.type) {
    case 'account_added': {
      const others = ev.default ? s.accounts.map((a) => ({ ...a, default: false })) : s.accounts;
      next.accounts = others.some((a) => a.account === ev.account)
        ? others.map((a) => (a.account === ev.account ? { ...a, name: ev.name, default: ev.default, secure: ev.secure } : a))
        : [
            ...others,
            {
              account: ev.account,
              name: ev.name,
              default: ev.default,
              secure: ev.secure,
              connection: { state: 'connecting' },
              registration: { state: 'unregistered' },
            },
          ];
      break;
    }
    case 'account_removed':
      next.accounts = s.accounts.filter((a) => a.account !== ev.account);
      break;
    case 'connection': {
      const { seq: _seq, type: _type, account, ...connection } = ev;
      next.accounts = s.accounts.map((a) => (a.account === account ? { ...a, connection } : a));
      break;
    }
    case 'registration': {
      const { seq: _seq, type: _type, account, ...registration } = ev;
      next.accounts = s.accounts.map((a) => (a.account === account ? { ...a, registration } : a));
      break;
    }
    case 'call_added':
      next.calls = [
        ...s.calls,
        {
          call: ev.call,
          account: ev.account,
          direction: ev.direction,
          remote: ev.remote,
          state: ev.direction === 'outgoing' ? { state: 'calling' } : { state: 'incoming', waiting: false },
        },
      ];
      break;
    case 'call_changed':
      next.calls = s.calls.map((c) => (c.call === ev.call ? { ...c, state: ev.state } : c));
      break;
    case 'call_removed':
      next.calls = s.calls.filter((c) => c.call !== ev.call);
      break;
    case 'focus':
      next.focus = ev.call;
      break;
  }
  return next;
}

/** What `Projection.push` did with an event. */
export type PushResult = 'applied' | 'duplicate' | 'gap';

/**
 * Folds a gapless event stream into a snapshot. Events at or below the current `seq` are
 * duplicates and ignored; an event past a gap is held until the missing ones arrive or a
 * fresh snapshot (`reset`) covers them, and the caller is told to resync.
 */
export class Projection {
  private current: Snapshot | null = null;
  /** Events that arrived before the snapshot or after a gap, by seq. */
  private pending = new Map<number, EngineEvent>();

  get state(): Snapshot | null {
    return this.current;
  }

  /** Starts over from a snapshot; held events it doesn't cover are applied after it. */
  reset(snapshot: Snapshot): PushResult {
    this.current = snapshot;
    return this.drain();
  }

  push(ev: EngineEvent): PushResult {
    if (this.current !== null && ev.seq <= this.current.seq) return 'duplicate';
    if (this.pending.has(ev.seq)) return 'duplicate';
    this.pending.set(ev.seq, ev);
    if (this.current === null) return 'applied';
    return this.drain();
  }

  private drain(): PushResult {
    const cur = this.current!;
    let s = cur;
    for (const seq of [...this.pending.keys()]) {
      if (seq <= s.seq) this.pending.delete(seq);
    }
    for (let ev = this.pending.get(s.seq + 1); ev; ev = this.pending.get(s.seq + 1)) {
      this.pending.delete(ev.seq);
      s = applyEvent(s, ev);
    }
    this.current = s;
    return this.pending.size > 0 ? 'gap' : 'applied';
  }
}
