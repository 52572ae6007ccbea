import { render, screen } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import Dialpad from './Dialpad.svelte';

function setup(props: { recent?: string[] } = {}) {
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
    expect(oncall).toHaveBeenCalledWith('12*0#');
  });

  it('takes typed text and Enter', async () => {
    const { oncall, user, input } = setup();
    await user.type(input, 'sip:alice@example.com{Enter}');
    expect(oncall).toHaveBeenCalledWith('sip:alice@example.com');
  });

  it('takes digits, * and # typed outside the input, and Enter calls', async () => {
    const { oncall, user, input } = setup();
    await user.keyboard('555*#');
    expect(input.value).toBe('555*#');
    await user.keyboard('{Backspace}');
    expect(input.value).toBe('555*');
    await user.keyboard('{Enter}');
    expect(oncall).toHaveBeenCalledWith('555*');
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
    expect(oncall).toHaveBeenCalledWith('sip:bob@example.com');
  });
});
