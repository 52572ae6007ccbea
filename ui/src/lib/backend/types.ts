// The Backend contract: everything the UI asks of the engine, and the event feed it projects.
// `tauri.ts` implements it over IPC; `mock.ts` implements it in memory for tests and the browser.
import type { CallId } from '../bindings/CallId';
import type { EngineError } from '../bindings/EngineError';
import type { EngineEvent } from '../bindings/EngineEvent';
import type { Snapshot } from '../bindings/Snapshot';

/** Account settings as the settings screen edits them (the `save_settings` DTO). */
export interface AccountSettings {
  display_name: string;
  /** `user@domain`, with or without a `sip:` prefix. */
  sip_address: string;
  /** Empty means "same as the user part of the SIP address". */
  auth_user: string;
  password: string;
  /** `wss://host[:port][/path]` or `ws://...`. */
  server: string;
  /** Seconds, 60 to 86400. */
  register_expires: number;
}

/** A failed command: always carries the engine's stable code; match on `code` only. */
export class BackendError extends Error implements EngineError {
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.name = 'BackendError';
    this.code = code;
  }

  /** Wraps whatever a command threw; an `{ code, message }` object keeps its code. */
  static from(e: unknown): BackendError {
    if (e instanceof BackendError) return e;
    if (typeof e === 'object' && e !== null && typeof (e as EngineError).code === 'string') {
      const { code, message } = e as EngineError;
      return new BackendError(code, typeof message === 'string' ? message : code);
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
  call(target: string): Promise<CallId>;
  answer(call: CallId): Promise<void>;
  reject(call: CallId): Promise<void>;
  hangup(call: CallId): Promise<void>;
  setMuted(call: CallId, muted: boolean): Promise<void>;
  setHeld(call: CallId, held: boolean): Promise<void>;
  sendDtmf(call: CallId, digits: string): Promise<void>;
  transfer(call: CallId, target: string): Promise<void>;
  /** The saved settings, or null before the first save. */
  loadSettings(): Promise<AccountSettings | null>;
  /** Validates and stores; on failure the previously saved settings stay. */
  saveSettings(settings: AccountSettings): Promise<void>;
}
