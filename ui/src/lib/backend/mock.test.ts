import { describe, expect, it } from 'vitest';
import type { CallState } from '../bindings/CallState';
import { DEFAULT_SETTINGS } from '../settings';
import { engineError, MockBackend } from './mock';
import type { AccountSettings } from './types';

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
  it('adds accounts, the first saved one being the default', async () => {
    const mock = new MockBackend();
    expect(mock.engineState.accounts).toEqual([]);
    await expect(mock.call('100', null)).rejects.toMatchObject({ code: 'engine.not_configured', fault: 'user' });
    const work = mock.addAccount('work@example.org');
    expect(mock.engineState.accounts).toEqual([
      { account: work, name: 'work@example.org', default: true, secure: true, connection: { state: 'connected' }, registration: { state: 'registered', expires: 600 } },
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

const alice: AccountSettings = {
  ...DEFAULT_SETTINGS,
  sip_address: 'alice@example.com',
  password: 'secret',
  server: 'wss://sip.example.com',
};
const work: AccountSettings = { ...alice, sip_address: 'work@example.org', password: 'w0rk' };

describe('MockBackend, the settings store the UI tests run against', () => {
  it('mints ids 1, 2, ... and never reuses one', async () => {
    const mock = new MockBackend();
    expect(await mock.saveAccount(alice)).toBe('1');
    expect(await mock.saveAccount(work)).toBe('2');
    await mock.removeAccount('2');
    expect(await mock.saveAccount(work)).toBe('3');
    expect(mock.saved.map((a) => a.id)).toEqual(['1', '3']);
  });

  it('lists accounts without passwords, saying whether one is at hand and where each runs', async () => {
    const mock = new MockBackend({ accounts: [alice, { ...work, password: '' }] });
    expect(await mock.listAccounts()).toEqual({
      accounts: [
        { settings: { ...alice, id: '1', password: '' }, has_password: true, engine: 1 },
        { settings: { ...work, id: '2', password: '' }, has_password: false, engine: null },
      ],
      default_account: '1',
    });
  });

  it('keeps the saved password when an empty one is saved, and needs one for a new account', async () => {
    const mock = new MockBackend({ accounts: [alice] });
    await mock.saveAccount({ ...alice, id: '1', display_name: 'Alice', password: '' });
    expect(mock.saved[0]).toMatchObject({ display_name: 'Alice', password: 'secret' });
    await expect(mock.saveAccount({ ...work, password: '' })).rejects.toMatchObject({ code: 'config.missing_password', fault: 'user' });
    await expect(mock.saveAccount({ ...work, id: '9' })).rejects.toMatchObject({ code: 'settings.unknown_account', fault: 'user' });
  });

  it('refuses a ws:// server unless the user allowed it, and runs it as not secure', async () => {
    const mock = new MockBackend();
    const plain = { ...alice, server: 'WS://pbx.example.com:8080' };
    await expect(mock.saveAccount(plain)).rejects.toMatchObject({ code: 'config.insecure_server', fault: 'user' });
    expect(mock.saved).toEqual([]);
    await mock.saveAccount({ ...plain, allow_insecure: true });
    await mock.saveAccount(work);
    expect(mock.saved[0].allow_insecure).toBe(true);
    expect(mock.engineState.accounts.map((a) => [a.name, a.secure])).toEqual([
      ['alice@example.com', false],
      ['work@example.org', true],
    ]);
  });

  it('refuses a second account with the same SIP address', async () => {
    const mock = new MockBackend({ accounts: [alice, work] });
    await expect(mock.saveAccount({ ...alice, password: 'x', sip_address: 'sip:alice@example.com' })).rejects.toMatchObject({
      code: 'settings.duplicate_account',
      fault: 'user',
    });
    await expect(mock.saveAccount({ ...work, id: '2', sip_address: 'alice@example.com' })).rejects.toMatchObject({
      code: 'settings.duplicate_account',
    });
    // Its own address is not a duplicate.
    await expect(mock.saveAccount({ ...alice, id: '1', password: '' })).resolves.toBe('1');
  });

  it('makes the first account the default and passes the default on when it is removed', async () => {
    const mock = new MockBackend();
    await mock.saveAccount(alice);
    await mock.saveAccount(work);
    expect(mock.defaultId).toBe('1');
    await mock.setDefaultAccount('2');
    expect(mock.defaultId).toBe('2');
    expect(mock.engineState.accounts.map((a) => [a.name, a.default])).toEqual([['alice@example.com', false], ['work@example.org', true]]);
    await mock.removeAccount('2');
    expect(mock.defaultId).toBe('1');
    expect(mock.engineState.accounts.map((a) => [a.name, a.default])).toEqual([['alice@example.com', true]]);
    await mock.removeAccount('1');
    expect(mock.defaultId).toBeNull();
    await expect(mock.setDefaultAccount('1')).rejects.toMatchObject({ code: 'settings.unknown_account' });
  });

  it('takes a disabled account out of the engine, ending its calls, and registers it again when enabled', async () => {
    const mock = new MockBackend({ accounts: [alice] });
    const id = await mock.saveAccount(work);
    const engine = mock.engineIdOf(id)!;
    await mock.call('100', engine);
    await mock.saveAccount({ ...work, id, password: '', enabled: false });
    expect(mock.engineState.accounts.map((a) => a.name)).toEqual(['alice@example.com']);
    expect(mock.engineState.calls).toEqual([]);
    expect(mock.engineIdOf(id)).toBeNull();
    await mock.saveAccount({ ...work, id, password: '', enabled: true });
    const back = mock.engineState.accounts.find((a) => a.name === 'work@example.org');
    expect(back).toMatchObject({ connection: { state: 'connected' }, registration: { state: 'registered' } });
    expect(back?.account).not.toBe(engine);
  });

  it('pins a certificate for the engine account it is asked for', async () => {
    const mock = new MockBackend({ accounts: [alice, work] });
    await mock.trustCertificate(2, 'AB:CD');
    expect(mock.saved.map((a) => a.trusted_certificate)).toEqual([null, 'AB:CD']);
    await expect(mock.trustCertificate(7, 'AB:CD')).rejects.toMatchObject({ code: 'settings.unknown_account' });
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
