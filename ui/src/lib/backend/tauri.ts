// The only module that talks to Tauri. Command names and argument names must match the
// `#[tauri::command]`s in src-tauri; every error comes back as the engine's `{ code, fault, message }`.
import { invoke } from '@tauri-apps/api/core';
import { listen } from '@tauri-apps/api/event';
import type { AccountId } from '../bindings/AccountId';
import type { CallId } from '../bindings/CallId';
import type { EngineEvent } from '../bindings/EngineEvent';
import type { Snapshot } from '../bindings/Snapshot';
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

/** The Tauri event that carries each `EngineEvent`. */
export const ENGINE_EVENT = 'engine-event';
/** The other Tauri events the shell emits, by the payload they carry. */
export const LEVELS_EVENT = 'levels';
export const DEVICES_CHANGED_EVENT = 'devices-changed';
export const DIAL_REQUEST_EVENT = 'dial-request';
export const HISTORY_CHANGED_EVENT = 'history-changed';

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

  call(target: string, account: AccountId | null): Promise<CallId> {
    return command('call', { target, account });
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

  focusCall(call: CallId): Promise<void> {
    return command('focus_call', { call });
  }

  mergeCalls(call: CallId, other: CallId): Promise<void> {
    return command('merge_calls', { call, other });
  }

  splitCall(call: CallId): Promise<void> {
    return command('split_call', { call });
  }

  sendDtmf(call: CallId, digits: string): Promise<void> {
    return command('send_dtmf', { call, digits });
  }

  transfer(call: CallId, target: string): Promise<void> {
    return command('transfer', { call, target });
  }

  transferAttended(call: CallId, to: CallId): Promise<void> {
    return command('transfer_attended', { call, to });
  }

  listAccounts(): Promise<SavedAccounts> {
    return command('list_accounts');
  }

  saveAccount(settings: AccountSettings): Promise<string> {
    return command('save_account', { settings });
  }

  removeAccount(id: string): Promise<void> {
    return command('remove_account', { id });
  }

  setDefaultAccount(id: string): Promise<void> {
    return command('set_default_account', { id });
  }

  trustCertificate(account: AccountId, sha256: string): Promise<void> {
    return command('trust_certificate', { account, sha256 });
  }

  loadPreferences(): Promise<Preferences> {
    return command('load_preferences');
  }

  savePreferences(preferences: Preferences): Promise<void> {
    return command('save_preferences', { preferences });
  }

  listDevices(): Promise<Devices> {
    return command('list_devices');
  }

  testAudio(speaker: string | null, microphone: string | null): Promise<void> {
    return command('test_audio', { speaker, microphone });
  }

  setVolume(volume: number): Promise<void> {
    return command('set_volume', { volume });
  }

  history(limit: number): Promise<HistoryEntry[]> {
    return command('history', { limit });
  }

  clearHistory(): Promise<void> {
    return command('clear_history');
  }

  onLevels(handler: (levels: Levels) => void): Promise<Unsubscribe> {
    return listen<Levels>(LEVELS_EVENT, (e) => handler(e.payload));
  }

  onDevicesChanged(handler: () => void): Promise<Unsubscribe> {
    return listen(DEVICES_CHANGED_EVENT, () => handler());
  }

  onDialRequest(handler: (request: DialRequest) => void): Promise<Unsubscribe> {
    return listen<DialRequest>(DIAL_REQUEST_EVENT, (e) => handler(e.payload));
  }

  onHistoryChanged(handler: () => void): Promise<Unsubscribe> {
    return listen(HISTORY_CHANGED_EVENT, () => handler());
  }
}
