import { render, screen, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import App from './App.svelte';
import { MockBackend } from './lib/backend/mock';
import type { AccountSettings } from './lib/backend/types';
import { EngineStore } from './lib/state/engine.svelte';

const saved: AccountSettings = {
  display_name: 'Alice',
  sip_address: 'alice@example.com',
  auth_user: '',
  password: 'secret',
  server: 'wss://sip.example.com',
  register_expires: 600,
};

async function setup(settings: AccountSettings | null = saved) {
  const mock = new MockBackend({ settings });
  const store = new EngineStore(mock);
  await store.start();
  const user = userEvent.setup();
  render(App, { backend: mock, store, saved: settings });
  return { mock, user };
}

describe('App over the mock backend', () => {
  it('registers after the first save', async () => {
    const { mock, user } = await setup(null);
    expect(screen.getByRole('status')).toHaveTextContent('Connecting');
    await user.type(screen.getByLabelText('SIP address'), 'alice@example.com');
    await user.type(screen.getByLabelText('Password'), 'secret');
    await user.type(screen.getByLabelText('WebSocket server'), 'wss://sip.example.com');
    await user.click(screen.getByRole('button', { name: 'Save' }));
    expect(mock.stored?.sip_address).toBe('alice@example.com');
    expect(mock.sent.map((s) => s.command)).toContain('register');
    expect(screen.getAllByRole('status')[0]).toHaveTextContent('Registered');
  });

  it('places a call, shows its controls and hangs up', async () => {
    const { mock, user } = await setup();
    await user.type(screen.getByLabelText('Number or SIP address'), '+15550100{Enter}');
    expect(screen.getByLabelText('Call state')).toHaveTextContent('Calling');
    mock.change(1, { state: 'active', codec: 'opus' });
    await screen.findByRole('button', { name: 'Mute' });
    await user.click(screen.getByRole('button', { name: 'Hang up' }));
    expect(screen.queryByLabelText('Call state')).toBeNull();
    expect(screen.getByRole('button', { name: '+15550100' })).toBeInTheDocument();
  });

  it('answers an incoming call', async () => {
    const { mock, user } = await setup();
    mock.incoming('sip:bob@example.com');
    const incoming = await screen.findByRole('region', { name: 'Incoming call from sip:bob@example.com' });
    await user.click(within(incoming).getByRole('button', { name: 'Answer' }));
    expect(screen.getByLabelText('Call state')).toHaveTextContent('Connected');
    expect(screen.queryByRole('button', { name: 'Answer' })).toBeNull();
  });

  it('reports a refused command by its code', async () => {
    const { mock, user } = await setup();
    mock.failNext('call', { code: 'net.not_connected', message: 'flow down' });
    await user.type(screen.getByLabelText('Number or SIP address'), '100{Enter}');
    expect(await screen.findByRole('alert')).toHaveTextContent('Not connected');
  });
});
