import { describe, expect, it } from 'vitest';
import type { EngineEvent } from '../bindings/EngineEvent';
import type { Snapshot } from '../bindings/Snapshot';
import { applyEvent, Projection } from './projection';

const base: Snapshot = {
  seq: 3,
  connection: { state: 'connected' },
  registration: { state: 'registered', expires: 600 },
  calls: [],
};

// Exactly what serde_json writes for the engine's events (tag "type", flattened seq).
const added: EngineEvent = { seq: 4, type: 'call_added', call: 7, direction: 'outgoing', remote: 'sip:bob@example.com' };
const ringing: EngineEvent = { seq: 5, type: 'call_changed', call: 7, state: { state: 'ringing', status: 180 } };
const active: EngineEvent = { seq: 6, type: 'call_changed', call: 7, state: { state: 'active', codec: 'opus', muted: false, held: false, remote_held: false } };

describe('applyEvent', () => {
  it('folds each kind like Snapshot::apply', () => {
    let s = applyEvent(base, { seq: 4, type: 'connection', state: 'disconnected', error: { code: 'net.connection_lost', message: 'x' }, retry_in_ms: 2000, certificate: null });
    expect(s.connection).toEqual({ state: 'disconnected', error: { code: 'net.connection_lost', message: 'x' }, retry_in_ms: 2000, certificate: null });
    s = applyEvent(s, { seq: 5, type: 'registration', state: 'registering' });
    expect(s.registration).toEqual({ state: 'registering' });
    s = applyEvent(s, { seq: 6, type: 'call_added', call: 1, direction: 'incoming', remote: 'sip:a@b' });
    expect(s.calls).toEqual([{ call: 1, direction: 'incoming', remote: 'sip:a@b', state: { state: 'incoming' } }]);
    s = applyEvent(s, { seq: 7, type: 'call_changed', call: 1, state: { state: 'active', codec: 'pcmu', muted: false, held: false, remote_held: false } });
    expect(s.calls[0].state).toEqual({ state: 'active', codec: 'pcmu', muted: false, held: false, remote_held: false });
    s = applyEvent(s, { seq: 8, type: 'call_removed', call: 1, stats: { codec: 'pcmu', rtp_tx: 1, rtp_rx: 1, rx_lost: 0, jitter_ms: 0, duration_s: 1, dtmf_rx: '' } });
    expect(s.calls).toEqual([]);
    expect(s.seq).toBe(8);
  });

  it('does not modify its input', () => {
    const before = structuredClone(base);
    applyEvent(base, added);
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
    expect(p.state!.calls[0].state).toEqual({ state: 'active', codec: 'opus', muted: false, held: false, remote_held: false });
  });

  it('a newer snapshot closes a gap and keeps the held events it does not cover', () => {
    const p = new Projection();
    p.reset(base);
    expect(p.push(active)).toBe('gap');
    const fresh: Snapshot = { ...base, seq: 5, calls: [{ call: 7, direction: 'outgoing', remote: 'sip:bob@example.com', state: { state: 'ringing', status: 180 } }] };
    expect(p.reset(fresh)).toBe('applied');
    expect(p.state!.seq).toBe(6);
    expect(p.state!.calls[0].state).toEqual({ state: 'active', codec: 'opus', muted: false, held: false, remote_held: false });
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
