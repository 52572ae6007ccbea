import { render, screen } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import Dialpad from './Dialpad.svelte';

type Account = { account: number; name: string; default: boolean };

function setup(props: { recent?: string[]; accounts?: Account[] } = {}) {
  const oncall = vi.fn();
  const user = userEvent.setup();
  render(Dialpad, { oncall, ...props });
  const input = screen.getByLabelText('Number or SIP address') as HTMLInputElement;
  return { oncall, user, input };
}

describe('Dialpad', () => {
  it('builds a number from the digit buttons and calls it', async () => {
    const { oncall, user, input } = setup();
    expect(screen.getByRole('button', { name: 'Call' })).toBeDisabled();
    for (const k of ['1', '2', '*', '0', '#']) await user.click(screen.getByRole('button', { name: k }));
    expect(input.value).toBe('12*0#');
    await user.click(screen.getByRole('button', { name: 'Call' }));
    expect(oncall).toHaveBeenCalledWith('12*0#', null);
  });

  it('takes typed text and Enter', async () => {
    const { oncall, user, input } = setup();
    await user.type(input, 'sip:alice@example.com{Enter}');
    expect(oncall).toHaveBeenCalledWith('sip:alice@example.com', null);
  });

  it('takes digits, * and # typed outside the input, and Enter calls', async () => {
    const { oncall, user, input } = setup();
    await user.keyboard('555*#');
    expect(input.value).toBe('555*#');
    await user.keyboard('{Backspace}');
    expect(input.value).toBe('555*');
    await user.keyboard('{Enter}');
    expect(oncall).toHaveBeenCalledWith('555*', null);
  });

  it('leaves Enter on a focused button to that button', async () => {
    const { oncall, user, input } = setup();
    screen.getByRole('button', { name: '7' }).focus();
    await user.keyboard('{Enter}');
    expect(input.value).toBe('7');
    expect(oncall).not.toHaveBeenCalled();
  });

  it('removes the last character with Backspace', async () => {
    const { user, input } = setup();
    await user.type(input, '123');
    await user.click(screen.getByRole('button', { name: 'Backspace' }));
    expect(input.value).toBe('12');
  });

  it('strips spaces, dashes and brackets from a pasted number', async () => {
    const { user, input } = setup();
    await user.click(input);
    await user.paste(' +44 (20) 7946-0958 ');
    expect(input.value).toBe('+442079460958');
  });

  it('keeps a pasted SIP URI as it is', async () => {
    const { user, input } = setup();
    await user.click(input);
    await user.paste('  sip:+1-555-0100@pbx.example.com;user=phone ');
    expect(input.value).toBe('sip:+1-555-0100@pbx.example.com;user=phone');
  });

  it('fills the input from a recent number', async () => {
    const { oncall, user, input } = setup({ recent: ['+15550100', 'sip:bob@example.com'] });
    await user.click(screen.getByRole('button', { name: 'sip:bob@example.com' }));
    expect(input.value).toBe('sip:bob@example.com');
    await user.click(screen.getByRole('button', { name: 'Call' }));
    expect(oncall).toHaveBeenCalledWith('sip:bob@example.com', null);
  });

  it('asks nothing about accounts when there is one', () => {
    setup({ accounts: [{ account: 1, name: 'alice@example.com', default: true }] });
    expect(screen.queryByLabelText('Call from')).toBeNull();
  });

  it('calls from the default account unless another is picked', async () => {
    const accounts = [
      { account: 1, name: 'alice@example.com', default: false },
      { account: 2, name: 'work@example.org', default: true },
    ];
    const { oncall, user, input } = setup({ accounts });
    const from = screen.getByLabelText('Call from') as HTMLSelectElement;
    expect(from.selectedOptions[0].textContent).toBe('work@example.org');
    await user.type(input, '100{Enter}');
    expect(oncall).toHaveBeenLastCalledWith('100', 2);
    await user.selectOptions(from, 'alice@example.com');
    await user.click(screen.getByRole('button', { name: 'Call' }));
    expect(oncall).toHaveBeenLastCalledWith('100', 1);
  });
});
