import { render, screen } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { engineError, ERROR_CODES } from '../backend/mock';
import type { ConnectionState } from '../bindings/ConnectionState';
import type { ErrorCode } from '../bindings/ErrorCode';
import type { RegistrationState } from '../bindings/RegistrationState';
import { ERROR_TEXT } from '../errors';
import RegistrationStatus from './RegistrationStatus.svelte';

const connected: ConnectionState = { state: 'connected' };

function status(connection: ConnectionState, registration: RegistrationState): string {
  const { unmount } = render(RegistrationStatus, { connection, registration });
  const text = screen.getByRole('status').textContent!.trim();
  unmount();
  return text;
}

type Disconnected = Extract<ConnectionState, { state: 'disconnected' }>;

const failed = (code: ErrorCode, status: number | null = null): RegistrationState => ({
  state: 'failed',
  error: engineError(code, `engine text for ${code}`),
  status,
});

describe('RegistrationStatus', () => {
  it('shows registered, registering, connecting and not registered', () => {
    expect(status(connected, { state: 'registered', expires: 600 })).toBe('Registered');
    expect(status(connected, { state: 'registering' })).toBe('Registering');
    expect(status({ state: 'connecting' }, { state: 'unregistered' })).toBe('Connecting');
    expect(status(connected, { state: 'unregistered' })).toBe('Not registered');
  });

  it('names the reason a registration failed', () => {
    expect(status(connected, failed('sip.auth_failed', 401))).toBe('Failed: Authentication failed');
    expect(status(connected, failed('tls.untrusted_certificate'))).toBe('Failed: Certificate not trusted');
    expect(status(connected, failed('sip.rejected', 403))).toBe('Failed: Rejected by the server (403)');
  });

  it('says when it will retry an unreachable server', () => {
    const down: Disconnected = {
      state: 'disconnected',
      error: engineError('net.unreachable', 'connect: ECONNREFUSED 192.0.2.1'),
      retry_in_ms: 8000,
      certificate: null,
    };
    expect(status(down, { state: 'registered', expires: 600 })).toBe('Failed: Server unreachable, retrying in 8 s');
    expect(status({ ...down, retry_in_ms: 7200 }, { state: 'registering' })).toBe(
      'Failed: Server unreachable, retrying in 8 s',
    );
    expect(status({ ...down, retry_in_ms: null }, { state: 'unregistered' })).toBe('Failed: Server unreachable');
  });

  it.each(ERROR_CODES)('renders %s by its code, not its message', (code) => {
    const text = ERROR_TEXT[code];
    expect(status(connected, failed(code))).toBe(`Failed: ${text}`);
    const down: ConnectionState = { state: 'disconnected', error: engineError(code, 'ignored'), retry_in_ms: null, certificate: null };
    expect(status(down, { state: 'unregistered' })).toBe(`Failed: ${text}`);
  });
});

describe('an unencrypted account', () => {
  const NOT_ENCRYPTED = 'Not encrypted: this account connects over ws://';

  it('is marked beside its state, which stays just the state', () => {
    render(RegistrationStatus, { connection: connected, registration: { state: 'registered', expires: 600 }, secure: false });
    const badge = screen.getByLabelText(NOT_ENCRYPTED);
    expect(badge).toHaveTextContent('Not encrypted');
    expect(badge).toHaveClass('warning');
    expect(badge).toHaveAttribute('title', NOT_ENCRYPTED);
    expect(screen.getByRole('status').textContent!.trim()).toBe('Registered');
  });

  it('is not marked when its flow is encrypted', () => {
    render(RegistrationStatus, { connection: connected, registration: { state: 'registered', expires: 600 }, secure: true });
    expect(screen.queryByLabelText(NOT_ENCRYPTED)).toBeNull();
    expect(screen.queryByText('Not encrypted')).toBeNull();
  });
});

describe('an untrusted server certificate', () => {
  const sha256 = '3A:F1:0B:7C:'.repeat(7) + '3A:F1:0B:7C';
  const untrusted: ConnectionState = {
    state: 'disconnected',
    error: engineError('tls.untrusted_certificate', 'UnknownIssuer'),
    retry_in_ms: null,
    certificate: { sha256 },
  };

  it('shows the fingerprint and trusts exactly that one', async () => {
    const ontrust = vi.fn();
    render(RegistrationStatus, { connection: untrusted, registration: { state: 'unregistered' }, ontrust });
    expect(screen.getByRole('status')).toHaveTextContent('Failed: Certificate not trusted');
    expect(screen.getByLabelText('Certificate fingerprint')).toHaveTextContent(sha256);
    await userEvent.setup().click(screen.getByRole('button', { name: 'Trust certificate' }));
    expect(ontrust).toHaveBeenCalledWith(sha256);
  });

  it('says which problem trusting accepts, by the refusal', () => {
    const cases: [string, RegExp][] = [
      ['tls.name_mismatch', /names another server/],
      ['tls.expired', /has expired/],
      ['tls.not_yet_valid', /not valid yet/],
      ['tls.unknown_issuer', /self-signed or a private CA/],
      ['tls.untrusted_certificate', /does not trust it/],
    ];
    for (const [code, problem] of cases) {
      const { unmount } = render(RegistrationStatus, {
        connection: { ...untrusted, error: engineError(code as ErrorCode, 'x') },
        registration: { state: 'unregistered' },
        ontrust: vi.fn(),
      });
      const button = screen.getByRole('button', { name: 'Trust certificate' });
      expect(button).toHaveAccessibleDescription(problem);
      unmount();
    }
  });

  it('offers nothing to trust for other failures', () => {
    render(RegistrationStatus, {
      connection: { ...untrusted, error: engineError('net.unreachable', 'x'), certificate: null },
      registration: { state: 'unregistered' },
      ontrust: vi.fn(),
    });
    expect(screen.queryByRole('button', { name: 'Trust certificate' })).toBeNull();
  });

  it("says whose certificate it is when several accounts are shown, keeping the status just the state", async () => {
    const ontrust = vi.fn();
    render(RegistrationStatus, {
      connection: untrusted,
      registration: { state: 'unregistered' },
      name: 'work@example.org',
      qualify: true,
      ontrust,
    });
    expect(screen.getByRole('status')).toHaveTextContent(/^Failed: Certificate not trusted$/);
    expect(screen.getByText('work@example.org')).toBeInTheDocument();
    expect(screen.getByLabelText('Certificate fingerprint for work@example.org')).toHaveTextContent(sha256);
    await userEvent.setup().click(screen.getByRole('button', { name: 'Trust certificate for work@example.org' }));
    expect(ontrust).toHaveBeenCalledWith(sha256);
  });
});
