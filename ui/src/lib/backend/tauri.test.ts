import { emit } from '@tauri-apps/api/event';
import { clearMocks, mockIPC } from '@tauri-apps/api/mocks';
import { afterEach, describe, expect, it } from 'vitest';
import type { EngineEvent } from '../bindings/EngineEvent';
import { ENGINE_EVENT, TauriBackend } from './tauri';
import { BackendError } from './types';

afterEach(() => clearMocks());

describe('TauriBackend', () => {
  it('invokes the commands by name with their arguments', async () => {
    const seen: [string, unknown][] = [];
    mockIPC((cmd, args) => {
      seen.push([cmd, args]);
      if (cmd === 'call') return 4;
      if (cmd === 'snapshot') return { seq: 0, connection: { state: 'connecting' }, registration: { state: 'unregistered' }, calls: [] };
      return null;
    });
    const b = new TauriBackend();
    expect((await b.snapshot()).seq).toBe(0);
    await b.register();
    expect(await b.call('sip:bob@example.com')).toBe(4);
    await b.answer(4);
    await b.reject(4);
    await b.hangup(4);
    await b.setMuted(4, true);
    await b.sendDtmf(4, '5');
    await b.saveSettings({ display_name: '', sip_address: 'a@b', auth_user: '', password: 'p', server: 'wss://b', register_expires: 600 });
    expect(seen.map(([c]) => c)).toEqual(['snapshot', 'register', 'call', 'answer', 'reject', 'hangup', 'set_muted', 'send_dtmf', 'save_settings']);
    expect(seen[2][1]).toEqual({ target: 'sip:bob@example.com' });
    expect(seen[6][1]).toEqual({ call: 4, muted: true });
    expect(seen[8][1]).toMatchObject({ settings: { sip_address: 'a@b' } });
  });

  it("turns a command's { code, message } error into a BackendError with that code", async () => {
    mockIPC(() => {
      throw { code: 'sip.no_such_call', message: 'no call 4' };
    });
    const err = await new TauriBackend().hangup(4).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendError);
    expect((err as BackendError).code).toBe('sip.no_such_call');
  });

  it('delivers engine-event payloads until unsubscribed', async () => {
    mockIPC(() => null, { shouldMockEvents: true });
    const got: EngineEvent[] = [];
    const stop = await new TauriBackend().onEvent((e) => got.push(e));
    const ev: EngineEvent = { seq: 1, type: 'registration', state: 'registering' };
    await emit(ENGINE_EVENT, ev);
    stop();
    await emit(ENGINE_EVENT, { ...ev, seq: 2 });
    expect(got).toEqual([ev]);
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
