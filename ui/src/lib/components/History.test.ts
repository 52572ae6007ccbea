import { render, screen, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import type { HistoryEntry } from '../backend/types';
import History from './History.svelte';

const at = Date.UTC(2025, 4, 6, 14, 30);
const entries: HistoryEntry[] = [
  { id: 3, direction: 'incoming', remote: '"Carol" <sip:carol@example.com>', account: 'alice@example.com', started_at_ms: at, duration_s: 0, outcome: 'missed' },
  { id: 2, direction: 'outgoing', remote: 'sip:+15550100@pbx.example.com', account: 'alice@example.com', started_at_ms: at - 60_000, duration_s: 65, outcome: 'answered' },
  { id: 1, direction: 'incoming', remote: 'Bob <sip:bob@example.com>', account: 'alice@example.com', started_at_ms: at - 120_000, duration_s: 3725, outcome: 'answered' },
];

function setup(list = entries) {
  const oncall = vi.fn();
  const onclear = vi.fn();
  render(History, { entries: list, oncall, onclear });
  return { oncall, onclear, user: userEvent.setup() };
}

describe('History', () => {
  it('lists calls newest first with kind, time and duration', () => {
    setup();
    const items = within(screen.getByRole('list', { name: 'Past calls' })).getAllByRole('listitem');
    const read = (li: HTMLElement) => [...li.querySelectorAll('span')].map((s) => s.textContent);
    expect(items.map(read)).toEqual([
      ['Missed', 'Carol', 'Not answered'],
      ['Outgoing', '+15550100', '01:05'],
      ['Incoming', 'Bob', '1:02:05'],
    ]);
    expect(items[0].querySelector('time')).toHaveAttribute('datetime', new Date(at).toISOString());
  });

  it('calls an entry back by its address', async () => {
    const { oncall, user } = setup();
    await user.click(screen.getByRole('button', { name: /Carol/ }));
    expect(oncall).toHaveBeenCalledWith('sip:carol@example.com');
    await user.click(screen.getByRole('button', { name: /\+15550100/ }));
    expect(oncall).toHaveBeenLastCalledWith('sip:+15550100@pbx.example.com');
  });

  it('clears', async () => {
    const { onclear, user } = setup();
    await user.click(screen.getByRole('button', { name: 'Clear history' }));
    expect(onclear).toHaveBeenCalledOnce();
  });

  it('says when there is nothing yet', () => {
    setup([]);
    expect(screen.getByText('No calls yet')).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Clear history' })).toBeNull();
  });
});
