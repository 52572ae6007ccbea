import { render, screen } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import IncomingCall from './IncomingCall.svelte';

describe('IncomingCall', () => {
  it('answers and declines', async () => {
    const onanswer = vi.fn();
    const ondecline = vi.fn();
    const user = userEvent.setup();
    render(IncomingCall, {
      call: { call: 9, direction: 'incoming', remote: 'sip:alice@example.com', state: { state: 'incoming' } },
      onanswer,
      ondecline,
    });
    expect(screen.getByRole('region', { name: 'Incoming call from sip:alice@example.com' })).toBeInTheDocument();
    await user.click(screen.getByRole('button', { name: 'Answer' }));
    expect(onanswer).toHaveBeenCalledOnce();
    await user.click(screen.getByRole('button', { name: 'Decline' }));
    expect(ondecline).toHaveBeenCalledOnce();
  });
});
