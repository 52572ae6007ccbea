import { describe, expect, it } from 'vitest';
import { engineError } from '../backend/mock';
import type { AccountSnapshot } from '../bindings/AccountSnapshot';
import type { EngineEvent } from '../bindings/EngineEvent';
import type { Snapshot } from '../bindings/Snapshot';
import { applyEvent, Projection } from './projection';

const alice: AccountSnapshot = {
  account: 1,
  name: 'alice@example.com',
  default: true,
  secure: true,
  connection: { state: 'connected' },
  registration: { state: 'registered', expires: 600 },
};
const base: Snapshot = { seq: 3, accounts: [alice], calls: [], focus: null };
const ACTIVE = { state: 'active', codec: 'opus', muted: false, held: false, remote_held: false, conference: false } as const;
const STATS = { codec: 'pcmu', rtp_tx: 1, rtp_rx: 1, rx_lost: 0, jitter_ms: 0, duration_s: 1, dtmf_rx: '' };

// Exactly what serde_json writes for the engine's events (tag "type", flattened seq).
const added: EngineEvent = { seq: 4, type: 'call_added', call: 7, account: 1, direction: 'outgoing', remote: 'sip:bob@example.com' };
const ringing: EngineEvent = { seq: 5, type: 'call_changed', call: 7, account: 1, state: { state: 'ringing', status: 180 } };
const active: EngineEvent = { seq: 6, type: 'call_changed', call: 7, account: 1, state: ACTIVE };

describe('applyEvent', () => {
  it('adds an account connecting and unregistered', () => {
    const s = applyEvent(base, { seq: 4, type: 'account_added', account: 2, name: 'work@example.org', default: false, secure: true });
    expect(s.accounts).toEqual([
      alice,
      { account: 2, name: 'work@example.org', default: false, secure: true, connection: { state: 'connecting' }, registration: { state: 'unregistered' } },
    ]);
    expect(s.seq).toBe(4);
  });

  it('takes the default from the others when an account becomes it', () => {
    let s = applyEvent(base, { seq: 4, type: 'account_added', account: 2, name: 'work@example.org', default: true, secure: true });
    expect(s.accounts.map((a) => [a.account, a.default])).toEqual([[1, false], [2, true]]);
    s = applyEvent(s, { seq: 5, type: 'account_added', account: 1, name: 'alice@example.com', default: true, secure: true });
    expect(s.accounts.map((a) => [a.account, a.default])).toEqual([[1, true], [2, false]]);
  });

  it('renames an account added again, keeping its place and its state', () => {
    const s = applyEvent(base, { seq: 4, type: 'account_added', account: 1, name: 'alice@example.net', default: true, secure: true });
    expect(s.accounts).toEqual([{ ...alice, name: 'alice@example.net' }]);
  });

  it('takes whether the flow is encrypted from an account added again (its server changed)', () => {
    const s = applyEvent(base, { seq: 4, type: 'account_added', account: 1, name: 'alice@example.com', default: true, secure: false });
    expect(s.accounts).toEqual([{ ...alice, secure: false }]);
  });

  it('an account added again without default is no longer the default, the others stay as they were', () => {
    const two = applyEvent(base, { seq: 4, type: 'account_added', account: 2, name: 'work@example.org', default: false, secure: true });
    const s = applyEvent(two, { seq: 5, type: 'account_added', account: 1, name: 'alice@example.com', default: false, secure: true });
    expect(s.accounts.map((a) => [a.account, a.default])).toEqual([[1, false], [2, false]]);
  });

  it('removes an account and leaves its calls to their own events', () => {
    const withCall = applyEvent(base, added);
    const s = applyEvent(withCall, { seq: 5, type: 'account_removed', account: 1 });
    expect(s.accounts).toEqual([]);
    expect(s.calls).toHaveLength(1);
  });

  it("sets one account's connection and registration, without its id or tag", () => {
    const two = applyEvent(base, { seq: 4, type: 'account_added', account: 2, name: 'work@example.org', default: false, secure: true });
    const lost = { state: 'disconnected', error: engineError('net.connection_lost', 'x'), retry_in_ms: 2000, certificate: null } as const;
    let s = applyEvent(two, { seq: 5, type: 'connection', account: 2, ...lost });
    expect(s.accounts[1].connection).toEqual(lost);
    expect(s.accounts[0]).toEqual(alice);
    const refused = engineError('sip.auth_failed', '401');
    s = applyEvent(s, { seq: 6, type: 'registration', account: 2, state: 'failed', error: refused, status: 401 });
    expect(s.accounts[1].registration).toEqual({ state: 'failed', error: { code: 'sip.auth_failed', fault: 'user', message: '401' }, status: 401 });
    s = applyEvent(s, { seq: 7, type: 'registration', account: 1, state: 'registering' });
    expect(s.accounts[0].registration).toEqual({ state: 'registering' });
    expect(s.accounts[0].connection).toEqual({ state: 'connected' });
  });

  it('ignores the state of an account it does not know', () => {
    const s = applyEvent(base, { seq: 4, type: 'registration', account: 9, state: 'registering' });
    expect(s.accounts).toEqual([alice]);
    expect(s.seq).toBe(4);
  });

  it('adds calls with their account: outgoing calling, incoming not waiting', () => {
    let s = applyEvent(base, added);
    s = applyEvent(s, { seq: 5, type: 'call_added', call: 8, account: 2, direction: 'incoming', remote: 'sip:carol@example.com' });
    expect(s.calls).toEqual([
      { call: 7, account: 1, direction: 'outgoing', remote: 'sip:bob@example.com', state: { state: 'calling' } },
      { call: 8, account: 2, direction: 'incoming', remote: 'sip:carol@example.com', state: { state: 'incoming', waiting: false } },
    ]);
  });

  it('changes and removes one call of several', () => {
    let s = applyEvent(base, added);
    s = applyEvent(s, { seq: 5, type: 'call_added', call: 8, account: 1, direction: 'incoming', remote: 'sip:carol@example.com' });
    s = applyEvent(s, { seq: 6, type: 'call_changed', call: 8, account: 1, state: { state: 'incoming', waiting: true } });
    expect(s.calls.map((c) => c.state)).toEqual([{ state: 'calling' }, { state: 'incoming', waiting: true }]);
    s = applyEvent(s, { seq: 7, type: 'call_changed', call: 7, account: 1, state: { ...ACTIVE, held: true, conference: true } });
    expect(s.calls[0].state).toEqual({ ...ACTIVE, held: true, conference: true });
    s = applyEvent(s, { seq: 8, type: 'call_removed', call: 7, account: 1, stats: STATS });
    expect(s.calls.map((c) => c.call)).toEqual([8]);
  });

  it('follows the focus, and keeps it when the focused call is removed (the engine says when it moves)', () => {
    let s = applyEvent(base, added);
    s = applyEvent(s, { seq: 5, type: 'focus', call: 7 });
    expect(s.focus).toBe(7);
    s = applyEvent(s, { seq: 6, type: 'call_removed', call: 7, account: 1, stats: STATS });
    expect(s.focus).toBe(7);
    s = applyEvent(s, { seq: 7, type: 'focus', call: null });
    expect(s.focus).toBeNull();
  });

  it('does not modify its input', () => {
    const before = structuredClone(base);
    applyEvent(base, added);
    applyEvent(base, { seq: 4, type: 'account_added', account: 2, name: 'work@example.org', default: true, secure: true });
    applyEvent(base, { seq: 4, type: 'connection', account: 1, state: 'connecting' });
    applyEvent(base, { seq: 4, type: 'focus', call: 7 });
    expect(base).toEqual(before);
  });
});

describe('Projection', () => {
  it('applies events in order after the snapshot', () => {
    const p = new Projection();
    p.reset(base);
    expect(p.push(added)).toBe('applied');
    expect(p.push(ringing)).toBe('applied');
    expect(p.state!.seq).toBe(5);
    expect(p.state!.calls[0].state).toEqual({ state: 'ringing', status: 180 });
  });

  it('ignores events at or below the snapshot seq', () => {
    const p = new Projection();
    p.reset({ ...base, seq: 5 });
    expect(p.push(added)).toBe('duplicate');
    expect(p.push(ringing)).toBe('duplicate');
    expect(p.state!.calls).toEqual([]);
    expect(p.state!.seq).toBe(5);
  });

  it('ignores a repeated event', () => {
    const p = new Projection();
    p.reset(base);
    p.push(added);
    expect(p.push(added)).toBe('duplicate');
    expect(p.state!.calls).toHaveLength(1);
  });

  it('holds an event after a gap and applies it once the gap fills', () => {
    const p = new Projection();
    p.reset(base);
    p.push(added);
    expect(p.push(active)).toBe('gap');
    expect(p.state!.seq).toBe(4);
    expect(p.push(ringing)).toBe('applied');
    expect(p.state!.seq).toBe(6);
    expect(p.state!.calls[0].state).toEqual(ACTIVE);
  });

  it('a newer snapshot closes a gap and keeps the held events it does not cover', () => {
    const p = new Projection();
    p.reset(base);
    expect(p.push(active)).toBe('gap');
    const fresh: Snapshot = {
      ...base,
      seq: 5,
      calls: [{ call: 7, account: 1, direction: 'outgoing', remote: 'sip:bob@example.com', state: { state: 'ringing', status: 180 } }],
    };
    expect(p.reset(fresh)).toBe('applied');
    expect(p.state!.seq).toBe(6);
    expect(p.state!.calls[0].state).toEqual(ACTIVE);
  });

  it('keeps events that arrive before the first snapshot', () => {
    const p = new Projection();
    p.push(ringing);
    p.push(added);
    expect(p.state).toBeNull();
    p.reset(base);
    expect(p.state!.seq).toBe(5);
    expect(p.state!.calls[0].state.state).toBe('ringing');
  });
});
