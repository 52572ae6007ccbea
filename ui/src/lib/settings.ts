// Validation of the settings screen; the rules mirror the engine's `AccountInput::validate`
// (crates/engine/src/config.rs) so the user sees a problem before the engine refuses it.
import type { AccountSettings, PasswordStorage } from './backend/types';
import type { ErrorCode } from './bindings/ErrorCode';
import type { UiErrorCode } from './errors';

export type SettingsField = keyof AccountSettings;
export type SettingsErrors = Partial<Record<SettingsField, string>>;

export const EXPIRES_MIN = 60;
export const EXPIRES_MAX = 86_400;

/** A new account's form: no id yet (saving mints one), enabled. */
export const DEFAULT_SETTINGS: AccountSettings = {
  id: '',
  enabled: true,
  display_name: '',
  sip_address: '',
  auth_user: '',
  password: '',
  server: '',
  register_expires: 600,
  password_storage: 'keyring',
  trusted_certificate: null,
  allow_insecure: false,
};

export const PASSWORD_STORAGE_LABELS: Readonly<Record<PasswordStorage, string>> = {
  keyring: 'System keyring',
  session: 'This session only',
  file: 'A file only I can read (not encrypted)',
};

function sipAddressError(text: string): string | undefined {
  const t = text.trim().replace(/^sips?:/i, '');
  if (t === '') return 'Enter your SIP address, like alice@example.com';
  const at = t.indexOf('@');
  if (at < 0) return 'A SIP address needs user@domain';
  const user = t.slice(0, at);
  const domain = t.slice(at + 1);
  if (user === '' || /[\s@:<>;"]/.test(user)) return 'The user part has characters SIP does not allow';
  if (domain === '' || /[\s@<>;"/]/.test(domain)) return 'The domain is missing or invalid';
  return undefined;
}

function serverError(text: string): string | undefined {
  const t = text.trim();
  if (t === '') return 'Enter the WebSocket server, like wss://sip.example.com';
  const m = /^wss?:\/\/([^/]*)(\/.*)?$/i.exec(t);
  if (!m) return 'The server must start with wss:// (or ws://)';
  let authority = m[1];
  let port: string | undefined;
  if (authority.startsWith('[')) {
    const end = authority.indexOf(']');
    if (end < 0) return 'Invalid IPv6 address';
    const after = authority.slice(end + 1);
    if (after !== '' && !after.startsWith(':')) return 'Invalid server address';
    port = after === '' ? undefined : after.slice(1);
    authority = authority.slice(1, end);
  } else {
    const colon = authority.lastIndexOf(':');
    if (colon >= 0) {
      port = authority.slice(colon + 1);
      authority = authority.slice(0, colon);
    }
  }
  if (authority === '' || /[\s@]/.test(authority)) return 'The server host is missing or invalid';
  if (port !== undefined && !(/^\d{1,5}$/.test(port) && Number(port) <= 65_535)) {
    return 'The port must be a number up to 65535';
  }
  return undefined;
}

/** The server is `ws://`: nothing the account sends is encrypted. */
export function isInsecureServer(server: string): boolean {
  return /^ws:\/\//i.test(server.trim());
}

/**
 * `user@domain` of a SIP address, as the engine names the account (no `sip:`, each part
 * trimmed); two saved accounts never share it.
 */
export function addressKey(sipAddress: string): string {
  const t = sipAddress.trim().replace(/^sips?:/i, '');
  const at = t.indexOf('@');
  return at < 0 ? t.trim() : `${t.slice(0, at).trim()}@${t.slice(at + 1).trim()}`;
}

/** What the user calls the account: its display name, else its SIP address. */
export function accountLabel(s: AccountSettings): string {
  return s.display_name.trim() || s.sip_address;
}

/**
 * Every problem with the settings, by field; empty when they can be saved. `passwordSaved`:
 * the account has a password at hand, so an empty one keeps it.
 */
export function validateSettings(s: AccountSettings, passwordSaved: boolean): SettingsErrors {
  const errors: SettingsErrors = {};
  if (s.display_name.length > 64) errors.display_name = 'Keep the display name under 64 characters';
  else if (/["\p{Cc}]/u.test(s.display_name)) errors.display_name = 'The display name cannot contain quotes';
  const addr = sipAddressError(s.sip_address);
  if (addr) errors.sip_address = addr;
  if (/[\s@:]/.test(s.auth_user.trim())) errors.auth_user = 'The username cannot contain spaces, @ or :';
  if (s.password === '' && !passwordSaved) {
    errors.password = s.id === '' ? 'Enter the password' : 'Enter the password: it was not kept';
  }
  const server = serverError(s.server);
  if (server) errors.server = server;
  const e = s.register_expires;
  if (!Number.isInteger(e) || e < EXPIRES_MIN || e > EXPIRES_MAX) {
    errors.register_expires = `Between ${EXPIRES_MIN} and ${EXPIRES_MAX} seconds`;
  }
  // Last, as the store checks it after the rest: the fake engine refuses the first problem.
  if (isInsecureServer(s.server) && !s.allow_insecure) {
    errors.allow_insecure = 'ws:// is not encrypted: use wss://, or allow an unencrypted connection';
  }
  return errors;
}

/** Which field an engine `config.*` refusal is about (by code); other codes are about none. */
export const FIELD_OF_CODE: Readonly<Partial<Record<ErrorCode | UiErrorCode, SettingsField>>> = {
  'config.invalid_server': 'server',
  'config.insecure_server': 'allow_insecure',
  'config.invalid_user': 'sip_address',
  'config.invalid_domain': 'sip_address',
  'config.missing_password': 'password',
  'config.invalid_expires': 'register_expires',
  'settings.duplicate_account': 'sip_address',
};
