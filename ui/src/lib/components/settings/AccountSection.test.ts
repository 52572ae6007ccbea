import { render, screen } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { engineError, MockBackend } from '../../backend/mock';
import type { AccountSettings } from '../../backend/types';
import AccountSection from './AccountSection.svelte';

const good: AccountSettings = {
  display_name: 'Alice',
  sip_address: 'alice@example.com',
  auth_user: '',
  password: 'secret',
  server: 'wss://sip.example.com:8443/ws',
  register_expires: 600,
  password_storage: 'keyring',
  trusted_certificate: null,
};

function setup(saved: AccountSettings | null) {
  const mock = new MockBackend({ settings: saved });
  const user = userEvent.setup();
  render(AccountSection, { saved, onsave: (s: AccountSettings) => mock.saveSettings(s) });
  const field = (label: string) => screen.getByLabelText(label) as HTMLInputElement;
  const save = () => screen.getByRole('button', { name: 'Save' });
  return { mock, user, field, save };
}

describe('AccountSection', () => {
  it('has every field, filled from the saved settings', () => {
    const { field, save } = setup(good);
    expect(field('Display name').value).toBe('Alice');
    expect(field('SIP address').value).toBe('alice@example.com');
    expect(field('Authentication username').value).toBe('');
    expect(field('Password').value).toBe('secret');
    expect(field('Password').type).toBe('password');
    expect(field('WebSocket server').value).toBe('wss://sip.example.com:8443/ws');
    expect(field('Registration expiry (seconds)').valueAsNumber).toBe(600);
    expect(screen.getByLabelText('Password storage')).toHaveDisplayValue('System keyring');
    expect(save()).toBeEnabled();
  });

  it('shows problems inline only once a field is edited, and disables Save', async () => {
    const { user, field, save } = setup(null);
    expect(save()).toBeDisabled();
    expect(screen.queryByText(/SIP address needs/)).toBeNull();
    await user.type(field('SIP address'), 'alice');
    expect(field('SIP address')).toHaveAttribute('aria-invalid', 'true');
    expect(field('SIP address')).toHaveAccessibleDescription('A SIP address needs user@domain');
    await user.type(field('SIP address'), '@example.com');
    expect(field('SIP address')).toHaveAttribute('aria-invalid', 'false');
    await user.type(field('WebSocket server'), 'https://sip.example.com');
    expect(field('WebSocket server')).toHaveAccessibleDescription('The server must start with wss:// (or ws://)');
    await user.clear(field('WebSocket server'));
    await user.type(field('WebSocket server'), 'wss://sip.example.com:99999');
    expect(field('WebSocket server')).toHaveAccessibleDescription('The port must be a number up to 65535');
    expect(save()).toBeDisabled();
  });

  it('rejects an expiry outside 60 to 86400 seconds', async () => {
    const { user, field, save } = setup(good);
    await user.clear(field('Registration expiry (seconds)'));
    await user.type(field('Registration expiry (seconds)'), '30');
    expect(field('Registration expiry (seconds)')).toHaveAccessibleDescription('Between 60 and 86400 seconds');
    expect(save()).toBeDisabled();
    await user.clear(field('Registration expiry (seconds)'));
    await user.type(field('Registration expiry (seconds)'), '3600');
    expect(save()).toBeEnabled();
  });

  it('saves valid settings', async () => {
    const { mock, user, field, save } = setup(good);
    await user.clear(field('Display name'));
    await user.type(field('Display name'), 'Alice Liddell');
    await user.type(field('Authentication username'), 'alice-auth');
    await user.click(save());
    expect(mock.stored).toEqual({ ...good, display_name: 'Alice Liddell', auth_user: 'alice-auth' });
    expect(screen.getByRole('status')).toHaveTextContent('Saved');
  });

  it('refuses to save while invalid and keeps the saved settings', async () => {
    const { mock, user, field, save } = setup(good);
    await user.clear(field('Password'));
    expect(field('Password')).toHaveAccessibleDescription('Enter the password');
    expect(save()).toBeDisabled();
    // Enter in a field submits the form: still refused.
    await user.type(field('Display name'), '{Enter}');
    expect(mock.sent.filter((s) => s.command === 'save_settings')).toEqual([]);
    expect(mock.stored).toEqual(good);
  });

  it('shows the engine refusal by code on its field and keeps the saved settings', async () => {
    const { mock, user, field, save } = setup(good);
    mock.failNext('save_settings', engineError('config.invalid_server', 'missing or invalid host: "wss://x y"'));
    await user.clear(field('WebSocket server'));
    await user.type(field('WebSocket server'), 'wss://other.example.com');
    await user.click(save());
    expect(field('WebSocket server')).toHaveAccessibleDescription('Invalid WebSocket server');
    expect(mock.stored).toEqual(good);
    expect(field('WebSocket server').value).toBe('wss://other.example.com');
  });

  it('shows a refusal that is about no field as an alert', async () => {
    const { mock, user, save } = setup(good);
    mock.failNext('save_settings', engineError('config.ca_not_found', 'CA file /x does not exist'));
    await user.click(save());
    expect(screen.getByRole('alert')).toHaveTextContent('Not saved: CA certificate file not found');
    expect(mock.stored).toEqual(good);
  });

  it('without a keyring, asks where to keep the password and saves again with that choice', async () => {
    const { mock, user, field, save } = setup(null);
    await user.type(field('SIP address'), 'alice@example.com');
    await user.type(field('Password'), 'secret');
    await user.type(field('WebSocket server'), 'wss://sip.example.com');
    mock.failNext('save_settings', engineError('secrets.unavailable', 'no Secret Service'));
    await user.click(save());
    expect(mock.stored).toBeNull();
    const ask = screen.getByRole('alert');
    expect(ask).toHaveTextContent('no secure password store');
    expect(screen.getByRole('button', { name: 'Store in a file only I can read' })).toHaveAccessibleDescription(
      /not encrypted/,
    );
    expect(field('Password').value).toBe('secret');
    await user.click(screen.getByRole('button', { name: 'Keep for this session only' }));
    const saves = mock.sent.filter((s) => s.command === 'save_settings').map((s) => s.args[0] as AccountSettings);
    expect(saves.map((s) => s.password_storage)).toEqual(['keyring', 'session']);
    expect(mock.stored).toMatchObject({ sip_address: 'alice@example.com', password: 'secret', password_storage: 'session' });
    expect(screen.queryByRole('alert')).toBeNull();
    expect(screen.getByLabelText('Password storage')).toHaveDisplayValue('This session only');
    expect(screen.getByRole('status')).toHaveTextContent('Saved');
  });

  it('can store the password in a file, with the warning shown', async () => {
    const { mock, user, save } = setup(good);
    mock.failNext('save_settings', engineError('secrets.unavailable', 'no Secret Service'));
    await user.click(save());
    await user.click(screen.getByRole('button', { name: 'Store in a file only I can read' }));
    expect(mock.stored?.password_storage).toBe('file');
    expect(screen.getByLabelText('Password storage')).toHaveAccessibleDescription(/not encrypted/);
  });

  it('does not fall back on its own when the chosen storage fails too', async () => {
    const { mock, user, save } = setup(good);
    mock.failNext('save_settings', engineError('secrets.unavailable', 'no Secret Service'));
    await user.click(save());
    mock.failNext('save_settings', engineError('secrets.failed', 'disk full'));
    await user.click(screen.getByRole('button', { name: 'Store in a file only I can read' }));
    expect(screen.getByRole('alert')).toHaveTextContent('Not saved: The password could not be stored or read');
    expect(mock.stored).toEqual(good);
    expect(mock.sent.filter((s) => s.command === 'save_settings')).toHaveLength(2);
  });
});
