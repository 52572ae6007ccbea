// Human wording for the engine's stable error codes. `ErrorCode` is generated from the Rust
// enum, so a code without text here fails the type check. Classify by `code` only.
import type { ErrorCode } from './bindings/ErrorCode';

/** Codes the UI itself reports (the engine never does). */
export type UiErrorCode = 'ipc.failed';

export const ERROR_TEXT: Readonly<Record<ErrorCode | UiErrorCode, string>> = {
  'sip.auth_failed': 'Authentication failed',
  'sip.auth_unsupported': 'The server asks for an authentication method Wren does not support',
  'sip.timeout': 'The server did not answer',
  'sip.rejected': 'Rejected by the server',
  'sip.malformed': 'The server sent an invalid message',
  'sip.no_ack': 'The caller stopped responding',
  'sip.dialog_gone': 'The other side no longer knows this call',
  'sip.invalid_uri': 'Invalid SIP address',
  'sip.invalid_state': 'Not possible in this call state',
  'sip.no_such_call': 'The call no longer exists',
  'sip.request_pending': 'Another change is still in progress',
  'sip.transfer_failed': 'The transfer did not go through',
  'net.unreachable': 'Server unreachable',
  'net.timeout': 'Connection timed out',
  'net.connection_lost': 'Connection lost',
  'net.not_connected': 'Not connected',
  'net.keepalive_timeout': 'The server stopped responding',
  'net.send_stalled': 'The server stopped reading',
  'tls.untrusted_certificate': 'Certificate not trusted',
  'tls.handshake_failed': 'Secure connection failed',
  'tls.setup_failed': 'Secure connection could not be set up',
  'ws.handshake_failed': 'WebSocket handshake failed',
  'ws.no_sip_subprotocol': 'The server does not offer SIP over WebSocket',
  'ws.closed': 'The server closed the connection',
  'config.invalid_server': 'Invalid WebSocket server',
  'config.invalid_user': 'Invalid SIP user name',
  'config.invalid_domain': 'Invalid SIP domain',
  'config.missing_password': 'No password set',
  'config.invalid_expires': 'Invalid registration expiry',
  'config.invalid_fingerprint': 'Not a certificate fingerprint (SHA-256)',
  'config.ca_not_found': 'CA certificate file not found',
  'config.invalid_ca': 'Invalid CA certificate',
  'config.no_codecs': 'No codec enabled',
  'media.bind_failed': 'Could not open a media port',
  'media.not_sending': 'The call has no audio yet',
  'media.invalid_dtmf': 'Not a keypad tone',
  'media.dtmf_unsupported': 'The other side does not accept keypad tones',
  'media.dtmf_queue_full': 'Too many keypad tones waiting',
  'media.invalid_payload_type': 'Unsupported media format',
  'codec.opus': 'Audio codec failure',
  'codec.invalid_payload': 'Unreadable audio from the other side',
  'codec.unknown': 'Unknown codec',
  'sdp.malformed': 'The other side sent an invalid call description',
  'sdp.no_audio': 'The other side offered no audio',
  'sdp.audio_rejected': 'The other side refused audio',
  'sdp.unsupported_transport': 'The other side needs an encryption Wren does not support yet',
  'sdp.no_common_codec': 'No audio codec in common',
  'sdp.no_connection': 'The other side sent no media address',
  'sdp.unsupported_address': 'The other side sent a media address Wren cannot use',
  'audio.file_not_found': 'Audio file not found',
  'audio.unsupported_format': 'Audio file format not supported',
  'audio.invalid_file': 'The audio file is damaged',
  'audio.io': 'Audio could not be read or written',
  'audio.resample': 'Audio conversion failed',
  'audio.no_device': 'No audio device',
  'audio.device': 'Audio device failure',
  'settings.invalid': 'Some settings have values Wren cannot use',
  'settings.corrupt': 'The settings file is damaged; it was left as it is',
  'settings.io': 'The settings could not be saved',
  'settings.missing': 'Save the account first',
  'settings.unknown_account': 'That account is no longer saved',
  'settings.duplicate_account': 'Another account already has this SIP address',
  'secrets.unavailable': 'No secure password store (keyring) is available on this system',
  'secrets.failed': 'The password could not be stored or read',
  'history.failed': 'The call history could not be read or saved',
  'engine.stopped': 'The phone engine stopped',
  'engine.failed': 'Something went wrong inside Wren',
  'engine.not_configured': 'No account set up yet',
  'engine.no_such_account': 'That account no longer exists',
  'engine.too_many_calls': 'Too many calls at once',
  'engine.different_accounts': 'Both calls must be on the same account',
  'cli.invalid_codec': 'Unknown codec',
  'cli.invalid_duration': 'Invalid duration',
  'cli.invalid_tone': 'Invalid tone',
  'cli.no_incoming_call': 'No call came in',
  'cli.hangup_timeout': 'The call did not end',
  'cli.internal': 'Something went wrong inside Wren',
  'ipc.failed': 'Could not reach the phone engine',
};

/** A short human reason for an error, chosen by its code. */
export function describeError(error: { code: ErrorCode | UiErrorCode; message: string }): string {
  return ERROR_TEXT[error.code] ?? error.message;
}

/** Whole seconds to wait, rounded up: "retrying in 8 s", never "in 0 s". */
export function retrySeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}
