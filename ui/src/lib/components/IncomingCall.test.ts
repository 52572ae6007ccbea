import { render, screen } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import type { CallSnapshot } from '../bindings/CallSnapshot';
import IncomingCall from './IncomingCall.svelte';

const ringing = (waiting: boolean, remote = 'sip:alice@example.com'): CallSnapshot => ({
  call: 9,
  account: 1,
  direction: 'incoming',
  remote,
  state: { state: 'incoming', waiting },
});

describe('IncomingCall', () => {
  it('answers and declines', async () => {
    const onanswer = vi.fn();
    const ondecline = vi.fn();
    const user = userEvent.setup();
    render(IncomingCall, { call: ringing(false), onanswer, ondecline });
    const region = screen.getByRole('region', { name: 'Incoming call from sip:alice@example.com' });
    expect(region).toHaveTextContent('Incoming call from alice@example.com');
    await user.click(screen.getByRole('button', { name: 'Answer' }));
    expect(onanswer).toHaveBeenCalledOnce();
    await user.click(screen.getByRole('button', { name: 'Decline' }));
    expect(ondecline).toHaveBeenCalledOnce();
  });

  it('says a waiting call is one, and that answering holds the current call', () => {
    render(IncomingCall, { call: ringing(true, '"Carol" <sip:carol@example.com>'), onanswer: vi.fn(), ondecline: vi.fn() });
    const region = screen.getByRole('region', { name: 'Incoming call from "Carol" <sip:carol@example.com>' });
    expect(region).toHaveTextContent('Call waiting from Carol');
    expect(region).toHaveTextContent('Answering puts the current call on hold.');
  });

  it('names the account it came to, and the caller on its buttons when asked', () => {
    render(IncomingCall, {
      call: ringing(false, '"Carol" <sip:carol@example.com>'),
      account: 'work@example.org',
      qualify: true,
      onanswer: vi.fn(),
      ondecline: vi.fn(),
    });
    expect(screen.getByText('to work@example.org')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Answer Carol' })).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Decline Carol' })).toBeInTheDocument();
  });
});
