// Human wording for the engine's stable error codes. Classify by `code` only: the engine's
// `message` is for logs and is the last resort for a code this table doesn't know yet.
import type { EngineError } from './bindings/EngineError';

export const ERROR_TEXT: Readonly<Record<string, string>> = {
  'sip.auth_failed': 'Authentication failed',
  'sip.auth_unsupported': 'The server asks for an authentication method Wren does not support',
  'sip.timeout': 'The server did not answer',
  'sip.rejected': 'Rejected by the server',
  'sip.malformed': 'The server sent an invalid message',
  'sip.invalid_uri': 'Invalid SIP address',
  'sip.invalid_state': 'Not possible in this call state',
  'sip.no_such_call': 'The call no longer exists',
  'sip.no_ack': 'The caller stopped responding',
  'tls.untrusted_certificate': 'Certificate not trusted',
  'tls.handshake_failed': 'Secure connection failed',
  'tls.setup_failed': 'Secure connection could not be set up',
  'net.unreachable': 'Server unreachable',
  'net.timeout': 'Connection timed out',
  'net.connection_lost': 'Connection lost',
  'net.not_connected': 'Not connected',
  'net.keepalive_timeout': 'The server stopped responding',
  'ws.handshake_failed': 'WebSocket handshake failed',
  'ws.no_sip_subprotocol': 'The server does not offer SIP over WebSocket',
  'ws.closed': 'The server closed the connection',
  'config.invalid_server': 'Invalid WebSocket server',
  'config.invalid_user': 'Invalid SIP user name',
  'config.invalid_domain': 'Invalid SIP domain',
  'config.missing_password': 'No password set',
  'config.invalid_expires': 'Invalid registration expiry',
  'config.ca_not_found': 'CA certificate file not found',
  'config.invalid_ca': 'Invalid CA certificate',
  'config.no_codecs': 'No codec enabled',
  'media.bind_failed': 'Could not open a media port',
  'media.codec_failed': 'Audio codec failure',
  'media.invalid_payload_type': 'Unsupported media format',
  'audio.no_device': 'No audio device',
  'audio.device': 'Audio device failure',
  'audio.device_not_found': 'The chosen audio device is not connected',
  'media.dtmf_unsupported': 'The other side does not accept keypad tones',
  'sip.request_pending': 'Another change is still in progress',
  'secrets.unavailable': 'No secure password store (keyring) is available on this system',
  'secrets.failed': 'The password could not be stored or read',
  'history.failed': 'The call history could not be read or saved',
  'settings.invalid': 'Some settings have values Wren cannot use',
  'engine.not_configured': 'No account set up yet',
  'engine.unsupported': 'Not supported by this version yet',
  'engine.stopped': 'The phone engine stopped',
  'ipc.failed': 'Could not reach the phone engine',
};

/** A short human reason for an error, chosen by its code. */
export function describeError(error: EngineError): string {
  return ERROR_TEXT[error.code] ?? error.message;
}

/** Whole seconds to wait, rounded up: "retrying in 8 s", never "in 0 s". */
export function retrySeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}
