import { fireEvent, render, screen, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { engineError } from '../backend/mock';
import type { Levels } from '../backend/types';
import type { CallState } from '../bindings/CallState';
import CallControls from './CallControls.svelte';

const QUIET: Levels = { input_dbfs: -100, output_dbfs: -100 };
const active = (o: Partial<{ muted: boolean; held: boolean; remote_held: boolean; conference: boolean }> = {}): CallState => ({
  state: 'active', codec: 'opus', muted: false, held: false, remote_held: false, conference: false, ...o,
});
const call = (state: CallState, remote = 'sip:bob@example.com') => ({ call: 3, account: 1, direction: 'outgoing' as const, remote, state });

function setup(
  state: CallState,
  extra: { activeSince?: number; now?: () => number; levels?: Levels; remote?: string; qualify?: boolean; account?: string } = {},
) {
  const handlers = {
    onhangup: vi.fn(),
    onsplit: vi.fn(),
    onmute: vi.fn(),
    onhold: vi.fn(),
    ondtmf: vi.fn(),
    ontransfer: vi.fn(),
    onvolume: vi.fn(),
    onerror: vi.fn(),
  };
  const user = userEvent.setup();
  const { remote, ...rest } = extra;
  const r = render(CallControls, { call: call(state, remote), levels: QUIET, volume: 0.8, ...handlers, ...rest });
  return { ...handlers, user, ...r };
}

/** Every button by name, with whether it is enabled. */
const buttons = () =>
  Object.fromEntries(screen.queryAllByRole('button').map((b) => [b.textContent!.trim(), !(b as HTMLButtonElement).disabled]));
const stateText = () => screen.getByLabelText('Call state').textContent;

describe('CallControls', () => {
  it('offers only Hang up while calling and ringing', () => {
    const { rerender } = setup({ state: 'calling' });
    expect(stateText()).toBe('Calling');
    expect(buttons()).toEqual({ 'Hang up': true });
    rerender({ call: call({ state: 'ringing', status: 180 }) });
    expect(stateText()).toBe('Ringing');
    expect(buttons()).toEqual({ 'Hang up': true });
    expect(screen.queryByRole('meter')).toBeNull();
    expect(screen.queryByRole('slider')).toBeNull();
  });

  it('offers every control once answered, with a running timer', async () => {
    vi.useFakeTimers();
    try {
      let t = 10_000;
      setup(active(), { activeSince: 10_000, now: () => t });
      expect(stateText()).toBe('Connected');
      expect(buttons()).toEqual({ Mute: true, Hold: true, Keypad: true, Transfer: true, 'Hang up': true });
      expect(screen.getByLabelText('Call duration')).toHaveTextContent('00:00');
      t = 10_000 + 65_000;
      await vi.advanceTimersByTimeAsync(1000);
      expect(screen.getByLabelText('Call duration')).toHaveTextContent('01:05');
    } finally {
      vi.useRealTimers();
    }
  });

  it('on hold offers Resume and no keypad', () => {
    setup(active({ held: true }), { activeSince: 0 });
    expect(stateText()).toBe('On hold');
    expect(buttons()).toEqual({ Mute: true, Resume: true, Keypad: false, Transfer: true, 'Hang up': true });
  });

  it('held by the other side still offers Hold but no keypad', () => {
    setup(active({ remote_held: true }), { activeSince: 0 });
    expect(stateText()).toBe('Held by the other side');
    expect(buttons()).toEqual({ Mute: true, Hold: true, Keypad: false, Transfer: true, 'Hang up': true });
  });

  it('labels Mute and Hold by the engine state and asks for the opposite', async () => {
    const { user, onmute, onhold, rerender } = setup(active(), { activeSince: 0 });
    await user.click(screen.getByRole('button', { name: 'Mute' }));
    expect(onmute).toHaveBeenLastCalledWith(true);
    await rerender({ call: call(active({ muted: true })) });
    await user.click(screen.getByRole('button', { name: 'Unmute' }));
    expect(onmute).toHaveBeenLastCalledWith(false);
    await user.click(screen.getByRole('button', { name: 'Hold' }));
    expect(onhold).toHaveBeenLastCalledWith(true);
    await rerender({ call: call(active({ muted: true, held: true })) });
    await user.click(screen.getByRole('button', { name: 'Resume' }));
    expect(onhold).toHaveBeenLastCalledWith(false);
  });

  it('keeps the button as it was when the engine refuses', async () => {
    const { user, onmute, onerror } = setup(active(), { activeSince: 0 });
    const refusal = new Error('refused');
    onmute.mockRejectedValueOnce(refusal);
    await user.click(screen.getByRole('button', { name: 'Mute' }));
    expect(screen.getByRole('button', { name: 'Mute' })).toBeEnabled();
    expect(onerror).toHaveBeenCalledWith(refusal);
  });

  it('sends each keypad key as a tone, clicked or typed', async () => {
    const { user, ondtmf } = setup(active(), { activeSince: 0 });
    expect(screen.queryByRole('group', { name: 'Keypad tones' })).toBeNull();
    await user.click(screen.getByRole('button', { name: 'Keypad' }));
    const keys = screen.getByRole('group', { name: 'Keypad tones' });
    await user.click(within(keys).getByRole('button', { name: '5' }));
    await user.click(within(keys).getByRole('button', { name: '#' }));
    (document.activeElement as HTMLElement).blur();
    await user.keyboard('*');
    expect(ondtmf.mock.calls).toEqual([['5'], ['#'], ['*']]);
  });

  it('asks for a transfer target, then transfers', async () => {
    const { user, ontransfer } = setup(active(), { activeSince: 0 });
    await user.click(screen.getByRole('button', { name: 'Transfer' }));
    expect(screen.getByRole('button', { name: 'Transfer now' })).toBeDisabled();
    await user.type(screen.getByLabelText('Transfer to'), 'sip:carol@example.com');
    await user.click(screen.getByRole('button', { name: 'Transfer now' }));
    expect(ontransfer).toHaveBeenCalledWith('sip:carol@example.com');
    expect(screen.queryByLabelText('Transfer to')).toBeNull();
  });

  it('closes the transfer form with Escape without sending', async () => {
    const { user, ontransfer } = setup(active(), { activeSince: 0 });
    await user.click(screen.getByRole('button', { name: 'Transfer' }));
    await user.type(screen.getByLabelText('Transfer to'), 'sip:carol@example.com{Escape}');
    expect(screen.queryByLabelText('Transfer to')).toBeNull();
    expect(ontransfer).not.toHaveBeenCalled();
  });

  it('hangs up', async () => {
    const { user, onhangup } = setup(active(), { activeSince: 0 });
    await user.click(screen.getByRole('button', { name: 'Hang up' }));
    expect(onhangup).toHaveBeenCalledOnce();
  });

  it('shows the levels it is given and sets the speaker volume', async () => {
    const { rerender, onvolume } = setup(active(), { activeSince: 0, levels: { input_dbfs: -20.4, output_dbfs: -100 } });
    expect(screen.getByRole('meter', { name: 'Microphone level' })).toHaveAttribute('aria-valuenow', '-20');
    expect(screen.getByRole('meter', { name: 'Speaker level' })).toHaveAttribute('aria-valuetext', 'silence');
    await rerender({ levels: { input_dbfs: -3, output_dbfs: -12 } });
    expect(screen.getByRole('meter', { name: 'Speaker level' })).toHaveAttribute('aria-valuenow', '-12');
    const slider = screen.getByRole('slider', { name: 'Speaker volume' }) as HTMLInputElement;
    expect(slider.valueAsNumber).toBe(0.8);
    await fireEvent.input(slider, { target: { value: '0.25' } });
    expect(onvolume).toHaveBeenCalledWith(0.25);
  });

  it('shows the display name and the number', () => {
    setup({ state: 'calling' }, { remote: '"Bob Smith" <sip:+15550100@pbx.example.com;user=phone>' });
    expect(screen.getByText('Bob Smith')).toBeInTheDocument();
    expect(screen.getByText('+15550100')).toBeInTheDocument();
  });

  it('shows how a call ended, by error code, without controls', () => {
    const { rerender } = setup({ state: 'ended', outcome: 'completed', status: null, error: null });
    expect(stateText()).toBe('Call ended');
    expect(buttons()).toEqual({});
    rerender({ call: call({ state: 'ended', outcome: 'failed', status: 408, error: engineError('sip.timeout', 'Timer B') }) });
    expect(stateText()).toBe('Call failed: The server did not answer');
    rerender({ call: call({ state: 'ended', outcome: 'rejected', status: 486, error: null }) });
    expect(stateText()).toBe('Call declined');
    rerender({ call: call({ state: 'ended', outcome: 'transferred', status: null, error: null }) });
    expect(stateText()).toBe('Call transferred');
  });

  it('names Hang up after the other party when other calls are shown too', async () => {
    const { user, onhangup } = setup(active(), { activeSince: 0, qualify: true, remote: '"Bob" <sip:bob@example.com>' });
    await user.click(screen.getByRole('button', { name: 'Hang up Bob' }));
    expect(onhangup).toHaveBeenCalledOnce();
    expect(screen.getByRole('button', { name: 'Mute' })).toBeInTheDocument();
  });

  it('offers Split in a conference', async () => {
    const { user, onsplit } = setup(active({ conference: true }), { activeSince: 0, qualify: true, remote: '"Bob" <sip:bob@example.com>' });
    expect(stateText()).toBe('In conference');
    expect(buttons()).toEqual({ Mute: true, Hold: true, Keypad: true, Transfer: true, Split: true, 'Hang up': true });
    await user.click(screen.getByRole('button', { name: 'Split Bob' }));
    expect(onsplit).toHaveBeenCalledOnce();
  });

  it('says which account the call is on when given one', () => {
    setup(active(), { activeSince: 0, account: 'work@example.org' });
    expect(screen.getByText('via work@example.org')).toBeInTheDocument();
  });
});
