// The only module that talks to Tauri. Command names and argument names must match the
// `#[tauri::command]`s in src-tauri; every error comes back as the engine's `{ code, message }`.
import { invoke } from '@tauri-apps/api/core';
import { listen } from '@tauri-apps/api/event';
import type { CallId } from '../bindings/CallId';
import type { EngineEvent } from '../bindings/EngineEvent';
import type { Snapshot } from '../bindings/Snapshot';
import { BackendError, type AccountSettings, type Backend, type Unsubscribe } from './types';

/** The Tauri event that carries each `EngineEvent`. */
export const ENGINE_EVENT = 'engine-event';

async function command<T>(name: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(name, args);
  } catch (e) {
    throw BackendError.from(e);
  }
}

export class TauriBackend implements Backend {
  snapshot(): Promise<Snapshot> {
    return command('snapshot');
  }

  async onEvent(handler: (event: EngineEvent) => void): Promise<Unsubscribe> {
    return listen<EngineEvent>(ENGINE_EVENT, (e) => handler(e.payload));
  }

  register(): Promise<void> {
    return command('register');
  }

  unregister(): Promise<void> {
    return command('unregister');
  }

  call(target: string): Promise<CallId> {
    return command('call', { target });
  }

  answer(call: CallId): Promise<void> {
    return command('answer', { call });
  }

  reject(call: CallId): Promise<void> {
    return command('reject', { call });
  }

  hangup(call: CallId): Promise<void> {
    return command('hangup', { call });
  }

  setMuted(call: CallId, muted: boolean): Promise<void> {
    return command('set_muted', { call, muted });
  }

  setHeld(call: CallId, held: boolean): Promise<void> {
    return command('set_held', { call, held });
  }

  sendDtmf(call: CallId, digits: string): Promise<void> {
    return command('send_dtmf', { call, digits });
  }

  transfer(call: CallId, target: string): Promise<void> {
    return command('transfer', { call, target });
  }

  loadSettings(): Promise<AccountSettings | null> {
    return command('load_settings');
  }

  saveSettings(settings: AccountSettings): Promise<void> {
    return command('save_settings', { settings });
  }
}
