// The UI's copy of the engine state: a snapshot, then events folded in by sequence number.
// `applyEvent` is the same fold as the engine's `Snapshot::apply` (crates/engine/src/event.rs).
import type { EngineEvent } from '../bindings/EngineEvent';
import type { Snapshot } from '../bindings/Snapshot';

/** Returns the snapshot with one event folded in (the input is not modified). */
export function applyEvent(s: Snapshot, ev: EngineEvent): Snapshot {
  const next: Snapshot = { ...s, seq: ev.seq };
  switch (ev.type) {
    case 'connection': {
      const { seq: _seq, type: _type, ...connection } = ev;
      next.connection = connection;
      break;
    }
    case 'registration': {
      const { seq: _seq, type: _type, ...registration } = ev;
      next.registration = registration;
      break;
    }
    case 'call_added':
      next.calls = [
        ...s.calls,
        {
          call: ev.call,
          direction: ev.direction,
          remote: ev.remote,
          state: ev.direction === 'outgoing' ? { state: 'calling' } : { state: 'incoming' },
        },
      ];
      break;
    case 'call_changed':
      next.calls = s.calls.map((c) => (c.call === ev.call ? { ...c, state: ev.state } : c));
      break;
    case 'call_removed':
      next.calls = s.calls.filter((c) => c.call !== ev.call);
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
