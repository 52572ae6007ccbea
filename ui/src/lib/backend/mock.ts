// An in-memory Backend: a tiny fake engine that numbers its events like the real one, for
// component tests and for running the UI in a plain browser (`npm run dev`).
import type { CallId } from '../bindings/CallId';
import type { CallState } from '../bindings/CallState';
import type { EngineError } from '../bindings/EngineError';
import type { EngineEvent } from '../bindings/EngineEvent';
import type { EventKind } from '../bindings/EventKind';
import type { Snapshot } from '../bindings/Snapshot';
import { applyEvent } from '../state/projection';
import { BackendError, type AccountSettings, type Backend, type Unsubscribe } from './types';

/** One command the UI sent, as recorded by the mock. */
export interface Sent {
  command: string;
  args: unknown[];
}

const ZERO_STATS = { codec: null, rtp_tx: 0, rtp_rx: 0, rx_lost: 0, jitter_ms: 0, duration_s: 0 };

export class MockBackend implements Backend {
  /** Commands received, in order. */
  readonly sent: Sent[] = [];
  /** Settings as stored (what `loadSettings` returns). */
  stored: AccountSettings | null;
  private engine: Snapshot = {
    seq: 0,
    connection: { state: 'connecting' },
    registration: { state: 'unregistered' },
    calls: [],
  };
  private handlers = new Set<(ev: EngineEvent) => void>();
  private failures = new Map<string, EngineError>();
  private nextCall = 1;

  constructor(opts: { settings?: AccountSettings | null; snapshot?: Snapshot } = {}) {
    this.stored = opts.settings ?? null;
    if (opts.snapshot) this.engine = structuredClone(opts.snapshot);
  }

  /** The fake engine's own state. */
  get engineState(): Snapshot {
    return this.engine;
  }

  /** Makes the next `command` fail with this error. */
  failNext(command: string, error: EngineError): void {
    this.failures.set(command, error);
  }

  /** Publishes an event with the next sequence number. */
  emit(kind: EventKind): EngineEvent {
    const ev = { seq: this.engine.seq + 1, ...kind } as EngineEvent;
    this.engine = applyEvent(this.engine, ev);
    this.deliver(ev);
    return ev;
  }

  /** Hands subscribers an event as is (for duplicates, gaps and reordering). */
  deliver(ev: EngineEvent): void {
    for (const h of this.handlers) h(ev);
  }

  /** Advances the engine without telling subscribers (a lost event). */
  emitSilently(kind: EventKind): EngineEvent {
    const ev = { seq: this.engine.seq + 1, ...kind } as EngineEvent;
    this.engine = applyEvent(this.engine, ev);
    return ev;
  }

  /** A call arrives from `remote`. */
  incoming(remote: string): CallId {
    const call = this.nextCall++;
    this.emit({ type: 'call_added', call, direction: 'incoming', remote });
    return call;
  }

  /** Moves a call to a new state. */
  change(call: CallId, state: CallState): void {
    this.emit({ type: 'call_changed', call, state });
  }

  private record(command: string, ...args: unknown[]): void {
    this.sent.push({ command, args });
    const err = this.failures.get(command);
    if (err) {
      this.failures.delete(command);
      throw new BackendError(err.code, err.message);
    }
  }

  private end(call: CallId, outcome: 'completed' | 'rejected' | 'cancelled'): void {
    this.change(call, { state: 'ended', outcome, status: null, error: null });
    this.emit({ type: 'call_removed', call, stats: ZERO_STATS });
  }

  private known(call: CallId): void {
    if (!this.engine.calls.some((c) => c.call === call)) {
      throw new BackendError('sip.no_such_call', `no call ${call}`);
    }
  }

  async snapshot(): Promise<Snapshot> {
    this.record('snapshot');
    return structuredClone(this.engine);
  }

  async onEvent(handler: (ev: EngineEvent) => void): Promise<Unsubscribe> {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  async register(): Promise<void> {
    this.record('register');
    if (this.engine.connection.state !== 'connected') {
      this.emit({ type: 'connection', state: 'connected' });
    }
    this.emit({ type: 'registration', state: 'registering' });
    this.emit({ type: 'registration', state: 'registered', expires: 600 });
  }

  async unregister(): Promise<void> {
    this.record('unregister');
    this.emit({ type: 'registration', state: 'unregistered' });
  }

  async call(target: string): Promise<CallId> {
    this.record('call', target);
    const call = this.nextCall++;
    this.emit({ type: 'call_added', call, direction: 'outgoing', remote: target });
    return call;
  }

  async answer(call: CallId): Promise<void> {
    this.record('answer', call);
    this.known(call);
    this.change(call, { state: 'active', codec: 'opus' });
  }

  async reject(call: CallId): Promise<void> {
    this.record('reject', call);
    this.known(call);
    this.end(call, 'rejected');
  }

  async hangup(call: CallId): Promise<void> {
    this.record('hangup', call);
    this.known(call);
    const c = this.engine.calls.find((x) => x.call === call)!;
    this.end(call, c.state.state === 'active' ? 'completed' : 'cancelled');
  }

  async setMuted(call: CallId, muted: boolean): Promise<void> {
    this.record('set_muted', call, muted);
    this.known(call);
  }

  async setHeld(call: CallId, held: boolean): Promise<void> {
    this.record('set_held', call, held);
    this.known(call);
  }

  async sendDtmf(call: CallId, digits: string): Promise<void> {
    this.record('send_dtmf', call, digits);
    this.known(call);
  }

  async transfer(call: CallId, target: string): Promise<void> {
    this.record('transfer', call, target);
    this.known(call);
  }

  async loadSettings(): Promise<AccountSettings | null> {
    this.record('load_settings');
    return this.stored === null ? null : { ...this.stored };
  }

  async saveSettings(settings: AccountSettings): Promise<void> {
    this.record('save_settings', settings);
    this.stored = { ...settings };
  }
}
