import { render, screen, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { engineError, MockBackend } from '../backend/mock';
import type { AccountSettings, Levels, Preferences } from '../backend/types';
import { DEFAULT_PREFERENCES } from '../preferences';
import Settings from './Settings.svelte';

const account: AccountSettings = {
  display_name: 'Alice',
  sip_address: 'alice@example.com',
  auth_user: '',
  password: 'secret',
  server: 'wss://sip.example.com',
  register_expires: 600,
  password_storage: 'keyring',
  trusted_certificate: null,
};
const devices = { inputs: ['USB Headset Mic', 'Built-in Microphone'], outputs: ['USB Headset', 'Built-in Speakers'] };
const flush = () => new Promise((r) => setTimeout(r, 0));

async function setup(opts: { saved?: AccountSettings; preferences?: Preferences; levels?: Levels } = {}) {
  const saved = opts.saved ?? account;
  const preferences = structuredClone(opts.preferences ?? DEFAULT_PREFERENCES);
  const mock = new MockBackend({ settings: saved, preferences, devices });
  const onsaved = vi.fn();
  const onpreferences = vi.fn();
  const user = userEvent.setup();
  const r = render(Settings, {
    backend: mock,
    saved,
    preferences,
    levels: opts.levels ?? { input_dbfs: -100, output_dbfs: -100 },
    onsaved,
    onpreferences,
  });
  await flush();
  const section = (name: string) => screen.getByRole('region', { name });
  const saves = () => mock.sent.filter((s) => s.command === 'save_preferences');
  return { mock, user, onsaved, onpreferences, section, saves, ...r };
}

describe('Settings: Audio', () => {
  it('lists the devices after System default and saves a choice', async () => {
    const { mock, user, onpreferences } = await setup();
    const mic = screen.getByLabelText('Microphone') as HTMLSelectElement;
    expect([...mic.options].map((o) => o.text)).toEqual(['System default', 'USB Headset Mic', 'Built-in Microphone']);
    expect(mic).toHaveDisplayValue('System default');
    const ringer = screen.getByLabelText('Ringer') as HTMLSelectElement;
    expect([...ringer.options].map((o) => o.text)).toEqual(['System default', 'USB Headset', 'Built-in Speakers']);
    await user.selectOptions(screen.getByLabelText('Speaker'), 'USB Headset');
    await user.selectOptions(screen.getByLabelText('Ringtone'), 'Soft');
    await flush();
    expect(mock.preferences.audio).toEqual({ microphone: null, speaker: 'USB Headset', ringer: null, ringtone: 'soft' });
    expect(onpreferences).toHaveBeenLastCalledWith(mock.preferences);
  });

  it('follows hot-plugging and the refresh button', async () => {
    const { mock, user } = await setup();
    mock.devicesChanged({ inputs: ['Webcam Mic'], outputs: [] });
    await flush();
    expect(screen.getByRole('option', { name: 'Webcam Mic' })).toBeInTheDocument();
    mock.devices = { inputs: ['Webcam Mic', 'Dock Mic'], outputs: [] };
    await user.click(screen.getByRole('button', { name: 'Refresh devices' }));
    expect(screen.getByRole('option', { name: 'Dock Mic' })).toBeInTheDocument();
    expect(mock.sent.filter((s) => s.command === 'list_devices')).toHaveLength(3);
  });

  it('keeps a chosen device that is unplugged and says it is not connected', async () => {
    const preferences = structuredClone(DEFAULT_PREFERENCES);
    preferences.audio.microphone = 'Bluetooth Headset';
    await setup({ preferences });
    const mic = screen.getByLabelText('Microphone');
    expect(mic).toHaveDisplayValue('Bluetooth Headset (not connected)');
    expect(mic).toHaveAttribute('aria-invalid', 'true');
    expect(mic).toHaveAccessibleDescription('This device is not connected');
  });

  it('tests the chosen speaker and microphone and shows the microphone level', async () => {
    const { mock, user, rerender } = await setup();
    await user.selectOptions(screen.getByLabelText('Microphone'), 'USB Headset Mic');
    await user.click(screen.getByRole('button', { name: 'Test audio' }));
    expect(mock.sent.at(-1)).toEqual({ command: 'test_audio', args: [null, 'USB Headset Mic'] });
    await rerender({ levels: { input_dbfs: -18, output_dbfs: -6 } });
    expect(screen.getByRole('meter', { name: 'Microphone level' })).toHaveAttribute('aria-valuenow', '-18');
  });

  it('shows why the test failed, by code', async () => {
    const { mock, user } = await setup();
    mock.failNext('test_audio', engineError('audio.no_device', 'hw:2'));
    await user.click(screen.getByRole('button', { name: 'Test audio' }));
    expect(screen.getByRole('alert')).toHaveTextContent('No audio device');
  });
});

describe('Settings: Codecs', () => {
  const names = () => within(screen.getByRole('region', { name: 'Codecs' })).getAllByRole('checkbox').map((c) => c.parentElement!.textContent!.trim());

  it('reorders and saves the order', async () => {
    const { mock, user } = await setup();
    expect(names()).toEqual(['Opus', 'G.711 µ-law (PCMU)', 'G.711 A-law (PCMA)']);
    expect(screen.getByRole('button', { name: 'Move Opus up' })).toBeDisabled();
    await user.click(screen.getByRole('button', { name: 'Move G.711 A-law (PCMA) up' }));
    await flush();
    expect(names()).toEqual(['Opus', 'G.711 A-law (PCMA)', 'G.711 µ-law (PCMU)']);
    expect(mock.preferences.codecs.map((c) => c.name)).toEqual(['opus', 'pcma', 'pcmu']);
    await user.click(screen.getByRole('button', { name: 'Move Opus down' }));
    await flush();
    expect(mock.preferences.codecs.map((c) => c.name)).toEqual(['pcma', 'opus', 'pcmu']);
  });

  it('refuses to disable every codec, inline, and saves nothing until one is back', async () => {
    const { mock, user, saves } = await setup();
    await user.click(screen.getByRole('checkbox', { name: 'Opus' }));
    await user.click(screen.getByRole('checkbox', { name: 'G.711 µ-law (PCMU)' }));
    await flush();
    expect(saves()).toHaveLength(2);
    await user.click(screen.getByRole('checkbox', { name: 'G.711 A-law (PCMA)' }));
    await flush();
    expect(screen.getByRole('alert')).toHaveTextContent('Enable at least one codec');
    expect(screen.getByRole('checkbox', { name: 'G.711 A-law (PCMA)' })).not.toBeChecked();
    expect(saves()).toHaveLength(2);
    expect(mock.preferences.codecs.filter((c) => c.enabled).map((c) => c.name)).toEqual(['pcma']);
    await user.click(screen.getByRole('checkbox', { name: 'Opus' }));
    await flush();
    expect(screen.queryByRole('alert')).toBeNull();
    expect(mock.preferences.codecs.filter((c) => c.enabled).map((c) => c.name)).toEqual(['opus']);
  });
});

describe('Settings: Security', () => {
  const sha256 = 'AB:CD:EF:01';

  it('shows the pinned certificate and forgets it', async () => {
    const { mock, user, onsaved } = await setup({ saved: { ...account, trusted_certificate: sha256 } });
    expect(screen.getByLabelText('Trusted certificate')).toHaveTextContent(sha256);
    await user.click(screen.getByRole('button', { name: 'Forget' }));
    expect(mock.stored).toEqual({ ...account, trusted_certificate: null });
    expect(onsaved).toHaveBeenCalledWith({ ...account, trusted_certificate: null });
  });

  it('says why forgetting failed', async () => {
    const { mock, user } = await setup({ saved: { ...account, trusted_certificate: sha256 } });
    mock.failNext('save_settings', engineError('secrets.failed', 'x'));
    await user.click(screen.getByRole('button', { name: 'Forget' }));
    expect(screen.getByRole('alert')).toHaveTextContent('Not saved: The password could not be stored or read');
    expect(mock.stored?.trusted_certificate).toBe(sha256);
  });

  it('keeps the pin when the account form is saved', async () => {
    const { mock, user } = await setup({ saved: { ...account, trusted_certificate: sha256 } });
    await user.click(screen.getByRole('button', { name: 'Save' }));
    expect(mock.stored?.trusted_certificate).toBe(sha256);
  });

  it('offers no SRTP yet', async () => {
    await setup();
    expect(screen.getByText('No certificate pinned', { exact: false })).toBeInTheDocument();
    expect(screen.getByLabelText('SRTP')).toBeDisabled();
    expect(screen.getByLabelText('SRTP')).toHaveAccessibleDescription('SRTP: coming later');
  });
});

describe('Settings: App', () => {
  it('saves each switch and the theme as they change', async () => {
    const { mock, user, onpreferences } = await setup();
    for (const name of ['Start at login', 'Close to tray', 'Notifications', 'Do not disturb', 'Confirm before dialing links']) {
      await user.click(screen.getByRole('checkbox', { name }));
    }
    await user.selectOptions(screen.getByLabelText('Theme'), 'Dark');
    await flush();
    expect(mock.preferences.app).toEqual({
      start_at_login: true,
      close_to_tray: true,
      notifications: false,
      do_not_disturb: true,
      confirm_links: false,
      theme: 'dark',
    });
    expect(onpreferences).toHaveBeenLastCalledWith(mock.preferences);
  });

  it('keeps the choice and shows the reason when the engine refuses it', async () => {
    const { mock, user, onpreferences } = await setup();
    mock.failNext('save_preferences', engineError('settings.invalid', 'autostart'));
    await user.click(screen.getByRole('checkbox', { name: 'Start at login' }));
    await flush();
    expect(screen.getByRole('alert')).toHaveTextContent('Not saved: Some settings have values Wren cannot use');
    expect(screen.getByRole('checkbox', { name: 'Start at login' })).toBeChecked();
    expect(mock.preferences.app.start_at_login).toBe(false);
    expect(onpreferences).not.toHaveBeenCalled();
    await user.click(screen.getByRole('checkbox', { name: 'Close to tray' }));
    await flush();
    expect(screen.queryByRole('alert')).toBeNull();
    expect(mock.preferences.app).toMatchObject({ start_at_login: true, close_to_tray: true });
  });
});
