import { render, screen } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { engineError, MockBackend } from '../../backend/mock';
import type { AccountSettings, SavedAccount } from '../../backend/types';
import { DEFAULT_SETTINGS } from '../../settings';
import AccountForm from './AccountForm.svelte';

const good: AccountSettings = {
  ...DEFAULT_SETTINGS,
  display_name: 'Alice',
  sip_address: 'alice@example.com',
  password: 'secret',
  server: 'wss://sip.example.com:8443/ws',
};
const SHA256 = 'AB:CD:EF:01';

/**
 * The form over a mock holding `saved` (as account "1"), or a new account's form over an
 * empty mock. `hasPassword: false` lists it as the store does after a session password is gone.
 */
async function setup(saved: AccountSettings | null, opts: { hasPassword?: boolean; cancel?: boolean } = {}) {
  const mock = new MockBackend({ accounts: saved ? [{ ...saved, password: opts.hasPassword === false ? '' : saved.password }] : [] });
  const listed = async (): Promise<SavedAccount | null> => (await mock.listAccounts()).accounts[0] ?? null;
  const oncancel = vi.fn();
  const onforget = vi.fn(async () => {
    const a = await listed();
    await mock.saveAccount({ ...a!.settings, trusted_certificate: null });
  });
  const user = userEvent.setup();
  const r = render(AccountForm, {
    saved: await listed(),
    onsave: async (s: AccountSettings) => void (await mock.saveAccount(s)),
    onforget,
    oncancel: opts.cancel === false ? undefined : oncancel,
  });
  const field = (label: string) => screen.getByLabelText(label) as HTMLInputElement;
  const save = () => screen.getByRole('button', { name: 'Save' });
  const saves = () => mock.sent.filter((s) => s.command === 'save_account').map((s) => s.args[0] as AccountSettings);
  return { mock, user, field, save, saves, oncancel, onforget, listed, ...r };
}

describe('AccountForm', () => {
  it('has every field, filled from the saved settings but the password', async () => {
    const { field, save } = await setup(good);
    expect(screen.getByRole('heading', { name: 'Edit account' })).toBeInTheDocument();
    expect(field('Display name').value).toBe('Alice');
    expect(field('SIP address').value).toBe('alice@example.com');
    expect(field('Authentication username').value).toBe('');
    expect(field('Password').value).toBe('');
    expect(field('Password').type).toBe('password');
    expect(field('Password')).toHaveAccessibleDescription('Saved. Leave empty to keep it.');
    expect(field('WebSocket server').value).toBe('wss://sip.example.com:8443/ws');
    expect(field('Registration expiry (seconds)').valueAsNumber).toBe(600);
    expect(screen.getByLabelText('Password storage')).toHaveDisplayValue('System keyring');
    expect(save()).toBeEnabled();
  });

  it('shows problems inline only once a field is edited, and disables Save', async () => {
    const { user, field, save } = await setup(null);
    expect(screen.getByRole('heading', { name: 'New account' })).toBeInTheDocument();
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
    const { user, field, save } = await setup(good);
    await user.clear(field('Registration expiry (seconds)'));
    await user.type(field('Registration expiry (seconds)'), '30');
    expect(field('Registration expiry (seconds)')).toHaveAccessibleDescription('Between 60 and 86400 seconds');
    expect(save()).toBeDisabled();
    await user.clear(field('Registration expiry (seconds)'));
    await user.type(field('Registration expiry (seconds)'), '3600');
    expect(save()).toBeEnabled();
  });

  it('saves a change with an empty password, which keeps the saved one', async () => {
    const { mock, user, field, save, saves } = await setup(good);
    await user.clear(field('Display name'));
    await user.type(field('Display name'), 'Alice Liddell');
    await user.type(field('Authentication username'), 'alice-auth');
    await user.click(save());
    expect(saves()).toEqual([{ ...good, id: '1', display_name: 'Alice Liddell', auth_user: 'alice-auth', password: '' }]);
    expect(mock.saved).toEqual([{ ...good, id: '1', display_name: 'Alice Liddell', auth_user: 'alice-auth' }]);
  });

  it('sends a new password when one is typed', async () => {
    const { mock, user, field, save } = await setup(good);
    await user.type(field('Password'), 'n3w');
    await user.click(save());
    expect(mock.saved[0].password).toBe('n3w');
  });

  it('requires the password of a new account', async () => {
    const { mock, user, field, save } = await setup(null);
    await user.type(field('SIP address'), 'alice@example.com');
    await user.type(field('WebSocket server'), 'wss://sip.example.com');
    expect(save()).toBeDisabled();
    // Enter in a field would submit the form: still nothing saved.
    await user.type(field('Display name'), '{Enter}');
    expect(mock.sent.filter((s) => s.command === 'save_account')).toEqual([]);
    await user.type(field('Password'), 'secret');
    expect(save()).toBeEnabled();
    await user.clear(field('Password'));
    expect(field('Password')).toHaveAccessibleDescription('Enter the password');
  });

  it('asks at once for a password that was not kept, and saves only with one', async () => {
    const { mock, user, field, save } = await setup(good, { hasPassword: false });
    expect(field('Password')).toHaveAttribute('aria-invalid', 'true');
    expect(field('Password')).toHaveAccessibleDescription('Enter the password: it was not kept');
    expect(save()).toBeDisabled();
    await user.type(field('Password'), 'again');
    await user.click(save());
    expect(mock.saved[0].password).toBe('again');
  });

  it('shows the engine refusal by code on its field and keeps the saved settings', async () => {
    const { mock, user, field, save } = await setup(good);
    mock.failNext('save_account', engineError('config.invalid_server', 'missing or invalid host: "wss://x y"'));
    await user.clear(field('WebSocket server'));
    await user.type(field('WebSocket server'), 'wss://other.example.com');
    await user.click(save());
    expect(field('WebSocket server')).toHaveAccessibleDescription('Invalid WebSocket server');
    expect(mock.saved).toEqual([{ ...good, id: '1' }]);
    expect(field('WebSocket server').value).toBe('wss://other.example.com');
  });

  it('shows a SIP address another account has on the SIP address field', async () => {
    const { mock, user, field, save } = await setup(null);
    mock.addAccount('alice@example.com');
    await user.type(field('SIP address'), 'sip:alice@example.com');
    await user.type(field('Password'), 'secret');
    await user.type(field('WebSocket server'), 'wss://sip.example.com');
    await user.click(save());
    expect(field('SIP address')).toHaveAccessibleDescription('Another account already has this SIP address');
    expect(mock.saved).toHaveLength(1);
  });

  it('shows a refusal that is about no field as an alert', async () => {
    const { mock, user, save } = await setup(good);
    mock.failNext('save_account', engineError('config.ca_not_found', 'CA file /x does not exist'));
    await user.click(save());
    expect(screen.getByRole('alert')).toHaveTextContent('Not saved: CA certificate file not found');
    expect(mock.saved).toEqual([{ ...good, id: '1' }]);
  });

  it('offers Cancel only when there is somewhere to go back to', async () => {
    const { user, oncancel, unmount } = await setup(good);
    await user.click(screen.getByRole('button', { name: 'Cancel' }));
    expect(oncancel).toHaveBeenCalledOnce();
    unmount();
    await setup(null, { cancel: false });
    expect(screen.queryByRole('button', { name: 'Cancel' })).toBeNull();
  });

  it('without a keyring, asks where to keep the password and saves again with that choice', async () => {
    const { mock, user, field, save, saves } = await setup(null);
    await user.type(field('SIP address'), 'alice@example.com');
    await user.type(field('Password'), 'secret');
    await user.type(field('WebSocket server'), 'wss://sip.example.com');
    mock.failNext('save_account', engineError('secrets.unavailable', 'no Secret Service'));
    await user.click(save());
    expect(mock.saved).toEqual([]);
    const ask = screen.getByRole('alert');
    expect(ask).toHaveTextContent('no secure password store');
    expect(screen.getByRole('button', { name: 'Store in a file only I can read' })).toHaveAccessibleDescription(
      /not encrypted/,
    );
    expect(field('Password').value).toBe('secret');
    await user.click(screen.getByRole('button', { name: 'Keep for this session only' }));
    expect(saves().map((s) => s.password_storage)).toEqual(['keyring', 'session']);
    expect(mock.saved).toMatchObject([{ sip_address: 'alice@example.com', password: 'secret', password_storage: 'session' }]);
    expect(screen.queryByRole('alert')).toBeNull();
    expect(screen.getByLabelText('Password storage')).toHaveDisplayValue('This session only');
  });

  it('can store the password in a file, with the warning shown', async () => {
    const { mock, user, save } = await setup(good);
    mock.failNext('save_account', engineError('secrets.unavailable', 'no Secret Service'));
    await user.click(save());
    await user.click(screen.getByRole('button', { name: 'Store in a file only I can read' }));
    expect(mock.saved[0]).toMatchObject({ password_storage: 'file', password: 'secret' });
    expect(screen.getByLabelText('Password storage')).toHaveAccessibleDescription(/not encrypted/);
  });

  it('does not fall back on its own when the chosen storage fails too', async () => {
    const { mock, user, save, saves } = await setup(good);
    mock.failNext('save_account', engineError('secrets.unavailable', 'no Secret Service'));
    await user.click(save());
    mock.failNext('save_account', engineError('secrets.failed', 'disk full'));
    await user.click(screen.getByRole('button', { name: 'Store in a file only I can read' }));
    expect(screen.getByRole('alert')).toHaveTextContent('Not saved: The password could not be stored or read');
    expect(mock.saved).toEqual([{ ...good, id: '1' }]);
    expect(saves()).toHaveLength(2);
  });
});

describe('AccountForm: an unencrypted server', () => {
  const ALLOW = 'Allow an unencrypted connection (ws://)';
  const INSECURE = 'ws:// is not encrypted: use wss://, or allow an unencrypted connection';
  const plain: AccountSettings = { ...good, server: 'ws://pbx.example.com:8080', allow_insecure: true };
  const allow = () => screen.getByRole('checkbox', { name: ALLOW });

  it('asks only for a ws:// server, with the warning, and saves the choice', async () => {
    const { mock, user, field, save, saves } = await setup(good);
    expect(screen.queryByRole('checkbox', { name: ALLOW })).toBeNull();
    await user.clear(field('WebSocket server'));
    await user.type(field('WebSocket server'), 'WS://pbx.example.com:8080');
    expect(allow()).not.toBeChecked();
    expect(allow()).toHaveAccessibleDescription(/^Without encryption, anyone on the network path can see who you call/);
    expect(allow()).toHaveAccessibleDescription(new RegExp(`${INSECURE}$`));
    expect(screen.getByText(/Use wss:\/\/ if your server offers it\./)).toHaveClass('warning');
    expect(save()).toBeDisabled();
    await user.click(allow());
    expect(allow()).toHaveAttribute('aria-invalid', 'false');
    expect(screen.queryByText(INSECURE)).toBeNull();
    await user.click(save());
    expect(saves()).toEqual([{ ...good, id: '1', password: '', server: 'WS://pbx.example.com:8080', allow_insecure: true }]);
    expect(mock.saved[0]).toMatchObject({ server: 'WS://pbx.example.com:8080', allow_insecure: true });
  });

  it('goes away with a wss:// server, unless the choice is still made', async () => {
    const { user, field } = await setup(good);
    await user.clear(field('WebSocket server'));
    await user.type(field('WebSocket server'), 'ws://pbx.example.com');
    expect(allow()).toBeInTheDocument();
    await user.clear(field('WebSocket server'));
    await user.type(field('WebSocket server'), 'wss://pbx.example.com');
    expect(screen.queryByRole('checkbox', { name: ALLOW })).toBeNull();
    await user.clear(field('WebSocket server'));
    await user.type(field('WebSocket server'), 'ws://pbx.example.com');
    await user.click(allow());
    await user.clear(field('WebSocket server'));
    await user.type(field('WebSocket server'), 'wss://pbx.example.com');
    // Allowed, so shown: the user can take it back.
    expect(allow()).toBeChecked();
  });

  it('shows a saved choice ticked', async () => {
    await setup(plain);
    expect(allow()).toBeChecked();
  });

  it("shows the engine's refusal under the checkbox", async () => {
    const { mock, user, save } = await setup(plain);
    mock.failNext('save_account', engineError('config.insecure_server', 'ws:// is not encrypted'));
    await user.click(save());
    expect(allow()).toHaveAttribute('aria-invalid', 'true');
    expect(allow()).toHaveAccessibleDescription(new RegExp(`${INSECURE}$`));
    expect(screen.queryByRole('alert')).toBeNull();
    expect(mock.saved).toEqual([{ ...plain, id: '1' }]);
  });
});

describe('AccountForm: the pinned certificate', () => {
  it('shows the pin and forgets it through onforget', async () => {
    const { mock, user, onforget } = await setup({ ...good, trusted_certificate: SHA256 });
    expect(screen.getByLabelText('Trusted certificate')).toHaveTextContent(SHA256);
    await user.click(screen.getByRole('button', { name: 'Forget pinned certificate' }));
    expect(onforget).toHaveBeenCalledOnce();
    expect(mock.saved[0]).toEqual({ ...good, id: '1', trusted_certificate: null });
  });

  it('says why forgetting failed', async () => {
    const { mock, user } = await setup({ ...good, trusted_certificate: SHA256 });
    mock.failNext('save_account', engineError('secrets.failed', 'x'));
    await user.click(screen.getByRole('button', { name: 'Forget pinned certificate' }));
    expect(screen.getByRole('alert')).toHaveTextContent('Not saved: The password could not be stored or read');
    expect(mock.saved[0].trusted_certificate).toBe(SHA256);
  });

  it('saves the pin as saved: kept, trusted meanwhile, never brought back', async () => {
    const { mock, user, save, saves, listed, rerender } = await setup({ ...good, trusted_certificate: SHA256 });
    await user.click(save());
    expect(saves()[0].trusted_certificate).toBe(SHA256);
    // Forgotten meanwhile (the list was fetched again): saving must not pin it again.
    await mock.saveAccount({ ...mock.saved[0], password: '', trusted_certificate: null });
    await rerender({ saved: await listed() });
    expect(screen.getByText(/No certificate pinned/)).toBeInTheDocument();
    await user.click(save());
    expect(saves().at(-1)?.trusted_certificate).toBeNull();
    // Trusted from the connection screen meanwhile: saving keeps it.
    await mock.trustCertificate(1, 'FE:DC');
    await rerender({ saved: await listed() });
    await user.click(save());
    expect(saves().at(-1)?.trusted_certificate).toBe('FE:DC');
  });

  it('has nothing to forget on a new account', async () => {
    await setup(null);
    expect(screen.queryByText(/certificate/i)).toBeNull();
  });
});
