// An in-memory Backend: a tiny fake engine that numbers its events like the real one, for
// component tests and for running the UI in a plain browser (`npm run dev`).
import type { CallId } from '../bindings/CallId';
import type { CallOutcome } from '../bindings/CallOutcome';
import type { CallState } from '../bindings/CallState';
import type { Direction } from '../bindings/Direction';
import type { EngineError } from '../bindings/EngineError';
import type { EngineEvent } from '../bindings/EngineEvent';
import type { EventKind } from '../bindings/EventKind';
import type { Snapshot } from '../bindings/Snapshot';
import { DEFAULT_PREFERENCES, validatePreferences } from '../preferences';
import { applyEvent } from '../state/projection';
import {
  BackendError,
  type AccountSettings,
  type Backend,
  type Devices,
  type DialRequest,
  type HistoryEntry,
  type Levels,
  type Preferences,
  type Unsubscribe,
} from './types';

/** One command the UI sent, as recorded by the mock. */
export interface Sent {
  command: string;
  args: unknown[];
}

type Active = Extract<CallState, { state: 'active' }>;

const ZERO_STATS = { codec: null, rtp_tx: 0, rtp_rx: 0, rx_lost: 0, jitter_ms: 0, duration_s: 0, dtmf_rx: '' };

/** How the engine's history records a call that ended this way. */
function historyOutcome(direction: Direction, outcome: CallOutcome, answered: boolean): HistoryEntry['outcome'] {
  if (outcome === 'completed' && answered) return 'answered';
  if (outcome === 'failed' || outcome === 'transferred') return outcome;
  if (outcome === 'rejected') return direction === 'incoming' ? 'declined' : 'rejected';
  return direction === 'incoming' ? 'missed' : 'cancelled';
}

/** Subscribers of one event feed. */
class Feed<T> {
  private handlers = new Set<(value: T) => void>();

  async add(handler: (value: T) => void): Promise<Unsubscribe> {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  send(value: T): void {
    for (const h of this.handlers) h(value);
  }
}

export class MockBackend implements Backend {
  /** Commands received, in order. */
  readonly sent: Sent[] = [];
  /** Settings as stored (what `loadSettings` returns). */
  stored: AccountSettings | null;
  /** Preferences as stored. */
  preferences: Preferences;
  /** What `listDevices` returns. */
  devices: Devices;
  /** Past calls, newest first. */
  entries: HistoryEntry[];
  /** The last `setVolume`. */
  volume = 1;
  private engine: Snapshot = {
    seq: 0,
    connection: { state: 'connecting' },
    registration: { state: 'unregistered' },
    calls: [],
  };
  private events = new Feed<EngineEvent>();
  private levelsFeed = new Feed<Levels>();
  private devicesFeed = new Feed<void>();
  private dialFeed = new Feed<DialRequest>();
  private historyFeed = new Feed<void>();
  private failures = new Map<string, EngineError>();
  private nextCall = 1;
  private nextEntry = 1;

  constructor(
    opts: {
      settings?: AccountSettings | null;
      snapshot?: Snapshot;
      preferences?: Preferences;
      devices?: Devices;
      history?: HistoryEntry[];
    } = {},
  ) {
    this.stored = opts.settings ?? null;
    if (opts.snapshot) this.engine = structuredClone(opts.snapshot);
    this.preferences = structuredClone(opts.preferences ?? DEFAULT_PREFERENCES);
    this.devices = structuredClone(opts.devices ?? { inputs: ['Built-in Microphone'], outputs: ['Built-in Speakers'] });
    this.entries = structuredClone(opts.history ?? []);
    this.nextEntry = Math.max(0, ...this.entries.map((e) => e.id)) + 1;
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
    const ev = this.emitSilently(kind);
    this.deliver(ev);
    return ev;
  }

  /** Hands subscribers an event as is (for duplicates, gaps and reordering). */
  deliver(ev: EngineEvent): void {
    this.events.send(ev);
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

  /** Publishes a level reading. */
  levels(levels: Levels): void {
    this.levelsFeed.send(levels);
  }

  /** Replaces the device list and says so. */
  devicesChanged(devices: Devices): void {
    this.devices = structuredClone(devices);
    this.devicesFeed.send();
  }

  /** A link asks to dial. */
  dialRequest(request: DialRequest): void {
    this.dialFeed.send(request);
  }

  private record(command: string, ...args: unknown[]): void {
    this.sent.push({ command, args });
    const err = this.failures.get(command);
    if (err) {
      this.failures.delete(command);
      throw new BackendError(err.code, err.message);
    }
  }

  private find(call: CallId) {
    const c = this.engine.calls.find((x) => x.call === call);
    if (!c) throw new BackendError('sip.no_such_call', `no call ${call}`);
    return c;
  }

  private active(call: CallId): Active {
    const { state } = this.find(call);
    if (state.state !== 'active') throw new BackendError('sip.invalid_state', `call ${call} is ${state.state}`);
    return state;
  }

  private end(call: CallId, outcome: CallOutcome): void {
    const c = this.find(call);
    const answered = c.state.state === 'active';
    this.change(call, { state: 'ended', outcome, status: null, error: null });
    this.emit({ type: 'call_removed', call, stats: ZERO_STATS });
    this.entries.unshift({
      id: this.nextEntry++,
      direction: c.direction,
      remote: c.remote,
      started_at_ms: Date.now(),
      duration_s: 0,
      outcome: historyOutcome(c.direction, outcome, answered),
    });
    this.historyFeed.send();
  }

  private connectAndRegister(): void {
    if (this.engine.connection.state !== 'connected') {
      this.emit({ type: 'connection', state: 'connected' });
    }
    this.emit({ type: 'registration', state: 'registering' });
    this.emit({ type: 'registration', state: 'registered', expires: 600 });
  }

  async snapshot(): Promise<Snapshot> {
    this.record('snapshot');
    return structuredClone(this.engine);
  }

  onEvent(handler: (ev: EngineEvent) => void): Promise<Unsubscribe> {
    return this.events.add(handler);
  }

  async register(): Promise<void> {
    this.record('register');
    this.connectAndRegister();
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
    this.find(call);
    this.change(call, { state: 'active', codec: 'opus', muted: false, held: false, remote_held: false });
  }

  async reject(call: CallId): Promise<void> {
    this.record('reject', call);
    this.end(call, 'rejected');
  }

  async hangup(call: CallId): Promise<void> {
    this.record('hangup', call);
    this.end(call, this.find(call).state.state === 'active' ? 'completed' : 'cancelled');
  }

  async setMuted(call: CallId, muted: boolean): Promise<void> {
    this.record('set_muted', call, muted);
    this.change(call, { ...this.active(call), muted });
  }

  async setHeld(call: CallId, held: boolean): Promise<void> {
    this.record('set_held', call, held);
    this.change(call, { ...this.active(call), held });
  }

  async sendDtmf(call: CallId, digits: string): Promise<void> {
    this.record('send_dtmf', call, digits);
    this.active(call);
  }

  async transfer(call: CallId, target: string): Promise<void> {
    this.record('transfer', call, target);
    this.active(call);
    this.end(call, 'transferred');
  }

  async loadSettings(): Promise<AccountSettings | null> {
    this.record('load_settings');
    return this.stored === null ? null : { ...this.stored };
  }

  async saveSettings(settings: AccountSettings): Promise<void> {
    this.record('save_settings', settings);
    this.stored = { ...settings };
    this.connectAndRegister();
  }

  async trustCertificate(sha256: string): Promise<void> {
    this.record('trust_certificate', sha256);
    if (this.stored) this.stored = { ...this.stored, trusted_certificate: sha256 };
    this.connectAndRegister();
  }

  async loadPreferences(): Promise<Preferences> {
    this.record('load_preferences');
    return structuredClone(this.preferences);
  }

  async savePreferences(preferences: Preferences): Promise<void> {
    this.record('save_preferences', preferences);
    const problem = Object.values(validatePreferences(preferences))[0];
    if (problem) throw new BackendError('settings.invalid', problem);
    this.preferences = structuredClone(preferences);
  }

  async listDevices(): Promise<Devices> {
    this.record('list_devices');
    return structuredClone(this.devices);
  }

  async testAudio(speaker: string | null, microphone: string | null): Promise<void> {
    this.record('test_audio', speaker, microphone);
    const missing = (name: string | null, list: string[]) => name !== null && !list.includes(name);
    if (missing(speaker, this.devices.outputs) || missing(microphone, this.devices.inputs)) {
      throw new BackendError('audio.device_not_found', 'no such device');
    }
  }

  async setVolume(volume: number): Promise<void> {
    this.record('set_volume', volume);
    this.volume = volume;
  }

  async history(limit: number): Promise<HistoryEntry[]> {
    this.record('history', limit);
    return structuredClone(this.entries.slice(0, limit));
  }

  async clearHistory(): Promise<void> {
    this.record('clear_history');
    this.entries = [];
    this.historyFeed.send();
  }

  onLevels(handler: (levels: Levels) => void): Promise<Unsubscribe> {
    return this.levelsFeed.add(handler);
  }

  onDevicesChanged(handler: () => void): Promise<Unsubscribe> {
    return this.devicesFeed.add(handler);
  }

  onDialRequest(handler: (request: DialRequest) => void): Promise<Unsubscribe> {
    return this.dialFeed.add(handler);
  }

  onHistoryChanged(handler: () => void): Promise<Unsubscribe> {
    return this.historyFeed.add(handler);
  }
}
