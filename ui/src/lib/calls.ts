// How a call and the party on the other end are described to the user.
import type { CallOutcome } from './bindings/CallOutcome';
import type { CallState } from './bindings/CallState';
import { describeError } from './errors';

/** The other party: who (a display name, if any), where to call back, and a short number or address. */
export interface Party {
  name: string | null;
  uri: string;
  number: string;
}

/** Reads the engine's `remote`: `"Bob" <sip:bob@example.com>`, a bare URI, or what was dialled. */
export function parseRemote(remote: string): Party {
  const t = remote.trim();
  const m = /^(.*?)\s*<([^>]*)>/.exec(t);
  const name = m ? m[1].trim().replace(/^"(.*)"$/, '$1').trim() || null : null;
  const uri = m ? m[2].trim() : t;
  const address = uri.replace(/^(sips?|tel):/i, '').split(/[;?]/)[0];
  const at = address.indexOf('@');
  const user = at < 0 ? address : address.slice(0, at);
  return { name, uri, number: /^\+?[\d*#]+$/.test(user) ? user : address };
}

const ENDED: Readonly<Record<CallOutcome, string>> = {
  completed: 'Call ended',
  rejected: 'Call declined',
  cancelled: 'Call cancelled',
  failed: 'Call failed',
  transferred: 'Call transferred',
};

/** How a party is named on a card and in a button's name: the display name, else the number. */
export function partyLabel(remote: string): string {
  const party = parseRemote(remote);
  return party.name ?? party.number;
}

/** One line saying where a call stands. */
export function callStateText(s: CallState): string {
  switch (s.state) {
    case 'calling':
      return 'Calling';
    case 'ringing':
      return 'Ringing';
    case 'incoming':
      return s.waiting ? 'Call waiting' : 'Incoming call';
    case 'active':
      if (s.held) return 'On hold';
      if (s.remote_held) return 'Held by the other side';
      return s.conference ? 'In conference' : 'Connected';
    case 'ended':
      return s.error ? `Call failed: ${describeError(s.error)}` : ENDED[s.outcome];
  }
}
