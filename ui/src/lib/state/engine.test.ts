import { describe, expect, it } from 'vitest';
import { MockBackend } from '../backend/mock';
import { EngineStore } from './engine.svelte';

const flush = () => new Promise((r) => setTimeout(r, 0));

describe('EngineStore', () => {
  it('starts from the snapshot then follows events', async () => {
    const mock = new MockBackend();
    mock.emit({ type: 'connection', state: 'connected' });
    const store = new EngineStore(mock);
    await store.start();
    expect(store.snapshot!.seq).toBe(1);
    expect(store.snapshot!.connection).toEqual({ state: 'connected' });
    await mock.register();
    expect(store.snapshot!.registration).toEqual({ state: 'registered', expires: 600 });
    expect(store.snapshot).toEqual(mock.engineState);
  });

  it('ignores duplicated events', async () => {
    const mock = new MockBackend();
    const store = new EngineStore(mock);
    await store.start();
    const ev = mock.emit({ type: 'call_added', call: 1, direction: 'incoming', remote: 'sip:a@b' });
    mock.deliver(ev);
    mock.deliver(ev);
    expect(store.snapshot!.calls).toHaveLength(1);
    expect(store.snapshot).toEqual(mock.engineState);
  });

  it('resyncs from a new snapshot after a lost event', async () => {
    const mock = new MockBackend();
    const store = new EngineStore(mock);
    await store.start();
    mock.emitSilently({ type: 'call_added', call: 1, direction: 'outgoing', remote: 'sip:a@b' });
    mock.emit({ type: 'call_changed', call: 1, state: { state: 'ringing', status: 180 } });
    await flush();
    expect(store.resyncs).toBe(1);
    expect(store.snapshot).toEqual(mock.engineState);
    expect(store.snapshot!.calls[0].state).toEqual({ state: 'ringing', status: 180 });
  });

  it('records when a call became active, once', async () => {
    let t = 1000;
    const mock = new MockBackend();
    const store = new EngineStore(mock, () => t);
    await store.start();
    const call = mock.incoming('sip:a@b');
    expect(store.activeSince[call]).toBeUndefined();
    await mock.answer(call);
    expect(store.activeSince[call]).toBe(1000);
    t = 5000;
    mock.emit({ type: 'registration', state: 'registering' });
    expect(store.activeSince[call]).toBe(1000);
    await mock.hangup(call);
    expect(store.activeSince[call]).toBeUndefined();
  });

  it('stops following after stop()', async () => {
    const mock = new MockBackend();
    const store = new EngineStore(mock);
    await store.start();
    store.stop();
    mock.emit({ type: 'registration', state: 'registering' });
    expect(store.snapshot!.seq).toBe(0);
  });

  it('keeps the last call that ended, in its final state, until a new call or dismissal', async () => {
    const mock = new MockBackend();
    const store = new EngineStore(mock);
    await store.start();
    const first = mock.incoming('sip:a@b');
    await mock.reject(first);
    expect(store.snapshot!.calls).toEqual([]);
    expect(store.lastEnded).toMatchObject({ call: first, state: { state: 'ended', outcome: 'rejected' } });
    await mock.call('sip:c@d');
    expect(store.lastEnded).toBeNull();
    await mock.hangup(2);
    expect(store.lastEnded).toMatchObject({ call: 2, state: { state: 'ended', outcome: 'cancelled' } });
    store.dismissEnded();
    expect(store.lastEnded).toBeNull();
  });
});
