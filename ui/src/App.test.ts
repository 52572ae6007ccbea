import { act, fireEvent, render, screen, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import App from './App.svelte';
import { engineError, MockBackend } from './lib/backend/mock';
import type { AccountSettings, HistoryEntry, Preferences } from './lib/backend/types';
import { DEFAULT_PREFERENCES } from './lib/preferences';
import { DEFAULT_SETTINGS } from './lib/settings';
import { SavedAccountsStore } from './lib/state/accounts.svelte';
import { EngineStore } from './lib/state/engine.svelte';

const saved: AccountSettings = {
  ...DEFAULT_SETTINGS,
  display_name: 'Alice',
  sip_address: 'alice@example.com',
  password: 'secret',
  server: 'wss://sip.example.com',
};
const ACTIVE = { state: 'active', codec: 'opus', muted: false, held: false, remote_held: false, conference: false } as const;
const flush = () => act(() => new Promise((r) => setTimeout(r, 0)));

async function setup(
  opts: { accounts?: AccountSettings[]; history?: HistoryEntry[]; preferences?: Preferences } = {},
) {
  const preferences = opts.preferences ?? DEFAULT_PREFERENCES;
  const mock = new MockBackend({ accounts: opts.accounts ?? [saved], history: opts.history, preferences });
  const store = new EngineStore(mock);
  await store.start();
  const accounts = new SavedAccountsStore(mock);
  await accounts.load();
  const user = userEvent.setup();
  render(App, { backend: mock, store, saved: accounts, preferences: structuredClone(preferences) });
  await flush();
  const commands = () => mock.sent.map((s) => s.command);
  const lastSent = (command: string) => mock.sent.filter((s) => s.command === command).at(-1)?.args;
  return { mock, store, user, commands, lastSent };
}

/** An outgoing call, answered. */
async function inCall(s: Awaited<ReturnType<typeof setup>>) {
  await s.user.type(screen.getByLabelText('Number or SIP address'), 'sip:bob@example.com{Enter}');
  s.mock.change(1, ACTIVE);
  await screen.findByRole('button', { name: 'Mute' });
}

afterEach(() => {
  vi.useRealTimers();
  delete document.documentElement.dataset.theme;
});

describe('App over the mock backend', () => {
  it('opens on the account form with no account; saving the first one registers and lists it', async () => {
    const { commands, user, mock } = await setup({ accounts: [] });
    expect(screen.getByRole('status')).toHaveTextContent('No account set up yet');
    await user.type(screen.getByLabelText('SIP address'), 'alice@example.com');
    await user.type(screen.getByLabelText('Password'), 'secret');
    await user.type(screen.getByLabelText('WebSocket server'), 'wss://sip.example.com');
    await user.click(screen.getByRole('button', { name: 'Save' }));
    expect(mock.saved.map((a) => a.sip_address)).toEqual(['alice@example.com']);
    expect(commands()).toContain('save_account');
    expect(screen.getAllByRole('status')[0]).toHaveTextContent('Registered');
    expect(within(screen.getByRole('list', { name: 'Accounts' })).getByRole('listitem')).toHaveTextContent('alice@example.com');
    const list = screen.getByRole('list', { name: 'Saved accounts' });
    expect(within(list).getByRole('listitem')).toHaveTextContent('alice@example.com');
    expect(screen.queryByLabelText('SIP address')).toBeNull();
  });

  it('opens on the phone when an account is saved', async () => {
    await setup();
    expect(screen.getByLabelText('Number or SIP address')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Phone' })).toHaveAttribute('aria-current', 'page');
  });

  it('places a call, hangs up, says how it ended and offers the number again', async () => {
    const { mock, user } = await setup();
    await user.type(screen.getByLabelText('Number or SIP address'), '+15550100{Enter}');
    expect(screen.getByLabelText('Call state')).toHaveTextContent('Calling');
    expect(screen.queryByLabelText('Number or SIP address')).toBeNull();
    mock.change(1, ACTIVE);
    await screen.findByRole('button', { name: 'Mute' });
    await user.click(screen.getByRole('button', { name: 'Hang up' }));
    expect(screen.getByLabelText('Call state')).toHaveTextContent('Call ended');
    expect(screen.queryByRole('button', { name: 'Hang up' })).toBeNull();
    const recent = await screen.findByRole('list', { name: 'Recent numbers' });
    expect(within(recent).getByRole('button', { name: '+15550100' })).toBeInTheDocument();
  });

  it('stops saying how the last call ended after a few seconds', async () => {
    const { mock } = await setup();
    vi.useFakeTimers();
    try {
      const call = mock.incoming('sip:bob@example.com');
      await mock.reject(call);
      await vi.advanceTimersByTimeAsync(0);
      expect(screen.getByLabelText('Call state')).toHaveTextContent('Call declined');
      await vi.advanceTimersByTimeAsync(5000);
      expect(screen.queryByLabelText('Call state')).toBeNull();
    } finally {
      vi.useRealTimers();
    }
  });

  it('answers an incoming call', async () => {
    const { mock, user } = await setup();
    mock.incoming('"Bob" <sip:bob@example.com>');
    const incoming = await screen.findByRole('region', { name: 'Incoming call from "Bob" <sip:bob@example.com>' });
    expect(incoming).toHaveTextContent('Incoming call from Bob');
    await user.click(within(incoming).getByRole('button', { name: 'Answer' }));
    expect(screen.getByLabelText('Call state')).toHaveTextContent('Connected');
    expect(screen.queryByRole('button', { name: 'Answer' })).toBeNull();
  });

  it('reports a refused command by its code', async () => {
    const { mock, user } = await setup();
    mock.failNext('call', engineError('net.not_connected', 'flow down'));
    await user.type(screen.getByLabelText('Number or SIP address'), '100{Enter}');
    expect(await screen.findByRole('alert')).toHaveTextContent('Not connected');
  });
});

describe('call controls over the mock backend', () => {
  it('mutes and unmutes through set_muted', async () => {
    const s = await setup();
    await inCall(s);
    await s.user.click(screen.getByRole('button', { name: 'Mute' }));
    expect(s.lastSent('set_muted')).toEqual([1, true]);
    await s.user.click(await screen.findByRole('button', { name: 'Unmute' }));
    expect(s.lastSent('set_muted')).toEqual([1, false]);
    expect(await screen.findByRole('button', { name: 'Mute' })).toBeInTheDocument();
  });

  it('holds and resumes through set_held', async () => {
    const s = await setup();
    await inCall(s);
    await s.user.click(screen.getByRole('button', { name: 'Hold' }));
    expect(s.lastSent('set_held')).toEqual([1, true]);
    expect(screen.getByLabelText('Call state')).toHaveTextContent('On hold');
    await s.user.click(screen.getByRole('button', { name: 'Resume' }));
    expect(s.lastSent('set_held')).toEqual([1, false]);
    expect(screen.getByLabelText('Call state')).toHaveTextContent('Connected');
  });

  it('says so when a hold is refused because another change is pending', async () => {
    const s = await setup();
    await inCall(s);
    s.mock.failNext('set_held', engineError('sip.request_pending', '491'));
    await s.user.click(screen.getByRole('button', { name: 'Hold' }));
    expect(screen.getByRole('alert')).toHaveTextContent('Another change is still in progress');
    expect(screen.getByRole('button', { name: 'Hold' })).toBeEnabled();
  });

  it('sends keypad digits through send_dtmf and explains a refusal', async () => {
    const s = await setup();
    await inCall(s);
    await s.user.click(screen.getByRole('button', { name: 'Keypad' }));
    const keys = screen.getByRole('group', { name: 'Keypad tones' });
    await s.user.click(within(keys).getByRole('button', { name: '1' }));
    await s.user.click(within(keys).getByRole('button', { name: '#' }));
    expect(s.mock.sent.filter((x) => x.command === 'send_dtmf').map((x) => x.args)).toEqual([[1, '1'], [1, '#']]);
    s.mock.failNext('send_dtmf', engineError('media.dtmf_unsupported', 'no telephone-event'));
    await s.user.click(within(keys).getByRole('button', { name: '2' }));
    expect(screen.getByRole('alert')).toHaveTextContent('The other side does not accept keypad tones');
  });

  it('transfers to the target asked for', async () => {
    const s = await setup();
    await inCall(s);
    await s.user.click(screen.getByRole('button', { name: 'Transfer' }));
    await s.user.type(screen.getByLabelText('Transfer to'), 'sip:carol@example.com{Enter}');
    expect(s.lastSent('transfer')).toEqual([1, 'sip:carol@example.com']);
    expect(screen.getByLabelText('Call state')).toHaveTextContent('Call transferred');
  });

  it('moves the level meters with the levels feed and sets the volume', async () => {
    const s = await setup();
    await inCall(s);
    const mic = screen.getByRole('meter', { name: 'Microphone level' });
    expect(mic).toHaveAttribute('aria-valuenow', '-100');
    await act(() => s.mock.levels({ input_dbfs: -23.6, output_dbfs: -9 }));
    expect(mic).toHaveAttribute('aria-valuenow', '-24');
    expect(screen.getByRole('meter', { name: 'Speaker level' })).toHaveAttribute('aria-valuenow', '-9');
    await fireEvent.input(screen.getByRole('slider', { name: 'Speaker volume' }), { target: { value: '0.4' } });
    expect(s.mock.volume).toBe(0.4);
  });
});

/** The card of the call with this remote, on top or below. */
const card = (remote: string) => screen.getByRole('region', { name: `Call with ${remote}` });
const stateOf = (remote: string) => within(card(remote)).getByLabelText('Call state').textContent;
const BOB = 'sip:bob@example.com';
const CAROL = '"Carol" <sip:carol@example.com>';

/** Bob answered, then Carol answered while Bob waits on hold. */
async function twoCalls(s: Awaited<ReturnType<typeof setup>>) {
  await inCall(s);
  s.mock.incoming(CAROL);
  await s.user.click(await screen.findByRole('button', { name: 'Answer' }));
}

describe('several accounts', () => {
  it('shows one line per account with its own state and the default marked', async () => {
    const { mock } = await setup();
    await act(() => mock.addAccount('work@example.org'));
    const items = within(screen.getByRole('list', { name: 'Accounts' })).getAllByRole('listitem');
    expect(items).toHaveLength(2);
    expect(items[0]).toHaveTextContent('alice@example.com (default)');
    expect(within(items[0]).getByRole('status')).toHaveTextContent('Connecting');
    expect(items[1]).toHaveTextContent('work@example.org');
    expect(items[1]).not.toHaveTextContent('(default)');
    expect(within(items[1]).getByRole('status')).toHaveTextContent('Registered');
  });

  it("offers to trust each account's refused certificate by the account's name", async () => {
    const { mock, user, lastSent } = await setup();
    await act(() => mock.addAccount('work@example.org'));
    mock.emit({
      type: 'connection',
      account: 2,
      state: 'disconnected',
      error: engineError('tls.untrusted_certificate', 'UnknownIssuer'),
      retry_in_ms: null,
      certificate: { sha256: 'AB:CD' },
    });
    await user.click(await screen.findByRole('button', { name: 'Trust certificate for work@example.org' }));
    expect(lastSent('trust_certificate')).toEqual([2, 'AB:CD']);
    expect(mock.saved[1]).toMatchObject({ sip_address: 'work@example.org', trusted_certificate: 'AB:CD' });
    expect(mock.saved[0].trusted_certificate).toBeNull();
    const items = within(screen.getByRole('list', { name: 'Accounts' })).getAllByRole('listitem');
    expect(within(items[1]).getByRole('status')).toHaveTextContent('Registered');
  });

  it('calls from the account picked in "Call from", the default one preselected', async () => {
    const { mock, user, lastSent } = await setup();
    const work = await act(() => mock.addAccount('work@example.org'));
    const from = screen.getByLabelText('Call from') as HTMLSelectElement;
    expect(from.selectedOptions[0].textContent).toBe('alice@example.com');
    await user.type(screen.getByLabelText('Number or SIP address'), '100{Enter}');
    expect(lastSent('call')).toEqual(['100', 1]);
    await user.click(screen.getByRole('button', { name: 'Hang up' }));
    await user.selectOptions(screen.getByLabelText('Call from'), 'work@example.org');
    await user.type(screen.getByLabelText('Number or SIP address'), '{Enter}');
    expect(lastSent('call')).toEqual(['100', work]);
    expect(mock.engineState.calls[0].account).toBe(work);
    expect(card('100')).toHaveTextContent('via work@example.org');
  });

  it('says which account an incoming call came to', async () => {
    const { mock } = await setup();
    const work = await act(() => mock.addAccount('work@example.org'));
    mock.incoming('sip:dan@example.com', work);
    const incoming = await screen.findByRole('region', { name: 'Incoming call from sip:dan@example.com' });
    expect(incoming).toHaveTextContent('to work@example.org');
  });

  it('lists on Settings the accounts the engine adds and removes, whoever changed them', async () => {
    const { mock, user } = await setup();
    await user.click(screen.getByRole('button', { name: 'Settings' }));
    const saved = () => within(screen.getByRole('list', { name: 'Saved accounts' })).getAllByRole('listitem');
    expect(saved()).toHaveLength(1);
    await act(() => mock.addAccount('work@example.org'));
    await flush();
    expect(saved()).toHaveLength(2);
    expect(within(saved()[1]).getByRole('status')).toHaveTextContent('Registered');
    await act(() => mock.removeAccount('2'));
    await flush();
    expect(saved()).toHaveLength(1);
  });

  it('takes a disabled account off the main screen and shows it as Disabled in Settings', async () => {
    const { mock, user } = await setup();
    mock.addAccount('work@example.org');
    await user.click(screen.getByRole('button', { name: 'Settings' }));
    await user.click(screen.getByRole('checkbox', { name: 'Enable work@example.org' }));
    const accounts = within(screen.getByRole('list', { name: 'Accounts' })).getAllByRole('listitem');
    expect(accounts).toHaveLength(1);
    expect(accounts[0]).toHaveTextContent('alice@example.com');
    const saved = within(screen.getByRole('list', { name: 'Saved accounts' })).getAllByRole('listitem');
    expect(within(saved[1]).getByRole('status')).toHaveTextContent('Disabled');
  });

  it('marks a ws:// account Not encrypted on the main screen, and not a wss:// one', async () => {
    const plain = { ...saved, sip_address: 'pbx@example.net', server: 'ws://pbx.example.net', allow_insecure: true };
    const { mock } = await setup({ accounts: [saved, plain] });
    await act(() => mock.register());
    const [alice, pbx] = within(screen.getByRole('list', { name: 'Accounts' })).getAllByRole('listitem');
    const NOT_ENCRYPTED = 'Not encrypted: this account connects over ws://';
    expect(within(alice).queryByLabelText(NOT_ENCRYPTED)).toBeNull();
    expect(within(pbx).getByLabelText(NOT_ENCRYPTED)).toHaveClass('warning');
    expect(within(pbx).getByRole('status').textContent!.trim()).toBe('Registered');
  });

  it('says nothing about accounts with one', async () => {
    const { mock } = await setup();
    mock.incoming('sip:dan@example.com');
    const incoming = await screen.findByRole('region', { name: 'Incoming call from sip:dan@example.com' });
    expect(incoming).not.toHaveTextContent('alice@example.com');
    expect(screen.queryByLabelText('Call from')).toBeNull();
  });
});

describe('several calls', () => {
  it('shows a call arriving during another as waiting; answering it holds the first', async () => {
    const s = await setup();
    await inCall(s);
    s.mock.incoming(CAROL);
    const waiting = await screen.findByRole('region', { name: `Incoming call from ${CAROL}` });
    expect(waiting).toHaveTextContent('Call waiting from Carol');
    expect(stateOf(BOB)).toBe('Connected');
    await s.user.click(within(waiting).getByRole('button', { name: 'Answer' }));
    expect(s.lastSent('answer')).toEqual([2]);
    expect(screen.queryByRole('region', { name: `Incoming call from ${CAROL}` })).toBeNull();
    expect(stateOf(CAROL)).toBe('Connected');
    expect(stateOf(BOB)).toBe('On hold');
    // The focused call is on top, with the full controls; the held one below.
    const regions = screen.getAllByRole('region').map((r) => r.getAttribute('aria-label'));
    expect(regions).toEqual([`Call with ${CAROL}`, `Call with ${BOB}`]);
    expect(within(card(CAROL)).getByRole('button', { name: 'Mute' })).toBeInTheDocument();
    const list = screen.getByRole('list', { name: 'Other calls' });
    expect(within(list).getByRole('button', { name: 'Switch to bob@example.com' })).toBeInTheDocument();
    expect(within(list).getAllByLabelText('Call duration')).toHaveLength(1);
  });

  it('declines a waiting call and keeps talking', async () => {
    const s = await setup();
    await inCall(s);
    s.mock.incoming(CAROL);
    await s.user.click(await screen.findByRole('button', { name: 'Decline' }));
    expect(s.lastSent('reject')).toEqual([2]);
    expect(stateOf(BOB)).toBe('Connected');
    expect(screen.getByRole('button', { name: 'Hang up' })).toBeInTheDocument();
  });

  it('switches to the held call, which holds the other', async () => {
    const s = await setup();
    await twoCalls(s);
    await s.user.click(screen.getByRole('button', { name: 'Switch to bob@example.com' }));
    expect(s.lastSent('focus_call')).toEqual([1]);
    expect(s.mock.engineState.focus).toBe(1);
    expect(screen.getAllByRole('region').map((r) => r.getAttribute('aria-label'))).toEqual([`Call with ${BOB}`, `Call with ${CAROL}`]);
    expect(stateOf(BOB)).toBe('Connected');
    expect(stateOf(CAROL)).toBe('On hold');
    expect(screen.getByRole('button', { name: 'Switch to Carol' })).toBeInTheDocument();
  });

  it('merges two calls into a conference, each leg with Split and its own Hang up', async () => {
    const s = await setup();
    await twoCalls(s);
    await s.user.click(within(screen.getByRole('group', { name: 'Both calls' })).getByRole('button', { name: 'Merge' }));
    expect(s.lastSent('merge_calls')).toEqual([2, 1]);
    expect(stateOf(CAROL)).toBe('In conference');
    expect(stateOf(BOB)).toBe('In conference');
    for (const name of ['Split Carol', 'Hang up Carol', 'Split bob@example.com', 'Hang up bob@example.com']) {
      expect(screen.getByRole('button', { name })).toBeInTheDocument();
    }
    expect(screen.queryByRole('button', { name: 'Merge' })).toBeNull();
    expect(screen.queryByRole('button', { name: /^Switch to/ })).toBeNull();
  });

  it('splits a leg out of the conference onto hold', async () => {
    const s = await setup();
    await twoCalls(s);
    await s.user.click(screen.getByRole('button', { name: 'Merge' }));
    await s.user.click(screen.getByRole('button', { name: 'Split Carol' }));
    expect(s.lastSent('split_call')).toEqual([2]);
    expect(stateOf(CAROL)).toBe('On hold');
    expect(stateOf(BOB)).toBe('Connected');
    expect(screen.getAllByRole('region')[0]).toHaveAccessibleName(`Call with ${BOB}`);
    expect(screen.getByRole('button', { name: 'Switch to Carol' })).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: /^Split/ })).toBeNull();
  });

  it('hangs up one leg of the conference and keeps the other', async () => {
    const s = await setup();
    await twoCalls(s);
    await s.user.click(screen.getByRole('button', { name: 'Merge' }));
    await s.user.click(screen.getByRole('button', { name: 'Hang up Carol' }));
    expect(s.lastSent('hangup')).toEqual([2]);
    expect(screen.queryByRole('region', { name: `Call with ${CAROL}` })).toBeNull();
    expect(stateOf(BOB)).toBe('Connected');
    expect(screen.queryByRole('list', { name: 'Other calls' })).toBeNull();
    // One call again: its buttons have their plain names.
    expect(screen.getByRole('button', { name: 'Hang up' })).toBeInTheDocument();
  });

  it('connects the two calls to each other (attended transfer) and ends both', async () => {
    const s = await setup();
    await twoCalls(s);
    await s.user.click(screen.getByRole('button', { name: 'Transfer to other call' }));
    expect(s.lastSent('transfer_attended')).toEqual([2, 1]);
    expect(s.mock.engineState.calls).toEqual([]);
    expect(screen.getByLabelText('Call state')).toHaveTextContent('Call transferred');
    expect(screen.getByLabelText('Number or SIP address')).toBeInTheDocument();
    const outcomes = s.mock.entries.slice(0, 2).map((e) => e.outcome);
    expect(outcomes).toEqual(['transferred', 'transferred']);
  });

  it('places a second call from "Add call" while the first waits on hold', async () => {
    const s = await setup();
    await inCall(s);
    expect(screen.queryByLabelText('Number or SIP address')).toBeNull();
    await s.user.click(screen.getByRole('button', { name: 'Add call' }));
    await s.user.type(screen.getByLabelText('Number or SIP address'), 'sip:carol@example.com{Enter}');
    expect(s.lastSent('call')).toEqual(['sip:carol@example.com', null]);
    expect(screen.queryByLabelText('Number or SIP address')).toBeNull();
    expect(stateOf('sip:carol@example.com')).toBe('Calling');
    expect(stateOf(BOB)).toBe('On hold');
    expect(screen.queryByRole('button', { name: 'Transfer to other call' })).toBeNull();
    s.mock.change(2, ACTIVE);
    expect(await screen.findByRole('button', { name: 'Transfer to other call' })).toBeInTheDocument();
  });
});

describe('keyboard', () => {
  it('types digits, * and # into the dialpad and Enter calls', async () => {
    const { user, lastSent } = await setup();
    await user.keyboard('*12#');
    expect(screen.getByLabelText('Number or SIP address')).toHaveValue('*12#');
    await user.keyboard('{Enter}');
    expect(lastSent('call')).toEqual(['*12#', null]);
  });

  it('Escape hangs up the current call', async () => {
    const s = await setup();
    await inCall(s);
    (document.activeElement as HTMLElement).blur();
    await s.user.keyboard('{Escape}');
    expect(s.lastSent('hangup')).toEqual([1]);
  });

  it('Escape declines a ringing call before it hangs up the current one', async () => {
    const s = await setup();
    await inCall(s);
    const ringing = s.mock.incoming('sip:carol@example.com');
    await screen.findByRole('button', { name: 'Answer' });
    (document.activeElement as HTMLElement).blur();
    await s.user.keyboard('{Escape}');
    expect(s.lastSent('reject')).toEqual([ringing]);
    expect(s.commands()).not.toContain('hangup');
  });
});

describe('history', () => {
  const entries: HistoryEntry[] = [
    { id: 4, direction: 'incoming', remote: 'Dan <sip:dan@example.com>', account: 'alice@example.com', started_at_ms: 4000, duration_s: 0, outcome: 'missed' },
    { id: 3, direction: 'outgoing', remote: 'sip:bob@example.com', account: 'alice@example.com', started_at_ms: 3000, duration_s: 12, outcome: 'answered' },
    { id: 2, direction: 'outgoing', remote: '+15550100', account: 'alice@example.com', started_at_ms: 2000, duration_s: 0, outcome: 'cancelled' },
    { id: 1, direction: 'outgoing', remote: 'sip:bob@example.com', account: 'alice@example.com', started_at_ms: 1000, duration_s: 5, outcome: 'answered' },
  ];

  it('offers the last distinct outgoing targets as recent numbers', async () => {
    await setup({ history: entries });
    const recent = screen.getByRole('list', { name: 'Recent numbers' });
    expect(within(recent).getAllByRole('button').map((b) => b.textContent)).toEqual(['sip:bob@example.com', '+15550100']);
  });

  it('shows past calls, calls one back and clears them', async () => {
    const { user, lastSent } = await setup({ history: entries });
    await user.click(screen.getByRole('button', { name: 'History' }));
    const list = screen.getByRole('list', { name: 'Past calls' });
    expect(within(list).getAllByRole('listitem')).toHaveLength(4);
    await user.click(within(list).getByRole('button', { name: /Missed Dan/ }));
    expect(lastSent('call')).toEqual(['sip:dan@example.com', null]);
    expect(screen.getByLabelText('Call state')).toHaveTextContent('Calling');
    await user.click(screen.getByRole('button', { name: 'Hang up' }));
    await user.click(screen.getByRole('button', { name: 'History' }));
    expect(await within(screen.getByRole('list', { name: 'Past calls' })).findAllByRole('listitem')).toHaveLength(5);
    await user.click(screen.getByRole('button', { name: 'Clear history' }));
    expect(await screen.findByText('No calls yet')).toBeInTheDocument();
  });
});

describe('history failures', () => {
  it('says the history could not be read, by code', async () => {
    const { mock } = await setup();
    mock.failNext('history', engineError('history.failed', 'database is locked'));
    await act(() => mock.clearHistory());
    expect(await screen.findByRole('alert')).toHaveTextContent('The call history could not be read or saved');
  });
});

describe('links and certificates', () => {
  it('calls a link at once when no confirmation is wanted', async () => {
    const { mock, lastSent } = await setup();
    await act(() => mock.dialRequest({ target: 'sip:bob@example.com', confirm: false }));
    expect(lastSent('call')).toEqual(['sip:bob@example.com', null]);
    expect(screen.getByLabelText('Call state')).toHaveTextContent('Calling');
  });

  it('asks before calling a link, and calls only on yes', async () => {
    const { mock, user, commands, lastSent } = await setup();
    await act(() => mock.dialRequest({ target: 'tel:+15550100', confirm: true }));
    let dialog = screen.getByRole('dialog', { name: 'Call tel:+15550100?' });
    await user.click(within(dialog).getByRole('button', { name: 'Cancel' }));
    expect(screen.queryByRole('dialog')).toBeNull();
    expect(commands()).not.toContain('call');
    await act(() => mock.dialRequest({ target: 'tel:+15550100', confirm: true }));
    dialog = screen.getByRole('dialog', { name: 'Call tel:+15550100?' });
    await user.click(within(dialog).getByRole('button', { name: 'Call' }));
    expect(lastSent('call')).toEqual(['tel:+15550100', null]);
  });

  it('Escape in the link dialog cancels it and leaves the call alone', async () => {
    const s = await setup();
    await inCall(s);
    await act(() => s.mock.dialRequest({ target: 'sip:carol@example.com', confirm: true }));
    await s.user.keyboard('{Escape}');
    expect(screen.queryByRole('dialog')).toBeNull();
    expect(s.commands()).not.toContain('hangup');
    expect(s.commands().filter((c) => c === 'call')).toHaveLength(1);
  });

  it('trusts the certificate it shows, then shows it as pinned', async () => {
    const { mock, user, lastSent } = await setup();
    const sha256 = '12:34:56:78:9A:BC:DE:F0';
    mock.emit({
      type: 'connection',
      account: 1,
      state: 'disconnected',
      error: engineError('tls.untrusted_certificate', 'UnknownIssuer'),
      retry_in_ms: null,
      certificate: { sha256 },
    });
    await user.click(await screen.findByRole('button', { name: 'Trust certificate' }));
    expect(lastSent('trust_certificate')).toEqual([1, sha256]);
    expect(screen.getAllByRole('status')[0]).toHaveTextContent('Registered');
    expect(screen.queryByRole('button', { name: 'Trust certificate' })).toBeNull();
    await user.click(screen.getByRole('button', { name: 'Settings' }));
    await user.click(screen.getByRole('button', { name: 'Edit alice@example.com' }));
    expect(screen.getByLabelText('Trusted certificate')).toHaveTextContent(sha256);
  });
});

describe('theme', () => {
  it('applies the saved theme to the document and follows a change', async () => {
    const preferences = structuredClone(DEFAULT_PREFERENCES);
    preferences.app.theme = 'dark';
    const { user } = await setup({ preferences });
    expect(document.documentElement.dataset.theme).toBe('dark');
    await user.click(screen.getByRole('button', { name: 'Settings' }));
    await user.selectOptions(screen.getByLabelText('Theme'), 'Light');
    await flush();
    expect(document.documentElement.dataset.theme).toBe('light');
    await user.selectOptions(screen.getByLabelText('Theme'), 'System');
    await flush();
    expect(document.documentElement.dataset.theme).toBe('system');
  });
});
