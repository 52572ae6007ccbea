import { emit } from '@tauri-apps/api/event';
import { clearMocks, mockIPC } from '@tauri-apps/api/mocks';
import { afterEach, describe, expect, it } from 'vitest';
import type { EngineEvent } from '../bindings/EngineEvent';
import { DEFAULT_PREFERENCES } from '../preferences';
import { DEFAULT_SETTINGS } from '../settings';
import {
  DEVICES_CHANGED_EVENT,
  DIAL_REQUEST_EVENT,
  ENGINE_EVENT,
  HISTORY_CHANGED_EVENT,
  LEVELS_EVENT,
  TauriBackend,
} from './tauri';
import { BackendError, type DialRequest, type Levels } from './types';

afterEach(() => clearMocks());

describe('TauriBackend', () => {
  it('invokes the commands by name with their arguments', async () => {
    const seen: [string, unknown][] = [];
    mockIPC((cmd, args) => {
      seen.push([cmd, args]);
      if (cmd === 'call') return 4;
      if (cmd === 'snapshot') return { seq: 0, accounts: [], calls: [], focus: null };
      return null;
    });
    const b = new TauriBackend();
    expect((await b.snapshot()).seq).toBe(0);
    await b.register();
    expect(await b.call('sip:bob@example.com', null)).toBe(4);
    expect(await b.call('sip:bob@example.com', 2)).toBe(4);
    await b.answer(4);
    await b.reject(4);
    await b.hangup(4);
    await b.setMuted(4, true);
    await b.sendDtmf(4, '5');
    expect(seen.map(([c]) => c)).toEqual(['snapshot', 'register', 'call', 'call', 'answer', 'reject', 'hangup', 'set_muted', 'send_dtmf']);
    expect(seen[2][1]).toEqual({ target: 'sip:bob@example.com', account: null });
    expect(seen[3][1]).toEqual({ target: 'sip:bob@example.com', account: 2 });
    expect(seen[7][1]).toEqual({ call: 4, muted: true });
  });

  it('invokes the account commands by name with their arguments', async () => {
    const seen: [string, unknown][] = [];
    const listed = { accounts: [], default_account: null };
    mockIPC((cmd, args) => {
      seen.push([cmd, args]);
      if (cmd === 'list_accounts') return listed;
      if (cmd === 'save_account') return '3';
      return null;
    });
    const b = new TauriBackend();
    const settings = { ...DEFAULT_SETTINGS, sip_address: 'a@b', password: 'p', server: 'wss://b' };
    expect(await b.listAccounts()).toEqual(listed);
    expect(await b.saveAccount(settings)).toBe('3');
    await b.removeAccount('2');
    await b.setDefaultAccount('3');
    await b.trustCertificate(5, 'AB:CD');
    expect(seen.map(([c, a]) => [c, a ?? {}])).toEqual([
      ['list_accounts', {}],
      ['save_account', { settings }],
      ['remove_account', { id: '2' }],
      ['set_default_account', { id: '3' }],
      ['trust_certificate', { account: 5, sha256: 'AB:CD' }],
    ]);
  });

  it('invokes the commands of several calls by name with their arguments', async () => {
    const seen: [string, unknown][] = [];
    mockIPC((cmd, args) => {
      seen.push([cmd, args]);
      return null;
    });
    const b = new TauriBackend();
    await b.focusCall(4);
    await b.mergeCalls(4, 5);
    await b.splitCall(5);
    await b.transferAttended(4, 5);
    expect(seen).toEqual([
      ['focus_call', { call: 4 }],
      ['merge_calls', { call: 4, other: 5 }],
      ['split_call', { call: 5 }],
      ['transfer_attended', { call: 4, to: 5 }],
    ]);
  });

  it('invokes the settings, audio and history commands by name with their arguments', async () => {
    const seen: [string, unknown][] = [];
    const entry = { id: 1, direction: 'outgoing', remote: 'sip:bob@example.com', account: '', started_at_ms: 0, duration_s: 5, outcome: 'answered' };
    mockIPC((cmd, args) => {
      seen.push([cmd, args]);
      if (cmd === 'load_preferences') return DEFAULT_PREFERENCES;
      if (cmd === 'list_devices') return { inputs: ['Mic'], outputs: [] };
      if (cmd === 'history') return [entry];
      return null;
    });
    const b = new TauriBackend();
    await b.setHeld(4, true);
    await b.transfer(4, 'sip:carol@example.com');
    expect(await b.loadPreferences()).toEqual(DEFAULT_PREFERENCES);
    await b.savePreferences(DEFAULT_PREFERENCES);
    expect(await b.listDevices()).toEqual({ inputs: ['Mic'], outputs: [] });
    await b.testAudio('Speakers', null);
    await b.setVolume(0.5);
    expect(await b.history(50)).toEqual([entry]);
    await b.clearHistory();
    expect(seen.map(([c, a]) => [c, a ?? {}])).toEqual([
      ['set_held', { call: 4, held: true }],
      ['transfer', { call: 4, target: 'sip:carol@example.com' }],
      ['load_preferences', {}],
      ['save_preferences', { preferences: DEFAULT_PREFERENCES }],
      ['list_devices', {}],
      ['test_audio', { speaker: 'Speakers', microphone: null }],
      ['set_volume', { volume: 0.5 }],
      ['history', { limit: 50 }],
      ['clear_history', {}],
    ]);
  });

  it("turns a command's { code, fault, message } error into a BackendError with all three", async () => {
    mockIPC(() => {
      throw { code: 'sip.no_such_call', fault: 'user', message: 'no call 4' };
    });
    const err = await new TauriBackend().hangup(4).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendError);
    expect(err).toMatchObject({ code: 'sip.no_such_call', fault: 'user', message: 'no call 4' });
  });

  it('reports a failure that is not an engine error as ipc.failed, our fault', async () => {
    mockIPC(() => {
      throw 'command hangup not found';
    });
    const err = await new TauriBackend().hangup(4).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendError);
    expect(err).toMatchObject({ code: 'ipc.failed', fault: 'ours', message: 'command hangup not found' });
  });

  it('delivers engine-event payloads until unsubscribed', async () => {
    mockIPC(() => null, { shouldMockEvents: true });
    const got: EngineEvent[] = [];
    const stop = await new TauriBackend().onEvent((e) => got.push(e));
    const ev: EngineEvent = { seq: 1, type: 'registration', account: 1, state: 'registering' };
    await emit(ENGINE_EVENT, ev);
    stop();
    await emit(ENGINE_EVENT, { ...ev, seq: 2 });
    expect(got).toEqual([ev]);
  });

  it('delivers levels, devices-changed, dial-request and history-changed until unsubscribed', async () => {
    mockIPC(() => null, { shouldMockEvents: true });
    const b = new TauriBackend();
    const got: unknown[] = [];
    const stops = await Promise.all([
      b.onLevels((l) => got.push(['levels', l])),
      b.onDevicesChanged(() => got.push(['devices'])),
      b.onDialRequest((r) => got.push(['dial', r])),
      b.onHistoryChanged(() => got.push(['history'])),
    ]);
    const levels: Levels = { input_dbfs: -20, output_dbfs: -100 };
    const dial: DialRequest = { target: 'sip:bob@example.com', confirm: true };
    await emit(LEVELS_EVENT, levels);
    await emit(DEVICES_CHANGED_EVENT);
    await emit(DIAL_REQUEST_EVENT, dial);
    await emit(HISTORY_CHANGED_EVENT);
    stops.forEach((stop) => stop());
    await emit(LEVELS_EVENT, levels);
    await emit(HISTORY_CHANGED_EVENT);
    expect(got).toEqual([['levels', levels], ['devices'], ['dial', dial], ['history']]);
    expect([LEVELS_EVENT, DEVICES_CHANGED_EVENT, DIAL_REQUEST_EVENT, HISTORY_CHANGED_EVENT]).toEqual([
      'levels',
      'devices-changed',
      'dial-request',
      'history-changed',
    ]);
  });
});

describe('the Tauri boundary', () => {
  it('only backend/tauri.ts imports @tauri-apps/api', () => {
    const sources = import.meta.glob<string>(['/src/**/*.{ts,js,svelte}', '!/src/**/*.test.ts'], {
      query: '?raw',
      import: 'default',
      eager: true,
    });
    expect(Object.keys(sources).length).toBeGreaterThan(10);
    const importers = Object.entries(sources)
      .filter(([, text]) => text.includes('@tauri-apps/api'))
      .map(([path]) => path);
    expect(importers).toEqual(['/src/lib/backend/tauri.ts']);
  });
});
