// An in-memory Backend: a tiny fake engine that numbers its events like the real one, for
// component tests and for running the UI in a plain browser (`npm run dev`).
import type { AccountId } from '../bindings/AccountId';
import type { CallId } from '../bindings/CallId';
import type { CallOutcome } from '../bindings/CallOutcome';
import type { CallState } from '../bindings/CallState';
import type { Direction } from '../bindings/Direction';
import type { EngineError } from '../bindings/EngineError';
import type { EngineEvent } from '../bindings/EngineEvent';
import type { ErrorCode } from '../bindings/ErrorCode';
import type { EventKind } from '../bindings/EventKind';
import type { Fault } from '../bindings/Fault';
import type { Snapshot } from '../bindings/Snapshot';
import { DEFAULT_PREFERENCES, validatePreferences } from '../preferences';
import { addressKey, DEFAULT_SETTINGS, isInsecureServer, validateSettings, type SettingsField } from '../settings';
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
  type SavedAccounts,
  type Unsubscribe,
} from './types';

/** One command the UI sent, as recorded by the mock. */
export interface Sent {
  command: string;
  args: unknown[];
}

type Active = Extract<CallState, { state: 'active' }>;

const ANSWERED: Active = { state: 'active', codec: 'opus', muted: false, held: false, remote_held: false, conference: false };

const ZERO_STATS = { codec: null, rtp_tx: 0, rtp_rx: 0, rx_lost: 0, jitter_ms: 0, duration_s: 0, dtmf_rx: '' };

/**
 * Whose fault each code is: a copy of the engine's table (`error_codes!` in
 * crates/engine/src/error.rs), so the fake engine's errors carry the fault the real one would.
 */
export const FAULT_OF: Readonly<Record<ErrorCode, Fault>> = {
  'sip.auth_failed': 'user',
  'sip.auth_unsupported': 'peer',
  'sip.timeout': 'network',
  'sip.rejected': 'peer',
  'sip.malformed': 'peer',
  'sip.no_ack': 'network',
  'sip.dialog_gone': 'peer',
  'sip.auth_loop': 'peer',
  'sip.interval_too_brief': 'peer',
  'sip.invalid_uri': 'user',
  'sip.invalid_state': 'user',
  'sip.no_such_call': 'user',
  'sip.request_pending': 'user',
  'sip.transfer_failed': 'peer',
  'net.unreachable': 'network',
  'net.timeout': 'network',
  'net.connection_lost': 'network',
  'net.not_connected': 'network',
  'net.keepalive_timeout': 'network',
  'net.send_stalled': 'network',
  'tls.untrusted_certificate': 'peer',
  'tls.name_mismatch': 'peer',
  'tls.expired': 'peer',
  'tls.not_yet_valid': 'peer',
  'tls.unknown_issuer': 'peer',
  'tls.handshake_failed': 'peer',
  'tls.setup_failed': 'ours',
  'ws.handshake_failed': 'peer',
  'ws.no_sip_subprotocol': 'peer',
  'ws.closed': 'peer',
  'ws.message_too_big': 'peer',
  'config.invalid_server': 'user',
  'config.insecure_server': 'user',
  'config.invalid_user': 'user',
  'config.invalid_domain': 'user',
  'config.missing_password': 'user',
  'config.invalid_expires': 'user',
  'config.invalid_fingerprint': 'user',
  'config.ca_not_found': 'user',
  'config.invalid_ca': 'user',
  'config.no_codecs': 'user',
  'media.bind_failed': 'ours',
  'media.timeout': 'network',
  'media.remote_bye': 'peer',
  'media.not_sending': 'user',
  'media.invalid_dtmf': 'user',
  'media.dtmf_unsupported': 'peer',
  'media.dtmf_queue_full': 'user',
  'media.invalid_payload_type': 'ours',
  'codec.opus': 'ours',
  'codec.invalid_payload': 'peer',
  'codec.unknown': 'user',
  'sdp.malformed': 'peer',
  'sdp.no_audio': 'peer',
  'sdp.audio_rejected': 'peer',
  'sdp.unsupported_transport': 'peer',
  'sdp.no_common_codec': 'peer',
  'sdp.no_connection': 'peer',
  'sdp.unsupported_address': 'peer',
  'audio.file_not_found': 'user',
  'audio.unsupported_format': 'user',
  'audio.invalid_file': 'user',
  'audio.io': 'ours',
  'audio.resample': 'ours',
  'audio.no_device': 'user',
  'audio.device': 'ours',
  'settings.invalid': 'user',
  'settings.corrupt': 'ours',
  'settings.io': 'ours',
  'settings.missing': 'user',
  'settings.unknown_account': 'user',
  'settings.duplicate_account': 'user',
  'secrets.unavailable': 'ours',
  'secrets.failed': 'ours',
  'history.failed': 'ours',
  'engine.stopped': 'ours',
  'engine.failed': 'ours',
  'engine.not_configured': 'user',
  'engine.no_such_account': 'user',
  'engine.too_many_calls': 'user',
  'engine.different_accounts': 'user',
  'cli.invalid_codec': 'user',
  'cli.invalid_duration': 'user',
  'cli.invalid_tone': 'user',
  'cli.no_incoming_call': 'peer',
  'cli.hangup_timeout': 'peer',
  'cli.internal': 'ours',
};

/** The code the engine refuses a bad field of an account with (`AccountInput::validate`). */
const CODE_OF_FIELD: Readonly<Partial<Record<SettingsField, ErrorCode>>> = {
  sip_address: 'config.invalid_user',
  password: 'config.missing_password',
  server: 'config.invalid_server',
  register_expires: 'config.invalid_expires',
  allow_insecure: 'config.insecure_server',
};

/** Whether `code` is one of the engine's codes. */
function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(FAULT_OF, code);
}

/** Every code the engine reports. */
export const ERROR_CODES: readonly ErrorCode[] = Object.keys(FAULT_OF).filter(isErrorCode);

/** An error as the engine would send it: its `fault` follows from its code. */
export function engineError(code: ErrorCode, message: string): EngineError {
  return { code, fault: FAULT_OF[code], message };
}

/** What a command the fake engine refuses throws. */
function refusal(code: ErrorCode, message: string): BackendError {
  return new BackendError(code, message, FAULT_OF[code]);
}

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
  /**
   * The saved accounts as the settings store keeps them, in the order they were added, each
   * with its password ('' when it is not at hand).
   */
  saved: AccountSettings[];
  /** The id of the saved default account. */
  defaultId: string | null;
  /** Preferences as stored. */
  preferences: Preferences;
  /** What `listDevices` returns. */
  devices: Devices;
  /** Past calls, newest first. */
  entries: HistoryEntry[];
  /** The last `setVolume`. */
  volume = 1;
  private engine: Snapshot = { seq: 0, accounts: [], calls: [], focus: null };
  private events = new Feed<EngineEvent>();
  private levelsFeed = new Feed<Levels>();
  private devicesFeed = new Feed<void>();
  private dialFeed = new Feed<DialRequest>();
  private historyFeed = new Feed<void>();
  private failures = new Map<string, EngineError>();
  /** Each saved account running in the engine: its settings id to its engine id. */
  private running = new Map<string, AccountId>();
  /** Settings ids are never reused, like the store's. */
  private nextId = 1;
  private nextAccount = 1;
  private nextCall = 1;
  private nextEntry = 1;

  /**
   * `accounts` are saved already (an empty id gets one; the first is the default); the
   * enabled ones with a password are in the engine, not yet connected, as after a start.
   */
  constructor(
    opts: {
      accounts?: AccountSettings[];
      preferences?: Preferences;
      devices?: Devices;
      history?: HistoryEntry[];
    } = {},
  ) {
    const given = opts.accounts ?? [];
    this.nextId = Math.max(0, ...given.map((a) => Number(a.id)).filter(Number.isInteger)) + 1;
    this.saved = given.map((a) => ({ ...a, id: a.id || String(this.nextId++) }));
    this.defaultId = this.saved[0]?.id ?? null;
    for (const a of this.saved.filter((x) => x.enabled && x.password !== '')) {
      const account = this.nextAccount++;
      this.running.set(a.id, account);
      this.engine.accounts.push({
        account,
        name: addressKey(a.sip_address),
        default: a.id === this.defaultId,
        secure: !isInsecureServer(a.server),
        connection: { state: 'connecting' },
        registration: { state: 'unregistered' },
      });
    }
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

  /**
   * Saves an account for `name` (`user@domain`) and runs it, connected and registered, as
   * the settings screen would; `default` makes it the default.
   */
  addAccount(name: string, opts: { default?: boolean } = {}): AccountId {
    const domain = name.slice(name.indexOf('@') + 1);
    const id = this.put({ ...DEFAULT_SETTINGS, sip_address: name, password: 'secret', server: `wss://${domain}` });
    if (opts.default) this.makeDefault(id);
    // `put` runs an enabled account that has a password.
    return this.running.get(id)!;
  }

  /** The engine id of saved account `id`, while it runs. */
  engineIdOf(id: string): AccountId | null {
    return this.running.get(id) ?? null;
  }

  /**
   * A call arrives from `remote` on `account` (the default one unless given); while another
   * call is up it is a waiting call.
   */
  incoming(remote: string, account: AccountId = this.defaultAccount()): CallId {
    const call = this.nextCall++;
    this.emit({ type: 'call_added', call, account, direction: 'incoming', remote });
    const up = this.engine.calls.some((c) => c.call !== call && c.state.state !== 'incoming' && c.state.state !== 'ended');
    if (up) this.change(call, { state: 'incoming', waiting: true });
    return call;
  }

  /** Moves a call to a new state. */
  change(call: CallId, state: CallState): void {
    this.emit({ type: 'call_changed', call, account: this.find(call).account, state });
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
      throw new BackendError(err.code, err.message, err.fault);
    }
  }

  private find(call: CallId) {
    const c = this.engine.calls.find((x) => x.call === call);
    if (!c) throw refusal('sip.no_such_call', `no call ${call}`);
    return c;
  }

  private active(call: CallId): Active {
    const { state } = this.find(call);
    if (state.state !== 'active') throw refusal('sip.invalid_state', `call ${call} is ${state.state}`);
    return state;
  }

  private defaultAccount(): AccountId {
    const a = this.engine.accounts.find((x) => x.default) ?? this.engine.accounts[0];
    if (!a) throw refusal('engine.not_configured', 'no account');
    return a.account;
  }

  /** The answered calls in the conference. */
  private legs(): CallId[] {
    return this.engine.calls.filter((c) => c.state.state === 'active' && c.state.conference).map((c) => c.call);
  }

  private focus(call: CallId | null): void {
    if (this.engine.focus !== call) this.emit({ type: 'focus', call });
  }

  /** Holds every answered call but `keep`: one call (or one conference) has the microphone. */
  private holdOthers(keep: CallId[]): void {
    for (const c of this.engine.calls) {
      if (keep.includes(c.call) || c.state.state !== 'active' || c.state.held) continue;
      this.change(c.call, { ...c.state, held: true, conference: false });
    }
  }

  /** A conference of one is a plain call; the microphone stays with what is left of it. */
  private afterLeaving(call: CallId): void {
    const rest = this.legs().filter((c) => c !== call);
    if (rest.length === 1) this.change(rest[0], { ...this.active(rest[0]), conference: false });
    if (this.engine.focus === call) this.focus(rest[0] ?? null);
  }

  private end(call: CallId, outcome: CallOutcome): void {
    const c = this.find(call);
    const answered = c.state.state === 'active';
    this.afterLeaving(call);
    this.change(call, { state: 'ended', outcome, status: null, error: null });
    this.emit({ type: 'call_removed', call, account: c.account, stats: ZERO_STATS });
    this.entries.unshift({
      id: this.nextEntry++,
      direction: c.direction,
      remote: c.remote,
      account: this.engine.accounts.find((a) => a.account === c.account)?.name ?? '',
      started_at_ms: Date.now(),
      duration_s: 0,
      outcome: historyOutcome(c.direction, outcome, answered),
    });
    this.historyFeed.send();
  }

  private connectAndRegister(account: AccountId): void {
    if (this.engine.accounts.find((a) => a.account === account)?.connection.state !== 'connected') {
      this.emit({ type: 'connection', account, state: 'connected' });
    }
    this.emit({ type: 'registration', account, state: 'registering' });
    this.emit({ type: 'registration', account, state: 'registered', expires: 600 });
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
    for (const { account } of this.engine.accounts) this.connectAndRegister(account);
  }

  async unregister(): Promise<void> {
    this.record('unregister');
    for (const { account } of this.engine.accounts) this.emit({ type: 'registration', account, state: 'unregistered' });
  }

  async call(target: string, account: AccountId | null): Promise<CallId> {
    this.record('call', target, account);
    if (account !== null && !this.engine.accounts.some((a) => a.account === account)) {
      throw refusal('engine.no_such_account', `no account ${account}`);
    }
    const from = account ?? this.defaultAccount();
    this.holdOthers([]);
    const call = this.nextCall++;
    this.emit({ type: 'call_added', call, account: from, direction: 'outgoing', remote: target });
    this.focus(call);
    return call;
  }

  async answer(call: CallId): Promise<void> {
    this.record('answer', call);
    const { state } = this.find(call);
    if (state.state !== 'incoming') throw refusal('sip.invalid_state', `call ${call} is ${state.state}`);
    this.holdOthers([call]);
    this.change(call, ANSWERED);
    this.focus(call);
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
    const state = this.active(call);
    if (!held) this.holdOthers(state.conference ? this.legs() : [call]);
    this.change(call, { ...state, held });
    if (!held) this.focus(call);
    else if (this.engine.focus === call) this.focus(this.legs().find((c) => c !== call) ?? null);
  }

  async focusCall(call: CallId): Promise<void> {
    this.record('focus_call', call);
    const keep = this.active(call).conference ? this.legs() : [call];
    this.holdOthers(keep);
    for (const c of keep) {
      const state = this.active(c);
      if (state.held) this.change(c, { ...state, held: false });
    }
    this.focus(call);
  }

  async mergeCalls(call: CallId, other: CallId): Promise<void> {
    this.record('merge_calls', call, other);
    const states = [this.active(call), this.active(other)];
    if (call === other) throw refusal('sip.invalid_state', 'a call cannot join itself');
    this.holdOthers([call, other]);
    [call, other].forEach((c, i) => this.change(c, { ...states[i], held: false, conference: true }));
    this.focus(call);
  }

  async splitCall(call: CallId): Promise<void> {
    this.record('split_call', call);
    const state = this.active(call);
    if (!state.conference) throw refusal('sip.invalid_state', `call ${call} is not in a conference`);
    this.afterLeaving(call);
    this.change(call, { ...state, held: true, conference: false });
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

  async transferAttended(call: CallId, to: CallId): Promise<void> {
    this.record('transfer_attended', call, to);
    this.active(call);
    this.active(to);
    if (call === to) throw refusal('sip.invalid_state', 'a call cannot be transferred to itself');
    this.end(call, 'transferred');
    this.end(to, 'transferred');
  }

  async listAccounts(): Promise<SavedAccounts> {
    this.record('list_accounts');
    return {
      accounts: this.saved.map((a) => ({
        settings: { ...a, password: '' },
        has_password: a.password !== '',
        engine: this.engineIdOf(a.id),
      })),
      default_account: this.defaultId,
    };
  }

  async saveAccount(settings: AccountSettings): Promise<string> {
    this.record('save_account', settings);
    return this.put(settings);
  }

  async removeAccount(id: string): Promise<void> {
    this.record('remove_account', id);
    const gone = this.savedAccount(id);
    this.apply({ ...gone, enabled: false });
    this.saved = this.saved.filter((a) => a !== gone);
    if (this.defaultId === id) this.makeDefault(this.saved[0]?.id ?? null);
  }

  async setDefaultAccount(id: string): Promise<void> {
    this.record('set_default_account', id);
    this.makeDefault(this.savedAccount(id).id);
  }

  async trustCertificate(account: AccountId, sha256: string): Promise<void> {
    this.record('trust_certificate', account, sha256);
    const id = [...this.running].find(([, running]) => running === account)?.[0];
    if (id === undefined) throw refusal('settings.unknown_account', 'that account is not running');
    this.saved = this.saved.map((a) => (a.id === id ? { ...a, trusted_certificate: sha256 } : a));
    this.connectAndRegister(account);
  }

  private savedAccount(id: string): AccountSettings {
    const a = this.saved.find((x) => x.id === id);
    if (!a) throw refusal('settings.unknown_account', `no saved account has the id ${id}`);
    return a;
  }

  /**
   * Validates and stores like the settings store (an empty password keeps the saved one;
   * one account per address), then applies the account to the engine. Returns its id.
   */
  private put(settings: AccountSettings): string {
    const old = settings.id === '' ? undefined : this.savedAccount(settings.id);
    const password = settings.password || (old?.password ?? '');
    const problem = Object.entries(validateSettings({ ...settings, password }, false))[0];
    if (problem) throw refusal(CODE_OF_FIELD[problem[0] as SettingsField] ?? 'settings.invalid', problem[1]);
    const key = addressKey(settings.sip_address);
    if (this.saved.some((a) => a.id !== settings.id && addressKey(a.sip_address) === key)) {
      throw refusal('settings.duplicate_account', 'another account already has this SIP address');
    }
    const stored = { ...settings, id: old?.id ?? String(this.nextId++), password };
    this.saved = old ? this.saved.map((a) => (a === old ? stored : a)) : [...this.saved, stored];
    this.defaultId ??= stored.id;
    this.apply(stored);
    return stored.id;
  }

  /**
   * Puts a saved account into the engine (added, or changed in place) and registers it; a
   * disabled one, or one without a password, is taken out and its calls end.
   */
  private apply(a: AccountSettings): void {
    const running = this.running.get(a.id);
    if (!a.enabled || a.password === '') {
      if (running === undefined) return;
      for (const c of this.engine.calls.filter((x) => x.account === running)) {
        this.end(c.call, c.state.state === 'active' ? 'completed' : 'cancelled');
      }
      this.running.delete(a.id);
      this.emit({ type: 'account_removed', account: running });
      return;
    }
    const account = running ?? this.nextAccount++;
    this.running.set(a.id, account);
    this.emit({
      type: 'account_added',
      account,
      name: addressKey(a.sip_address),
      default: a.id === this.defaultId,
      secure: !isInsecureServer(a.server),
    });
    this.connectAndRegister(account);
  }

  /** Makes saved account `id` the default, in the engine too when it runs there. */
  private makeDefault(id: string | null): void {
    this.defaultId = id;
    const account = id === null ? undefined : this.running.get(id);
    const running = this.engine.accounts.find((a) => a.account === account);
    if (running) {
      this.emit({ type: 'account_added', account: running.account, name: running.name, default: true, secure: running.secure });
    }
  }

  async loadPreferences(): Promise<Preferences> {
    this.record('load_preferences');
    return structuredClone(this.preferences);
  }

  async savePreferences(preferences: Preferences): Promise<void> {
    this.record('save_preferences', preferences);
    const problem = Object.values(validatePreferences(preferences))[0];
    if (problem) throw refusal('settings.invalid', problem);
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
      throw refusal('audio.no_device', 'no such device');
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
