// The reactive engine state components read: a Projection fed by a Backend, resynced from a
// fresh snapshot whenever the event stream has a gap.
import type { CallId } from '../bindings/CallId';
import type { CallSnapshot } from '../bindings/CallSnapshot';
import type { EngineEvent } from '../bindings/EngineEvent';
import type { Snapshot } from '../bindings/Snapshot';
import type { Backend, Unsubscribe } from '../backend/types';
import { Projection } from './projection';

export class EngineStore {
  /** The projected engine state; null until the first snapshot arrives. */
  snapshot = $state<Snapshot | null>(null);
  /** When (ms since epoch, our clock) each call was first seen active: drives call timers. */
  activeSince = $state<Record<CallId, number>>({});
  /**
   * The last call removed after it ended, in its final state, so the UI can say how it ended
   * (the engine removes a call right after ending it). Cleared by a new call or `dismissEnded`.
   */
  lastEnded = $state<CallSnapshot | null>(null);
  /** How many times the stream had a gap and we fetched a new snapshot. */
  resyncs = $state(0);

  private projection = new Projection();
  private unsubscribe: Unsubscribe | null = null;
  private resyncing: Promise<void> | null = null;
  private readonly backend: Backend;
  private readonly now: () => number;

  constructor(backend: Backend, now: () => number = Date.now) {
    this.backend = backend;
    this.now = now;
  }

  /** Subscribes first, then fetches the snapshot, so no event falls between the two. */
  async start(): Promise<void> {
    this.unsubscribe = await this.backend.onEvent((ev) => this.onEvent(ev));
    await this.resync();
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
  }

  private onEvent(ev: EngineEvent): void {
    const result = this.projection.push(ev);
    this.publish();
    if (result === 'gap' && this.projection.state !== null) void this.resync();
  }

  /** Replaces the projection with a fresh snapshot (one request at a time). */
  resync(): Promise<void> {
    if (this.resyncing) return this.resyncing;
    const first = this.projection.state === null;
    this.resyncing = (async () => {
      try {
        const snap = await this.backend.snapshot();
        if (!first) this.resyncs += 1;
        // A snapshot older than what we have would move us backwards.
        const cur = this.projection.state;
        if (cur === null || snap.seq > cur.seq) this.projection.reset(snap);
        this.publish();
      } finally {
        this.resyncing = null;
      }
    })();
    return this.resyncing;
  }

  dismissEnded(): void {
    this.lastEnded = null;
  }

  private publish(): void {
    const s = this.projection.state;
    if (s === null) return;
    const before = this.snapshot?.calls ?? [];
    const gone = before.filter((c) => c.state.state === 'ended' && !s.calls.some((x) => x.call === c.call));
    if (gone.length > 0) this.lastEnded = gone[gone.length - 1];
    else if (s.calls.some((c) => !before.some((b) => b.call === c.call))) this.lastEnded = null;
    const since: Record<CallId, number> = {};
    for (const c of s.calls) {
      if (c.state.state === 'active') since[c.call] = this.activeSince[c.call] ?? this.now();
    }
    this.activeSince = since;
    this.snapshot = s;
  }
}
