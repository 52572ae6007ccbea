import { render, screen, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { engineError, MockBackend } from '../../backend/mock';
import type { AccountSettings } from '../../backend/types';
import { DEFAULT_SETTINGS } from '../../settings';
import { SavedAccountsStore } from '../../state/accounts.svelte';
import AccountsSection from './AccountsSection.svelte';

const alice: AccountSettings = {
  ...DEFAULT_SETTINGS,
  display_name: 'Alice',
  sip_address: 'alice@example.com',
  password: 'secret',
  server: 'wss://sip.example.com',
};
const bob: AccountSettings = { ...alice, display_name: 'Bob', sip_address: 'bob@example.net' };
const WORK = 'work@example.org';

/**
 * The section over a mock holding `accounts` ("1", "2", ...); `prepare` changes the mock
 * before the list is read and the section drawn.
 */
async function setup(accounts: AccountSettings[] = [alice], prepare: (mock: MockBackend) => void = () => {}) {
  const mock = new MockBackend({ accounts });
  prepare(mock);
  const store = new SavedAccountsStore(mock);
  await store.load();
  const user = userEvent.setup();
  const r = render(AccountsSection, { backend: mock, accounts: store, engine: mock.engineState.accounts });
  const items = () => within(screen.getByRole('list', { name: 'Saved accounts' })).getAllByRole('listitem');
  const row = (text: string) => items().find((li) => li.textContent!.includes(text))!;
  const button = (name: string) => screen.getByRole('button', { name });
  const field = (label: string) => screen.getByLabelText(label) as HTMLInputElement;
  const sent = (command: string) => mock.sent.filter((s) => s.command === command).map((s) => s.args);
  /** Draws the engine's accounts as they are now. */
  const redraw = () => r.rerender({ engine: mock.engineState.accounts });
  return { mock, store, user, items, row, button, field, sent, redraw };
}

const withWork = (mock: MockBackend) => void mock.addAccount(WORK);

describe('AccountsSection: the list', () => {
  it('lists every saved account: name, address, where it stands, the default marked', async () => {
    const { items, button } = await setup([alice], withWork);
    expect(screen.getByRole('heading', { name: 'Accounts' })).toBeInTheDocument();
    const [first, second] = items();
    expect(items()).toHaveLength(2);
    expect(first).toHaveTextContent('Alice');
    expect(first).toHaveTextContent('alice@example.com');
    expect(first).toHaveTextContent('Default');
    expect(within(first).getByRole('status')).toHaveTextContent('Connecting');
    expect(second).toHaveTextContent(WORK);
    expect(second).not.toHaveTextContent('Default');
    expect(within(second).getByRole('status')).toHaveTextContent('Registered');
    expect(screen.getByRole('checkbox', { name: 'Enable alice@example.com' })).toBeChecked();
    expect(screen.getByRole('checkbox', { name: `Enable ${WORK}` })).toBeChecked();
    for (const name of ['Edit alice@example.com', 'Remove alice@example.com', `Edit ${WORK}`, `Remove ${WORK}`]) {
      expect(button(name)).toBeInTheDocument();
    }
    expect(button(`Make ${WORK} the default`)).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Make alice@example.com the default' })).toBeNull();
    expect(button('Add account')).toBeInTheDocument();
    expect(screen.queryByRole('form')).toBeNull();
  });

  it('marks a ws:// account Not encrypted, running or not, and no wss:// one', async () => {
    const plain = { ...bob, server: 'ws://pbx.example.net', allow_insecure: true };
    const { row } = await setup([alice, plain, { ...plain, sip_address: 'carol@example.net', display_name: 'Carol', enabled: false }]);
    const NOT_ENCRYPTED = 'Not encrypted: this account connects over ws://';
    expect(within(row('Alice')).queryByLabelText(NOT_ENCRYPTED)).toBeNull();
    expect(within(row('Bob')).getByLabelText(NOT_ENCRYPTED)).toHaveTextContent('Not encrypted');
    expect(within(row('Bob')).getByRole('status').textContent!.trim()).toBe('Connecting');
    expect(within(row('Carol')).getByLabelText(NOT_ENCRYPTED)).toBeInTheDocument();
    expect(within(row('Carol')).getByRole('status').textContent!.trim()).toBe('Disabled');
  });

  it('says Disabled for a disabled account and Password needed when its password is gone', async () => {
    const { row } = await setup([alice, { ...bob, enabled: false }, { ...bob, sip_address: 'carol@example.net', password: '' }]);
    expect(within(row('bob@example.net')).getByRole('status')).toHaveTextContent('Disabled');
    expect(screen.getByRole('checkbox', { name: 'Enable bob@example.net' })).not.toBeChecked();
    expect(within(row('carol@example.net')).getByRole('status')).toHaveTextContent('Password needed');
  });

  it('says why the list could not be read, and still offers the form', async () => {
    const { field } = await setup([alice], (mock) => mock.failNext('list_accounts', engineError('settings.corrupt', 'x')));
    expect(screen.getByRole('alert')).toHaveTextContent(
      'The accounts could not be read: The settings file is damaged; it was left as it is',
    );
    expect(field('SIP address')).toBeInTheDocument();
  });
});

describe('AccountsSection: changes', () => {
  it('shows the form at once when no account is saved, with no Cancel, then the list', async () => {
    const { user, button, field, items, sent } = await setup([]);
    expect(screen.getByRole('heading', { name: 'New account' })).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Cancel' })).toBeNull();
    expect(screen.queryByRole('button', { name: 'Add account' })).toBeNull();
    await user.type(field('SIP address'), 'alice@example.com');
    await user.type(field('Password'), 'secret');
    await user.type(field('WebSocket server'), 'wss://sip.example.com');
    await user.click(button('Save'));
    expect(sent('save_account')).toEqual([
      [{ ...DEFAULT_SETTINGS, sip_address: 'alice@example.com', password: 'secret', server: 'wss://sip.example.com' }],
    ]);
    expect(items()).toHaveLength(1);
    expect(items()[0]).toHaveTextContent('Default');
    expect(screen.queryByLabelText('SIP address')).toBeNull();
  });

  it('adds an account from an empty form', async () => {
    const { user, button, field, items, sent, mock } = await setup();
    await user.click(button('Add account'));
    expect(screen.queryByRole('list', { name: 'Saved accounts' })).toBeNull();
    expect(field('SIP address').value).toBe('');
    expect(field('Display name')).toHaveFocus();
    expect(field('Password')).not.toHaveAccessibleDescription('Saved. Leave empty to keep it.');
    await user.type(field('Display name'), 'Bob');
    await user.type(field('SIP address'), 'bob@example.net');
    await user.type(field('Password'), 'hunter2');
    await user.type(field('WebSocket server'), 'wss://example.net');
    await user.click(button('Save'));
    expect(sent('save_account').at(-1)).toEqual([
      { ...DEFAULT_SETTINGS, display_name: 'Bob', sip_address: 'bob@example.net', password: 'hunter2', server: 'wss://example.net' },
    ]);
    expect(items().map((li) => li.querySelector('.name')!.textContent)).toEqual(['Alice', 'Bob']);
    expect(mock.engineState.accounts.map((a) => a.name)).toEqual(['alice@example.com', 'bob@example.net']);
  });

  it('keeps the form and says so when the SIP address is taken', async () => {
    const { user, button, field, sent } = await setup();
    await user.click(button('Add account'));
    await user.type(field('SIP address'), 'alice@example.com');
    await user.type(field('Password'), 'other');
    await user.type(field('WebSocket server'), 'wss://sip.example.com');
    await user.click(button('Save'));
    expect(sent('save_account')).toHaveLength(1);
    expect(field('SIP address')).toHaveAccessibleDescription('Another account already has this SIP address');
    expect(screen.getByRole('heading', { name: 'New account' })).toBeInTheDocument();
    expect(screen.queryByRole('list', { name: 'Saved accounts' })).toBeNull();
  });

  it('edits an account from its saved settings, an empty password keeping the saved one', async () => {
    const { user, button, field, items, sent, mock } = await setup();
    await user.click(button('Edit alice@example.com'));
    expect(screen.getByRole('heading', { name: 'Edit account' })).toBeInTheDocument();
    expect(field('Display name').value).toBe('Alice');
    expect(field('Password').value).toBe('');
    expect(field('Password')).toHaveAccessibleDescription('Saved. Leave empty to keep it.');
    await user.clear(field('Display name'));
    await user.type(field('Display name'), 'Alice Liddell');
    await user.click(button('Save'));
    expect(sent('save_account')).toEqual([[{ ...alice, id: '1', display_name: 'Alice Liddell', password: '' }]]);
    expect(mock.saved[0].password).toBe('secret');
    expect(items()[0]).toHaveTextContent('Alice Liddell');
  });

  it('asks for the password again when it was not kept', async () => {
    const { user, button, field, mock } = await setup([{ ...alice, password: '' }]);
    expect(screen.getByRole('status')).toHaveTextContent('Password needed');
    await user.click(button('Edit alice@example.com'));
    expect(field('Password')).toHaveAccessibleDescription('Enter the password: it was not kept');
    expect(button('Save')).toBeDisabled();
    await user.type(field('Password'), 'secret');
    await user.click(button('Save'));
    expect(mock.engineState.accounts.map((a) => a.name)).toEqual(['alice@example.com']);
  });

  it('goes back to the list on Cancel, saving nothing', async () => {
    const { user, button, field, sent } = await setup();
    await user.click(button('Edit alice@example.com'));
    await user.type(field('Display name'), ' (home)');
    await user.click(button('Cancel'));
    expect(sent('save_account')).toEqual([]);
    expect(screen.getByRole('list', { name: 'Saved accounts' })).toHaveTextContent('Alice');
    expect(screen.getByRole('list', { name: 'Saved accounts' })).not.toHaveTextContent('(home)');
  });

  it('removes an account only once the user confirms', async () => {
    const { user, button, items, sent, mock } = await setup([alice], withWork);
    await user.click(button(`Remove ${WORK}`));
    let dialog = screen.getByRole('dialog', {
      name: `Remove the account ${WORK}? Its calls end and its password is forgotten.`,
    });
    await user.click(within(dialog).getByRole('button', { name: 'Cancel' }));
    expect(sent('remove_account')).toEqual([]);
    await user.click(button(`Remove ${WORK}`));
    dialog = screen.getByRole('dialog');
    await user.click(within(dialog).getByRole('button', { name: 'Remove' }));
    expect(sent('remove_account')).toEqual([['2']]);
    expect(screen.queryByRole('dialog')).toBeNull();
    expect(items()).toHaveLength(1);
    expect(mock.engineState.accounts.map((a) => a.name)).toEqual(['alice@example.com']);
  });

  it('passes the default on to the first account left when the default is removed', async () => {
    const { user, button, items } = await setup([alice], withWork);
    await user.click(button('Remove alice@example.com'));
    await user.click(within(screen.getByRole('dialog')).getByRole('button', { name: 'Remove' }));
    expect(items()).toHaveLength(1);
    expect(items()[0]).toHaveTextContent(WORK);
    expect(items()[0]).toHaveTextContent('Default');
  });

  it('disables and enables an account, which leaves and rejoins the engine', async () => {
    const { user, row, sent, mock, redraw } = await setup([alice], withWork);
    await user.click(screen.getByRole('checkbox', { name: `Enable ${WORK}` }));
    expect(sent('save_account')).toEqual([
      [{ ...alice, id: '2', enabled: false, display_name: '', sip_address: WORK, server: 'wss://example.org', password: '' }],
    ]);
    expect(screen.getByRole('checkbox', { name: `Enable ${WORK}` })).not.toBeChecked();
    expect(within(row(WORK)).getByRole('status')).toHaveTextContent('Disabled');
    expect(mock.engineState.accounts.map((a) => a.name)).toEqual(['alice@example.com']);
    await user.click(screen.getByRole('checkbox', { name: `Enable ${WORK}` }));
    expect(sent('save_account').at(-1)).toMatchObject([{ id: '2', enabled: true, password: '' }]);
    await redraw();
    expect(within(row(WORK)).getByRole('status')).toHaveTextContent('Registered');
  });

  it('says why a switch was refused and shows it as it was', async () => {
    const { user, mock } = await setup([alice], withWork);
    mock.failNext('save_account', engineError('secrets.failed', 'locked'));
    await user.click(screen.getByRole('checkbox', { name: `Enable ${WORK}` }));
    expect(screen.getByRole('alert')).toHaveTextContent('Not saved: The password could not be stored or read');
    expect(screen.getByRole('checkbox', { name: `Enable ${WORK}` })).toBeChecked();
  });

  it('makes another account the default', async () => {
    const { user, button, row, sent, mock } = await setup([alice], withWork);
    await user.click(button(`Make ${WORK} the default`));
    expect(sent('set_default_account')).toEqual([['2']]);
    expect(row(WORK)).toHaveTextContent('Default');
    expect(row('alice@example.com')).not.toHaveTextContent('Default');
    expect(button('Make alice@example.com the default')).toBeInTheDocument();
    expect(mock.engineState.accounts.find((a) => a.default)?.name).toBe(WORK);
  });
});

describe('AccountsSection: the pinned certificate', () => {
  it("is shown in the account's form and forgotten there, the rest of the account kept", async () => {
    const { user, button, field, sent, mock } = await setup([{ ...alice, trusted_certificate: 'AB:CD' }]);
    await user.click(button('Edit alice@example.com'));
    await user.type(field('Display name'), ' Liddell');
    expect(screen.getByLabelText('Trusted certificate')).toHaveTextContent('AB:CD');
    await user.click(button('Forget pinned certificate'));
    expect(sent('save_account')).toEqual([[{ ...alice, id: '1', password: '', trusted_certificate: null }]]);
    expect(screen.queryByLabelText('Trusted certificate')).toBeNull();
    // Still editing: the draft is there and saving does not pin it again.
    expect(field('Display name').value).toBe('Alice Liddell');
    await user.click(button('Save'));
    expect(mock.saved[0]).toMatchObject({ display_name: 'Alice Liddell', trusted_certificate: null, password: 'secret' });
  });
});
