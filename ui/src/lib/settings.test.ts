import { describe, expect, it } from 'vitest';
import type { AccountSettings } from './backend/types';
import { accountLabel, addressKey, DEFAULT_SETTINGS, FIELD_OF_CODE, validateSettings } from './settings';

const valid: AccountSettings = {
  ...DEFAULT_SETTINGS,
  sip_address: 'alice@example.com',
  password: 'secret',
  server: 'wss://sip.example.com',
};

describe('validateSettings: the password', () => {
  it('is needed for a new account', () => {
    expect(validateSettings({ ...valid, password: '' }, false)).toEqual({ password: 'Enter the password' });
    expect(validateSettings(valid, false)).toEqual({});
  });

  it('may stay empty when one is saved: the saved one is kept', () => {
    expect(validateSettings({ ...valid, id: '1', password: '' }, true)).toEqual({});
  });

  it('is needed again, saying so, when a saved account has none at hand', () => {
    expect(validateSettings({ ...valid, id: '1', password: '' }, false)).toEqual({
      password: 'Enter the password: it was not kept',
    });
    expect(validateSettings({ ...valid, id: '1' }, false)).toEqual({});
  });
});

describe('validateSettings: an unencrypted server', () => {
  const INSECURE = 'ws:// is not encrypted: use wss://, or allow an unencrypted connection';

  it('needs the user to allow it, whatever the case of ws://', () => {
    expect(DEFAULT_SETTINGS.allow_insecure).toBe(false);
    expect(validateSettings({ ...valid, server: 'ws://pbx.example.com:8080' }, false)).toEqual({ allow_insecure: INSECURE });
    expect(validateSettings({ ...valid, server: ' WS://pbx.example.com' }, false)).toEqual({ allow_insecure: INSECURE });
  });

  it('is fine once allowed', () => {
    expect(validateSettings({ ...valid, server: 'ws://pbx.example.com:8080', allow_insecure: true }, false)).toEqual({});
  });

  it('leaves wss:// alone, allowed or not', () => {
    expect(validateSettings({ ...valid, server: 'wss://sip.example.com' }, false)).toEqual({});
    expect(validateSettings({ ...valid, server: 'WSS://sip.example.com', allow_insecure: true }, false)).toEqual({});
  });

  it("puts the store's refusal on the same field", () => {
    expect(FIELD_OF_CODE['config.insecure_server']).toBe('allow_insecure');
  });
});

describe('accounts by name', () => {
  it('names an account by its display name, else its address', () => {
    expect(accountLabel({ ...valid, display_name: ' Alice ' })).toBe('Alice');
    expect(accountLabel({ ...valid, display_name: '  ' })).toBe('alice@example.com');
  });

  it('keys an address as the engine names the account', () => {
    expect(addressKey(' sip:alice@example.com ')).toBe('alice@example.com');
    expect(addressKey('SIPS:alice @ example.com')).toBe('alice@example.com');
    expect(addressKey('alice@example.com')).toBe(addressKey('sip:alice@example.com'));
  });
});
