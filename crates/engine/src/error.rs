//! Errors the engine reports: a typed [`ErrorCode`] (stable text `area.what` that UIs and
//! scripts match on), whose fault it is, and a human message.

use serde::Serialize;
use std::fmt;

/// Whose fault an error is (rustls-style): it decides what a UI suggests and whether retrying
/// can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// The server or far end misbehaved or can't do what we need.
    Peer,
    /// The network between us failed.
    Network,
    /// The user's input or choice (a typo, a wrong password, a call that is gone).
    User,
    /// Ours: this machine or Wren itself.
    Ours,
}

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $name:ident = $text:literal, $fault:ident; )*) => {
        /// Every error the engine (and the CLI) reports, by its stable code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        #[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
        pub enum ErrorCode {
            $( $(#[$doc])* #[serde(rename = $text)] $name, )*
        }

        impl ErrorCode {
            /// Every code.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$name),*];

            /// The stable text, `area.what`.
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$name => $text),* }
            }

            /// Whose fault it is.
            pub fn fault(self) -> Fault {
                match self { $(ErrorCode::$name => Fault::$fault),* }
            }
        }
    };
}

error_codes! {
    /// The server refused the user name or password.
    SipAuthFailed = "sip.auth_failed", User;
    /// The server asks for an authentication scheme Wren can't answer.
    SipAuthUnsupported = "sip.auth_unsupported", Peer;
    /// No answer to a request in time (RFC 3261 Timer B/F).
    SipTimeout = "sip.timeout", Network;
    /// The server refused the request with this status.
    SipRejected = "sip.rejected", Peer;
    /// The server sent a message that isn't valid SIP.
    SipMalformed = "sip.malformed", Peer;
    /// The caller never acknowledged our answer.
    SipNoAck = "sip.no_ack", Network;
    /// The far end no longer knows the call.
    SipDialogGone = "sip.dialog_gone", Peer;
    /// The server kept challenging with `stale=true`; Wren stopped re-sending.
    SipAuthLoop = "sip.auth_loop", Peer;
    /// The server kept asking for a longer registration (423) than Wren will grant.
    SipIntervalTooBrief = "sip.interval_too_brief", Peer;
    /// Not a SIP address Wren can call.
    SipInvalidUri = "sip.invalid_uri", User;
    /// Not possible in the call's state.
    SipInvalidState = "sip.invalid_state", User;
    /// The call no longer exists.
    SipNoSuchCall = "sip.no_such_call", User;
    /// Another request of the call is still under way.
    SipRequestPending = "sip.request_pending", User;
    /// The far end could not carry out the transfer.
    SipTransferFailed = "sip.transfer_failed", Peer;
    /// The server can't be reached.
    NetUnreachable = "net.unreachable", Network;
    /// The server didn't answer the connection in time.
    NetTimeout = "net.timeout", Network;
    /// The connection broke.
    NetConnectionLost = "net.connection_lost", Network;
    /// Not connected to the server.
    NetNotConnected = "net.not_connected", Network;
    /// The server stopped answering keep-alives.
    NetKeepaliveTimeout = "net.keepalive_timeout", Network;
    /// The server stopped reading what we send.
    NetSendStalled = "net.send_stalled", Network;
    /// The server's certificate is not trusted.
    TlsUntrustedCertificate = "tls.untrusted_certificate", Peer;
    /// The server's certificate names another server.
    TlsNameMismatch = "tls.name_mismatch", Peer;
    /// The server's certificate has expired.
    TlsExpired = "tls.expired", Peer;
    /// The server's certificate is not valid yet (or this computer's clock is wrong).
    TlsNotYetValid = "tls.not_yet_valid", Peer;
    /// The server's certificate comes from an authority this system doesn't trust
    /// (self-signed, or a private CA).
    TlsUnknownIssuer = "tls.unknown_issuer", Peer;
    /// The TLS handshake failed.
    TlsHandshakeFailed = "tls.handshake_failed", Peer;
    /// TLS could not be set up here.
    TlsSetupFailed = "tls.setup_failed", Ours;
    /// The WebSocket upgrade failed.
    WsHandshakeFailed = "ws.handshake_failed", Peer;
    /// The server didn't select the `sip` subprotocol (RFC 7118 §4.1).
    WsNoSipSubprotocol = "ws.no_sip_subprotocol", Peer;
    /// The server closed the connection.
    WsClosed = "ws.closed", Peer;
    /// The server sent a WebSocket message larger than any SIP message.
    WsMessageTooBig = "ws.message_too_big", Peer;
    /// The server URL is not a ws:// or wss:// URL.
    ConfigInvalidServer = "config.invalid_server", User;
    /// A `ws://` server without the user's explicit choice of an unencrypted connection.
    ConfigInsecureServer = "config.insecure_server", User;
    /// The user name is empty or invalid.
    ConfigInvalidUser = "config.invalid_user", User;
    /// The SIP domain is invalid.
    ConfigInvalidDomain = "config.invalid_domain", User;
    /// No password was given.
    ConfigMissingPassword = "config.missing_password", User;
    /// The registration expiry is out of range.
    ConfigInvalidExpires = "config.invalid_expires", User;
    /// Not a SHA-256 certificate fingerprint.
    ConfigInvalidFingerprint = "config.invalid_fingerprint", User;
    /// The CA certificate file doesn't exist.
    ConfigCaNotFound = "config.ca_not_found", User;
    /// The CA certificate file can't be used.
    ConfigInvalidCa = "config.invalid_ca", User;
    /// No codec is enabled.
    ConfigNoCodecs = "config.no_codecs", User;
    /// No RTP port pair could be bound.
    MediaBindFailed = "media.bind_failed", Ours;
    /// No RTP and no RTCP came from the other side for the media timeout: the call was ended.
    MediaTimeout = "media.timeout", Network;
    /// The other side ended its stream (RTCP BYE) and sent nothing more: the call was ended.
    MediaRemoteBye = "media.remote_bye", Peer;
    /// The call has no media yet, or is held.
    MediaNotSending = "media.not_sending", User;
    /// Not a DTMF digit.
    MediaInvalidDtmf = "media.invalid_dtmf", User;
    /// The far end doesn't accept RFC 4733 telephone-events.
    MediaDtmfUnsupported = "media.dtmf_unsupported", Peer;
    /// Too many DTMF digits are waiting.
    MediaDtmfQueueFull = "media.dtmf_queue_full", User;
    /// A payload type outside 0-127.
    MediaInvalidPayloadType = "media.invalid_payload_type", Ours;
    /// The Opus codec failed.
    CodecOpus = "codec.opus", Ours;
    /// An RTP payload the codec can't decode.
    CodecInvalidPayload = "codec.invalid_payload", Peer;
    /// A codec name Wren doesn't know.
    CodecUnknown = "codec.unknown", User;
    /// The far end's SDP can't be parsed.
    SdpMalformed = "sdp.malformed", Peer;
    /// The SDP has no audio stream.
    SdpNoAudio = "sdp.no_audio", Peer;
    /// The far end rejected the audio stream (port 0).
    SdpAudioRejected = "sdp.audio_rejected", Peer;
    /// The SDP asks for a media transport Wren doesn't speak.
    SdpUnsupportedTransport = "sdp.unsupported_transport", Peer;
    /// No codec both sides support.
    SdpNoCommonCodec = "sdp.no_common_codec", Peer;
    /// The SDP has no connection address.
    SdpNoConnection = "sdp.no_connection", Peer;
    /// The SDP's address is not an IP address.
    SdpUnsupportedAddress = "sdp.unsupported_address", Peer;
    /// The audio file doesn't exist.
    AudioFileNotFound = "audio.file_not_found", User;
    /// The audio file's format is not supported.
    AudioUnsupportedFormat = "audio.unsupported_format", User;
    /// The audio file is broken.
    AudioInvalidFile = "audio.invalid_file", User;
    /// Reading or writing audio failed.
    AudioIo = "audio.io", Ours;
    /// Resampling failed.
    AudioResample = "audio.resample", Ours;
    /// The sound device isn't there.
    AudioNoDevice = "audio.no_device", User;
    /// The sound device failed.
    AudioDevice = "audio.device", Ours;
    /// A setting has a value Wren can't use.
    SettingsInvalid = "settings.invalid", User;
    /// The settings file can't be read; it is left as it is.
    SettingsCorrupt = "settings.corrupt", Ours;
    /// The settings could not be written.
    SettingsIo = "settings.io", Ours;
    /// No account settings were saved yet.
    SettingsMissing = "settings.missing", User;
    /// No saved account has that id (removed meanwhile, say).
    SettingsUnknownAccount = "settings.unknown_account", User;
    /// Another saved account already has this SIP address.
    SettingsDuplicateAccount = "settings.duplicate_account", User;
    /// No secure password store is available.
    SecretsUnavailable = "secrets.unavailable", Ours;
    /// The password store failed.
    SecretsFailed = "secrets.failed", Ours;
    /// The call history could not be read or written.
    HistoryFailed = "history.failed", Ours;
    /// The engine has stopped.
    EngineStopped = "engine.stopped", Ours;
    /// An internal task failed.
    EngineFailed = "engine.failed", Ours;
    /// No account is set up yet.
    EngineNotConfigured = "engine.not_configured", User;
    /// There is no such account.
    EngineNoSuchAccount = "engine.no_such_account", User;
    /// Too many calls at once.
    EngineTooManyCalls = "engine.too_many_calls", User;
    /// The calls are on different accounts.
    EngineDifferentAccounts = "engine.different_accounts", User;
    /// An unknown codec name on the command line.
    CliInvalidCodec = "cli.invalid_codec", User;
    /// A duration that is not a positive number.
    CliInvalidDuration = "cli.invalid_duration", User;
    /// A tone frequency out of range.
    CliInvalidTone = "cli.invalid_tone", User;
    /// No call arrived in time.
    CliNoIncomingCall = "cli.no_incoming_call", Peer;
    /// The call didn't end after hanging up.
    CliHangupTimeout = "cli.hangup_timeout", Peer;
    /// The command line tool failed.
    CliInternal = "cli.internal", Ours;
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failure with a stable `code`, whose `fault` it is, and a human message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct EngineError {
    pub code: ErrorCode,
    pub fault: Fault,
    pub message: String,
}

impl EngineError {
    /// An error with `code`; control characters in `message` (which often quotes the
    /// network: a close reason, a reason phrase, a server's text) are escaped here, so no
    /// error can carry a terminal escape sequence or a forged line to a screen or log.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            fault: code.fault(),
            message: printable(&message.into()),
        }
    }
}

/// `text` with every control character (C0, DEL, C1: ESC, CR, LF, CSI...) written as a
/// `\u{..}` escape; everything else as it is.
pub fn printable(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

impl ErrorCode {
    /// A refused server certificate (the user may check and trust it by fingerprint).
    pub fn is_certificate(self) -> bool {
        matches!(
            self,
            ErrorCode::TlsUntrustedCertificate
                | ErrorCode::TlsNameMismatch
                | ErrorCode::TlsExpired
                | ErrorCode::TlsNotYetValid
                | ErrorCode::TlsUnknownIssuer
        )
    }
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for EngineError {}

impl From<wren_sip::SipError> for EngineError {
    fn from(e: wren_sip::SipError) -> Self {
        use wren_sip::SipError as E;
        let code = match &e {
            E::AuthFailed => ErrorCode::SipAuthFailed,
            E::AuthUnsupported(_) => ErrorCode::SipAuthUnsupported,
            E::Timeout => ErrorCode::SipTimeout,
            E::Rejected(_) => ErrorCode::SipRejected,
            E::Malformed => ErrorCode::SipMalformed,
            E::NoAck => ErrorCode::SipNoAck,
            E::DialogGone => ErrorCode::SipDialogGone,
            E::AuthLoop => ErrorCode::SipAuthLoop,
            E::IntervalTooBrief => ErrorCode::SipIntervalTooBrief,
        };
        Self::new(code, e.to_string())
    }
}

impl From<wren_sip::UaError> for EngineError {
    fn from(e: wren_sip::UaError) -> Self {
        use wren_sip::UaError as E;
        let code = match &e {
            E::InvalidUri(_) => ErrorCode::SipInvalidUri,
            E::NoSuchCall => ErrorCode::SipNoSuchCall,
            E::InvalidState => ErrorCode::SipInvalidState,
            E::Pending => ErrorCode::SipRequestPending,
        };
        Self::new(code, e.to_string())
    }
}

impl From<wren_media::SdpError> for EngineError {
    fn from(e: wren_media::SdpError) -> Self {
        use wren_media::SdpError as E;
        let code = match &e {
            E::Malformed(_) => ErrorCode::SdpMalformed,
            E::NoAudio => ErrorCode::SdpNoAudio,
            E::AudioRejected => ErrorCode::SdpAudioRejected,
            E::UnsupportedTransport(_) => ErrorCode::SdpUnsupportedTransport,
            E::NoCommonCodec => ErrorCode::SdpNoCommonCodec,
            E::NoConnection => ErrorCode::SdpNoConnection,
            E::UnsupportedAddress(_) => ErrorCode::SdpUnsupportedAddress,
        };
        Self::new(code, e.to_string())
    }
}

impl From<wren_media::MediaError> for EngineError {
    fn from(e: wren_media::MediaError) -> Self {
        use wren_media::codec::CodecError;
        use wren_media::MediaError as E;
        let code = match &e {
            E::Codec(CodecError::Opus(_)) => ErrorCode::CodecOpus,
            E::Codec(CodecError::InvalidPayload { .. }) => ErrorCode::CodecInvalidPayload,
            E::InvalidPayloadType(_) => ErrorCode::MediaInvalidPayloadType,
            E::DtmfUnsupported => ErrorCode::MediaDtmfUnsupported,
            E::InvalidDtmf(_) => ErrorCode::MediaInvalidDtmf,
            E::DtmfQueueFull => ErrorCode::MediaDtmfQueueFull,
            E::NotSending => ErrorCode::MediaNotSending,
        };
        Self::new(code, e.to_string())
    }
}

impl From<wren_audio::AudioError> for EngineError {
    fn from(e: wren_audio::AudioError) -> Self {
        use wren_audio::AudioError as E;
        let code = match &e {
            E::FileNotFound(_) => ErrorCode::AudioFileNotFound,
            E::UnsupportedFormat(_) => ErrorCode::AudioUnsupportedFormat,
            E::InvalidFile(_) => ErrorCode::AudioInvalidFile,
            E::Io(_) => ErrorCode::AudioIo,
            E::Resample(_) => ErrorCode::AudioResample,
            E::NoDevice(_) => ErrorCode::AudioNoDevice,
            E::Device(_) => ErrorCode::AudioDevice,
        };
        Self::new(code, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_shaped_area_dot_what() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            let text = code.as_str();
            assert!(seen.insert(text), "{text} twice");
            let (area, what) = text.split_once('.').expect("area.what");
            assert!(!area.is_empty() && !what.is_empty(), "{text}");
            assert!(
                text.chars()
                    .all(|c| c.is_ascii_lowercase() || c == '.' || c == '_'),
                "{text}"
            );
            // Serialized as its text, which is what the UI and the CLI's JSON carry.
            assert_eq!(serde_json::to_value(code).unwrap(), text);
        }
    }

    #[test]
    fn lower_layers_codes_map_to_the_same_text() {
        let sip = wren_sip::SipError::Timeout;
        assert_eq!(EngineError::from(sip.clone()).code.as_str(), sip.code());
        let ua = wren_sip::UaError::Pending;
        let text = ua.code();
        assert_eq!(EngineError::from(ua).code.as_str(), text);
        let sdp = wren_media::SdpError::NoCommonCodec;
        let text = sdp.code();
        assert_eq!(EngineError::from(sdp).code.as_str(), text);
        let media = wren_media::MediaError::DtmfQueueFull;
        let text = media.code();
        assert_eq!(EngineError::from(media).code.as_str(), text);
    }
}
