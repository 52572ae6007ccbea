import { describe, expect, it } from 'vitest';
import { MockBackend } from '../backend/mock';
import { EngineStore } from './engine.svelte';

const flush = () => new Promise((r) => setTimeout(r, 0));

/** A fake engine with one account, alice (id 1, the default). */
function withAccount(): MockBackend {
  const mock = new MockBackend();
  mock.addAccount('alice@example.com', { default: true });
  return mock;
}

describe('EngineStore', () => {
  it('starts from the snapshot then follows events', async () => {
    const mock = new MockBackend();
    mock.emit({ type: 'account_added', account: 1, name: 'alice@example.com', default: true, secure: true });
    mock.emit({ type: 'connection', account: 1, state: 'connected' });
    const store = new EngineStore(mock);
    await store.start();
    expect(store.snapshot!.seq).toBe(2);
    expect(store.snapshot!.accounts[0].connection).toEqual({ state: 'connected' });
    await mock.register();
    expect(store.snapshot!.accounts[0].registration).toEqual({ state: 'registered', expires: 600 });
    expect(store.snapshot).toEqual(mock.engineState);
  });

  it('ignores duplicated events', async () => {
    const mock = new MockBackend();
    const store = new EngineStore(mock);
    await store.start();
    const ev = mock.emit({ type: 'call_added', call: 1, account: 1, direction: 'incoming', remote: 'sip:a@b' });
    mock.deliver(ev);
    mock.deliver(ev);
    expect(store.snapshot!.calls).toHaveLength(1);
    expect(store.snapshot).toEqual(mock.engineState);
  });

  it('resyncs from a new snapshot after a lost event', async () => {
    const mock = new MockBackend();
    const store = new EngineStore(mock);
    await store.start();
    mock.emitSilently({ type: 'call_added', call: 1, account: 1, direction: 'outgoing', remote: 'sip:a@b' });
    mock.emit({ type: 'call_changed', call: 1, account: 1, state: { state: 'ringing', status: 180 } });
    await flush();
    expect(store.resyncs).toBe(1);
    expect(store.snapshot).toEqual(mock.engineState);
    expect(store.snapshot!.calls[0].state).toEqual({ state: 'ringing', status: 180 });
  });

  it('records when a call became active, once', async () => {
    let t = 1000;
    const mock = withAccount();
    const store = new EngineStore(mock, () => t);
    await store.start();
    const call = mock.incoming('sip:a@b');
    expect(store.activeSince[call]).toBeUndefined();
    await mock.answer(call);
    expect(store.activeSince[call]).toBe(1000);
    t = 5000;
    mock.emit({ type: 'registration', account: 1, state: 'registering' });
    expect(store.activeSince[call]).toBe(1000);
    await mock.hangup(call);
    expect(store.activeSince[call]).toBeUndefined();
  });

  it('stops following after stop()', async () => {
    const mock = new MockBackend();
    const store = new EngineStore(mock);
    await store.start();
    store.stop();
    mock.emit({ type: 'account_added', account: 1, name: 'alice@example.com', default: true, secure: true });
    expect(store.snapshot!.seq).toBe(0);
  });

  it('keeps the last call that ended, in its final state, until a new call or dismissal', async () => {
    const mock = withAccount();
    const store = new EngineStore(mock);
    await store.start();
    const first = mock.incoming('sip:a@b');
    await mock.reject(first);
    expect(store.snapshot!.calls).toEqual([]);
    expect(store.lastEnded).toMatchObject({ call: first, state: { state: 'ended', outcome: 'rejected' } });
    await mock.call('sip:c@d', null);
    expect(store.lastEnded).toBeNull();
    await mock.hangup(2);
    expect(store.lastEnded).toMatchObject({ call: 2, state: { state: 'ended', outcome: 'cancelled' } });
    store.dismissEnded();
    expect(store.lastEnded).toBeNull();
  });

  it('keeps a timer for each call and the time of the one held', async () => {
    let t = 1000;
    const mock = withAccount();
    const store = new EngineStore(mock, () => t);
    await store.start();
    const bob = await mock.call('sip:bob@example.com', null);
    mock.change(bob, { state: 'active', codec: 'opus', muted: false, held: false, remote_held: false, conference: false });
    t = 4000;
    const carol = mock.incoming('sip:carol@example.com');
    await mock.answer(carol);
    expect(store.activeSince).toEqual({ [bob]: 1000, [carol]: 4000 });
    expect(store.snapshot!.focus).toBe(carol);
    expect(store.snapshot).toEqual(mock.engineState);
  });
});
