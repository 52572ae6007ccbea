import { describe, expect, it } from 'vitest';
import { callStateText, parseRemote } from './calls';

describe('parseRemote', () => {
  it.each([
    ['"Bob Smith" <sip:bob@example.com;transport=ws>', { name: 'Bob Smith', uri: 'sip:bob@example.com;transport=ws', number: 'bob@example.com' }],
    ['Bob <sip:+15550100@pbx.example.com;user=phone>', { name: 'Bob', uri: 'sip:+15550100@pbx.example.com;user=phone', number: '+15550100' }],
    ['<sips:alice@example.com>', { name: null, uri: 'sips:alice@example.com', number: 'alice@example.com' }],
    ['sip:alice@example.com', { name: null, uri: 'sip:alice@example.com', number: 'alice@example.com' }],
    ['tel:+442079460958', { name: null, uri: 'tel:+442079460958', number: '+442079460958' }],
    ['100', { name: null, uri: '100', number: '100' }],
  ])('reads %s', (remote, party) => {
    expect(parseRemote(remote)).toEqual(party);
  });
});

describe('callStateText', () => {
  const active = { state: 'active' as const, codec: 'opus', muted: false, held: false, remote_held: false };

  it('names every hold combination, ours first', () => {
    expect(callStateText(active)).toBe('Connected');
    expect(callStateText({ ...active, held: true })).toBe('On hold');
    expect(callStateText({ ...active, remote_held: true })).toBe('Held by the other side');
    expect(callStateText({ ...active, held: true, remote_held: true })).toBe('On hold');
  });
});
