import { describe, expect, it } from 'vitest';
import type { CallState } from '../bindings/CallState';
import { engineError, MockBackend } from './mock';

const ACTIVE: CallState = { state: 'active', codec: 'opus', muted: false, held: false, remote_held: false, conference: false };

/** The fake engine's calls as [id, state name, held, conference]. */
function calls(mock: MockBackend) {
  return mock.engineState.calls.map((c) => {
    const s = c.state;
    return s.state === 'active' ? [c.call, 'active', s.held, s.conference] : [c.call, s.state];
  });
}

/** Bob (1) answered, then Carol (2) answered: Bob held, Carol focused. */
async function twoCalls() {
  const mock = new MockBackend();
  mock.addAccount('alice@example.com', { default: true });
  const bob = await mock.call('sip:bob@example.com', null);
  mock.change(bob, ACTIVE);
  const carol = mock.incoming('sip:carol@example.com');
  await mock.answer(carol);
  return { mock, bob, carol };
}

describe('MockBackend, the fake engine the UI tests run against', () => {
  it('adds accounts, the first saved settings being the default', async () => {
    const mock = new MockBackend();
    expect(mock.engineState.accounts).toEqual([]);
    await expect(mock.call('100', null)).rejects.toMatchObject({ code: 'engine.not_configured', fault: 'user' });
    const work = mock.addAccount('work@example.org');
    expect(mock.engineState.accounts).toEqual([
      { account: work, name: 'work@example.org', default: false, connection: { state: 'connected' }, registration: { state: 'registered', expires: 600 } },
    ]);
    await expect(mock.call('100', 9)).rejects.toMatchObject({ code: 'engine.no_such_account', fault: 'user' });
    const call = await mock.call('100', work);
    expect(mock.engineState.calls[0]).toMatchObject({ call, account: work });
  });

  it('rings a call arriving during another as waiting, on the account asked for', async () => {
    const mock = new MockBackend();
    mock.addAccount('alice@example.com', { default: true });
    const work = mock.addAccount('work@example.org');
    const first = mock.incoming('sip:bob@example.com');
    expect(mock.engineState.calls[0]).toMatchObject({ account: 1, state: { state: 'incoming', waiting: false } });
    await mock.answer(first);
    mock.incoming('sip:carol@example.com', work);
    expect(mock.engineState.calls[1]).toMatchObject({ account: work, state: { state: 'incoming', waiting: true } });
  });

  it('answering holds the call that was up and focuses the new one', async () => {
    const { mock, bob, carol } = await twoCalls();
    expect(calls(mock)).toEqual([[bob, 'active', true, false], [carol, 'active', false, false]]);
    expect(mock.engineState.focus).toBe(carol);
  });

  it('switching resumes one call and holds the other', async () => {
    const { mock, bob, carol } = await twoCalls();
    await mock.focusCall(bob);
    expect(calls(mock)).toEqual([[bob, 'active', false, false], [carol, 'active', true, false]]);
    expect(mock.engineState.focus).toBe(bob);
  });

  it('merging makes both conference legs; splitting one holds it and leaves a plain call', async () => {
    const { mock, bob, carol } = await twoCalls();
    await mock.mergeCalls(carol, bob);
    expect(calls(mock)).toEqual([[bob, 'active', false, true], [carol, 'active', false, true]]);
    expect(mock.engineState.focus).toBe(carol);
    await mock.splitCall(carol);
    expect(calls(mock)).toEqual([[bob, 'active', false, false], [carol, 'active', true, false]]);
    expect(mock.engineState.focus).toBe(bob);
    await expect(mock.splitCall(bob)).rejects.toMatchObject({ code: 'sip.invalid_state' });
  });

  it('hanging up one leg leaves the other talking', async () => {
    const { mock, bob, carol } = await twoCalls();
    await mock.mergeCalls(carol, bob);
    await mock.hangup(carol);
    expect(calls(mock)).toEqual([[bob, 'active', false, false]]);
    expect(mock.engineState.focus).toBe(bob);
  });

  it('an attended transfer ends both calls as transferred', async () => {
    const { mock, bob, carol } = await twoCalls();
    await mock.transferAttended(carol, bob);
    expect(mock.engineState.calls).toEqual([]);
    expect(mock.engineState.focus).toBeNull();
    expect(mock.entries.map((e) => [e.remote, e.outcome])).toEqual([
      ['sip:bob@example.com', 'transferred'],
      ['sip:carol@example.com', 'transferred'],
    ]);
  });
});

describe("the fake engine's errors", () => {
  it('throw failNext errors with their code, fault and message', async () => {
    const mock = new MockBackend();
    mock.failNext('history', engineError('history.failed', 'database is locked'));
    await expect(mock.history(10)).rejects.toMatchObject({ code: 'history.failed', fault: 'ours', message: 'database is locked' });
    await expect(mock.history(10)).resolves.toEqual([]);
  });

  it("refuse what the engine refuses, with the engine's fault", async () => {
    const mock = new MockBackend();
    mock.addAccount('alice@example.com', { default: true });
    await expect(mock.hangup(7)).rejects.toMatchObject({ code: 'sip.no_such_call', fault: 'user' });
    await expect(mock.testAudio('Nowhere', null)).rejects.toMatchObject({ code: 'audio.no_device', fault: 'user' });
  });
});
