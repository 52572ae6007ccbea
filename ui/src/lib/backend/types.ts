import type { ErrorCode } from '../bindings/ErrorCode';
import type { Fault } from '../bindings/Fault';
import type { UiErrorCode } from '../errors';
// The Backend contract: everything the UI asks of the engine, and the event feed it projects.
// `tauri.ts` implements it over IPC; `mock.ts` implements it in memory for tests and the browser.
import type { AccountId } from '../bindings/AccountId';
import type { CallId } from '../bindings/CallId';
import type { EngineError } from '../bindings/EngineError';
import type { EngineEvent } from '../bindings/EngineEvent';
import type { Snapshot } from '../bindings/Snapshot';
import type { AccountSettings } from '../bindings/AccountSettings';
import type { SavedAccounts } from '../bindings/SavedAccounts';
import type { HistoryEntry } from '../bindings/HistoryEntry';
import type { Preferences } from '../bindings/Preferences';

// Accounts, preferences and history entries are generated from the engine's Rust types
// (ui/gen-bindings.sh); the names below are the ones the UI has always used.
export type { AccountSettings } from '../bindings/AccountSettings';
export type { SavedAccount } from '../bindings/SavedAccount';
export type { SavedAccounts } from '../bindings/SavedAccounts';
export type { PasswordStorage } from '../bindings/PasswordStorage';
export type { CodecName } from '../bindings/CodecName';
export type { RingtoneName as Ringtone } from '../bindings/RingtoneName';
export type { Theme } from '../bindings/Theme';
export type { Preferences } from '../bindings/Preferences';
export type { HistoryEntry } from '../bindings/HistoryEntry';

/** Audio devices by name, as `list_devices` returns them. */
export interface Devices {
  inputs: string[];
  outputs: string[];
}

/** Audio levels in dBFS (-100 is silence), about 20 a second during calls and audio tests. */
export interface Levels {
  input_dbfs: number;
  output_dbfs: number;
}

/** A sip:, sips:, tel: or callto: link was opened; `confirm` asks the user first. */
export interface DialRequest {
  target: string;
  confirm: boolean;
}

/** A failed command: always carries the engine's stable code; match on `code` only. */
export class BackendError extends Error {
  readonly code: ErrorCode | UiErrorCode;
  /** Whose fault it is (`ours` for a failure to reach the engine). */
  readonly fault: Fault;

  constructor(code: ErrorCode | UiErrorCode, message: string, fault: Fault = 'ours') {
    super(message);
    this.name = 'BackendError';
    this.code = code;
    this.fault = fault;
  }

  /** Wraps whatever a command threw; an `{ code, fault, message }` object keeps its code. */
  static from(e: unknown): BackendError {
    if (e instanceof BackendError) return e;
    if (typeof e === 'object' && e !== null && typeof (e as EngineError).code === 'string') {
      const { code, fault, message } = e as EngineError;
      return new BackendError(code, typeof message === 'string' ? message : code, fault ?? 'ours');
    }
    return new BackendError('ipc.failed', e instanceof Error ? e.message : String(e));
  }
}

export type Unsubscribe = () => void;

export interface Backend {
  /** The engine's state as of event `seq`. */
  snapshot(): Promise<Snapshot>;
  /** Delivers every engine event (in order, possibly repeated after a resync) until unsubscribed. */
  onEvent(handler: (event: EngineEvent) => void): Promise<Unsubscribe>;
  register(): Promise<void>;
  unregister(): Promise<void>;
  /** Calls `target` from `account` (null: the default account). */
  call(target: string, account: AccountId | null): Promise<CallId>;
  /** Answers; the engine holds the call that was up, if any. */
  answer(call: CallId): Promise<void>;
  reject(call: CallId): Promise<void>;
  /** Hangs up this call only (one conference leg leaves the other). */
  hangup(call: CallId): Promise<void>;
  setMuted(call: CallId, muted: boolean): Promise<void>;
  setHeld(call: CallId, held: boolean): Promise<void>;
  /** Switches to this call: the engine holds the others and resumes it. */
  focusCall(call: CallId): Promise<void>;
  /** Joins two calls into a local three-way conference. */
  mergeCalls(call: CallId, other: CallId): Promise<void>;
  /** Takes one leg out of the conference and holds it. */
  splitCall(call: CallId): Promise<void>;
  sendDtmf(call: CallId, digits: string): Promise<void>;
  /** Blind transfer of `call` to `target`. */
  transfer(call: CallId, target: string): Promise<void>;
  /** Attended transfer: connects the far ends of `call` and `to`, then drops both. */
  transferAttended(call: CallId, to: CallId): Promise<void>;
  /** Every saved account (passwords left out), each with its engine id when it runs. */
  listAccounts(): Promise<SavedAccounts>;
  /**
   * Validates and stores one account (new when `id` is empty; an empty password keeps the
   * saved one), then puts it into the engine and registers it, or takes it out when disabled.
   * Returns its id; on failure the saved accounts stay as they were.
   */
  saveAccount(settings: AccountSettings): Promise<string>;
  /** Removes a saved account: its calls end, it unregisters, its password is forgotten. */
  removeAccount(id: string): Promise<void>;
  /** Makes a saved account the one calls go from unless the user picks another. */
  setDefaultAccount(id: string): Promise<void>;
  /** Pins the server certificate with this SHA-256 fingerprint for the engine's `account`, which reconnects. */
  trustCertificate(account: AccountId, sha256: string): Promise<void>;
  loadPreferences(): Promise<Preferences>;
  savePreferences(preferences: Preferences): Promise<void>;
  listDevices(): Promise<Devices>;
  /** Plays a tone of about a second on `speaker` and meters `microphone` (null: system default). */
  testAudio(speaker: string | null, microphone: string | null): Promise<void>;
  /** Speaker volume, 0 to 1. */
  setVolume(volume: number): Promise<void>;
  /** The last `limit` calls, newest first. */
  history(limit: number): Promise<HistoryEntry[]>;
  clearHistory(): Promise<void>;
  onLevels(handler: (levels: Levels) => void): Promise<Unsubscribe>;
  /** An audio device appeared or went away. */
  onDevicesChanged(handler: () => void): Promise<Unsubscribe>;
  onDialRequest(handler: (request: DialRequest) => void): Promise<Unsubscribe>;
  /** The history changed: fetch it again. */
  onHistoryChanged(handler: () => void): Promise<Unsubscribe>;
}
