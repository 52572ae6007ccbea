import { describe, expect, it } from 'vitest';
import { callStateText, parseRemote, partyLabel } from './calls';

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
  const active = { state: 'active' as const, codec: 'opus', muted: false, held: false, remote_held: false, conference: false };

  it('names every hold combination, ours first', () => {
    expect(callStateText(active)).toBe('Connected');
    expect(callStateText({ ...active, held: true })).toBe('On hold');
    expect(callStateText({ ...active, remote_held: true })).toBe('Held by the other side');
    expect(callStateText({ ...active, held: true, remote_held: true })).toBe('On hold');
  });

  it('says when a call is a conference leg, unless it is held', () => {
    expect(callStateText({ ...active, conference: true })).toBe('In conference');
    expect(callStateText({ ...active, conference: true, held: true })).toBe('On hold');
  });

  it('tells a waiting call from a ringing one', () => {
    expect(callStateText({ state: 'incoming', waiting: false })).toBe('Incoming call');
    expect(callStateText({ state: 'incoming', waiting: true })).toBe('Call waiting');
  });
});

describe('partyLabel', () => {
  it('is the display name, else the number or address', () => {
    expect(partyLabel('"Bob Smith" <sip:bob@example.com>')).toBe('Bob Smith');
    expect(partyLabel('sip:+15550100@pbx.example.com;user=phone')).toBe('+15550100');
    expect(partyLabel('sip:carol@example.com')).toBe('carol@example.com');
  });
});
