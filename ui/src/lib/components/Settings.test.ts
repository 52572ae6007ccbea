import { render, screen, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { engineError, MockBackend } from '../backend/mock';
import type { AccountSettings, Levels, Preferences } from '../backend/types';
import { DEFAULT_PREFERENCES } from '../preferences';
import { DEFAULT_SETTINGS } from '../settings';
import { SavedAccountsStore } from '../state/accounts.svelte';
import Settings from './Settings.svelte';

const alice: AccountSettings = {
  ...DEFAULT_SETTINGS,
  display_name: 'Alice',
  sip_address: 'alice@example.com',
  password: 'secret',
  server: 'wss://sip.example.com',
};
const work: AccountSettings = { ...alice, display_name: '', sip_address: 'work@example.org', server: 'wss://example.org' };
const devices = { inputs: ['USB Headset Mic', 'Built-in Microphone'], outputs: ['USB Headset', 'Built-in Speakers'] };
const flush = () => new Promise((r) => setTimeout(r, 0));

async function setup(opts: { accounts?: AccountSettings[]; preferences?: Preferences; levels?: Levels } = {}) {
  const preferences = structuredClone(opts.preferences ?? DEFAULT_PREFERENCES);
  const mock = new MockBackend({ accounts: opts.accounts ?? [alice], preferences, devices });
  const accounts = new SavedAccountsStore(mock);
  await accounts.load();
  const onpreferences = vi.fn();
  const user = userEvent.setup();
  const r = render(Settings, {
    backend: mock,
    accounts,
    engine: mock.engineState.accounts,
    preferences,
    levels: opts.levels ?? { input_dbfs: -100, output_dbfs: -100 },
    onpreferences,
  });
  await flush();
  const section = (name: string) => screen.getByRole('region', { name });
  const saves = () => mock.sent.filter((s) => s.command === 'save_preferences');
  return { mock, accounts, user, onpreferences, section, saves, ...r };
}

describe('Settings: Accounts', () => {
  it('opens with the saved accounts, before the preferences', async () => {
    const { section } = await setup({ accounts: [alice, work] });
    const regions = screen.getAllByRole('region').map((r) => r.getAttribute('aria-labelledby'));
    expect(regions[0]).toBe('accounts-title');
    const items = within(section('Accounts')).getAllByRole('listitem');
    expect(items.map((li) => li.querySelector('.address')?.textContent)).toEqual(['alice@example.com', 'work@example.org']);
  });
});

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
  it('offers no SRTP yet, and leaves pinned certificates to the accounts', async () => {
    const { section } = await setup();
    expect(screen.getByLabelText('SRTP')).toBeDisabled();
    expect(screen.getByLabelText('SRTP')).toHaveAccessibleDescription('SRTP: coming later');
    expect(within(section('Security')).queryByText(/certificate/)).toBeNull();
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
