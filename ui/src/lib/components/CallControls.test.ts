import { render, screen, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import type { CallState } from '../bindings/CallState';
import CallControls from './CallControls.svelte';

function setup(state: CallState, extra: { activeSince?: number; now?: () => number; onerror?: (e: unknown) => void } = {}) {
  const handlers = {
    onhangup: vi.fn(),
    onmute: vi.fn(),
    onhold: vi.fn(),
    ondtmf: vi.fn(),
    ontransfer: vi.fn(),
  };
  const user = userEvent.setup();
  const r = render(CallControls, {
    call: { call: 3, direction: 'outgoing', remote: 'sip:bob@example.com', state },
    ...handlers,
    ...extra,
  });
  return { ...handlers, user, ...r };
}

const names = () => screen.queryAllByRole('button').map((b) => b.textContent!.trim());

describe('CallControls', () => {
  it('offers only Hang up while calling and ringing', () => {
    const { rerender } = setup({ state: 'calling' });
    expect(screen.getByLabelText('Call state')).toHaveTextContent('Calling');
    expect(names()).toEqual(['Hang up']);
    rerender({ call: { call: 3, direction: 'outgoing', remote: 'sip:bob@example.com', state: { state: 'ringing', status: 180 } } });
    expect(screen.getByLabelText('Call state')).toHaveTextContent('Ringing');
    expect(names()).toEqual(['Hang up']);
  });

  it('offers every control once answered, with a running timer', async () => {
    vi.useFakeTimers();
    try {
      let t = 10_000;
      setup({ state: 'active', codec: 'opus' }, { activeSince: 10_000, now: () => t });
      expect(screen.getByLabelText('Call state')).toHaveTextContent('Connected');
      for (const name of ['Hang up', 'Mute', 'Hold', 'Keypad', 'Transfer']) {
        expect(screen.getByRole('button', { name })).toBeInTheDocument();
      }
      expect(screen.getByLabelText('Call duration')).toHaveTextContent('00:00');
      t = 10_000 + 65_000;
      await vi.advanceTimersByTimeAsync(1000);
      expect(screen.getByLabelText('Call duration')).toHaveTextContent('01:05');
    } finally {
      vi.useRealTimers();
    }
  });

  it('toggles Mute/Unmute and Hold/Resume', async () => {
    const { user, onmute, onhold } = setup({ state: 'active', codec: 'opus' }, { activeSince: 0 });
    await user.click(screen.getByRole('button', { name: 'Mute' }));
    expect(onmute).toHaveBeenLastCalledWith(true);
    await user.click(screen.getByRole('button', { name: 'Unmute' }));
    expect(onmute).toHaveBeenLastCalledWith(false);
    expect(screen.getByRole('button', { name: 'Mute' })).toBeInTheDocument();
    await user.click(screen.getByRole('button', { name: 'Hold' }));
    expect(onhold).toHaveBeenLastCalledWith(true);
    expect(screen.getByLabelText('Call state')).toHaveTextContent('On hold');
    await user.click(screen.getByRole('button', { name: 'Resume' }));
    expect(onhold).toHaveBeenLastCalledWith(false);
  });

  it('keeps the button as it was when the engine refuses', async () => {
    const onerror = vi.fn();
    const { user, onmute } = setup({ state: 'active', codec: 'opus' }, { activeSince: 0, onerror });
    const refusal = new Error('refused');
    onmute.mockRejectedValueOnce(refusal);
    await user.click(screen.getByRole('button', { name: 'Mute' }));
    expect(screen.getByRole('button', { name: 'Mute' })).toBeInTheDocument();
    expect(onerror).toHaveBeenCalledWith(refusal);
  });

  it('sends keypad tones and transfers', async () => {
    const { user, ondtmf, ontransfer } = setup({ state: 'active', codec: 'opus' }, { activeSince: 0 });
    await user.click(screen.getByRole('button', { name: 'Keypad' }));
    await user.click(within(screen.getByRole('group', { name: 'Keypad tones' })).getByRole('button', { name: '5' }));
    expect(ondtmf).toHaveBeenCalledWith('5');
    await user.click(screen.getByRole('button', { name: 'Transfer' }));
    await user.type(screen.getByLabelText('Transfer to'), 'sip:carol@example.com');
    await user.click(screen.getByRole('button', { name: 'Transfer now' }));
    expect(ontransfer).toHaveBeenCalledWith('sip:carol@example.com');
  });

  it('hangs up', async () => {
    const { user, onhangup } = setup({ state: 'active', codec: 'opus' }, { activeSince: 0 });
    await user.click(screen.getByRole('button', { name: 'Hang up' }));
    expect(onhangup).toHaveBeenCalledOnce();
  });

  it('shows how a call ended, by error code, without controls', () => {
    const { rerender } = setup({ state: 'ended', outcome: 'completed', status: null, error: null });
    expect(screen.getByLabelText('Call state')).toHaveTextContent('Call ended');
    expect(names()).toEqual([]);
    rerender({
      call: {
        call: 3, direction: 'outgoing', remote: 'sip:bob@example.com',
        state: { state: 'ended', outcome: 'failed', status: 408, error: { code: 'sip.timeout', message: 'Timer B' } },
      },
    });
    expect(screen.getByLabelText('Call state')).toHaveTextContent('Call failed: The server did not answer');
    rerender({
      call: { call: 3, direction: 'outgoing', remote: 'sip:bob@example.com', state: { state: 'ended', outcome: 'rejected', status: 486, error: null } },
    });
    expect(screen.getByLabelText('Call state')).toHaveTextContent('Call declined');
  });
});
