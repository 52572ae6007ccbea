//! Everything the settings screen configures besides the account: audio devices and
//! ringtone, codec order, and app behaviour. Stored as `DIR/preferences.json`, validated
//! before it is written, written atomically.

use crate::error::{EngineError, ErrorCode};
use crate::files::{self, Access};
use crate::media::AudioPrefs;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use wren_audio::Ringtone;
use wren_media::CodecKind;

/// A codec by the name the UI uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "snake_case")]
pub enum CodecName {
    Opus,
    Pcmu,
    Pcma,
}

impl From<CodecName> for CodecKind {
    fn from(c: CodecName) -> Self {
        match c {
            CodecName::Opus => CodecKind::Opus,
            CodecName::Pcmu => CodecKind::Pcmu,
            CodecName::Pcma => CodecKind::Pcma,
        }
    }
}

/// The ringtone by the name the UI uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "snake_case")]
pub enum RingtoneName {
    #[default]
    Classic,
    Soft,
    Off,
}

impl From<RingtoneName> for Ringtone {
    fn from(r: RingtoneName) -> Self {
        match r {
            RingtoneName::Classic => Ringtone::Classic,
            RingtoneName::Soft => Ringtone::Soft,
            RingtoneName::Off => Ringtone::Off,
        }
    }
}

/// The UI theme.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "snake_case")]
pub enum Theme {
    #[default]
    System,
    Light,
    Dark,
}

fn full_volume() -> f32 {
    1.0
}

/// Devices by name (`None`: the system default) and the ringtone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct AudioChoice {
    pub microphone: Option<String>,
    pub speaker: Option<String>,
    pub ringer: Option<String>,
    #[serde(default)]
    pub ringtone: RingtoneName,
    /// Speaker volume, 0 to 1 (set from the call screen, kept across restarts).
    #[serde(default = "full_volume")]
    #[cfg_attr(feature = "ts", ts(skip))]
    pub volume: f32,
}

/// One codec's place in the order, and whether it is offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct CodecChoice {
    pub name: CodecName,
    pub enabled: bool,
}

/// App behaviour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(default)]
pub struct AppChoice {
    pub start_at_login: bool,
    pub close_to_tray: bool,
    pub notifications: bool,
    pub theme: Theme,
    /// Ask before dialling a number from a `sip:`/`tel:` link.
    pub confirm_links: bool,
    pub do_not_disturb: bool,
}

impl Default for AppChoice {
    fn default() -> Self {
        Self {
            start_at_login: false,
            close_to_tray: false,
            notifications: true,
            theme: Theme::System,
            confirm_links: true,
            do_not_disturb: false,
        }
    }
}

/// The preferences (the UI's `Preferences`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Preferences {
    pub audio: AudioChoice,
    pub codecs: Vec<CodecChoice>,
    #[serde(default)]
    pub app: AppChoice,
}

impl Default for Preferences {
    fn default() -> Self {
        Self {
            audio: AudioChoice {
                microphone: None,
                speaker: None,
                ringer: None,
                ringtone: RingtoneName::Classic,
                volume: 1.0,
            },
            codecs: [CodecName::Opus, CodecName::Pcmu, CodecName::Pcma]
                .map(|name| CodecChoice {
                    name,
                    enabled: true,
                })
                .to_vec(),
            app: AppChoice::default(),
        }
    }
}

fn invalid(message: &str) -> EngineError {
    EngineError::new(ErrorCode::SettingsInvalid, message)
}

impl Preferences {
    /// Every rule the UI also checks: one or more codecs enabled, each listed once, a
    /// volume from 0 to 1, device names that are names.
    pub fn validate(&self) -> Result<(), EngineError> {
        if !self.codecs.iter().any(|c| c.enabled) {
            return Err(invalid("Enable at least one codec"));
        }
        for (i, c) in self.codecs.iter().enumerate() {
            if self.codecs[..i].iter().any(|d| d.name == c.name) {
                return Err(invalid("a codec is listed twice"));
            }
        }
        if !(0.0..=1.0).contains(&self.audio.volume) {
            return Err(invalid("the volume must be between 0 and 1"));
        }
        let devices = [
            &self.audio.microphone,
            &self.audio.speaker,
            &self.audio.ringer,
        ];
        if devices
            .into_iter()
            .flatten()
            .any(|d| d.trim().is_empty() || d.len() > 512 || d.contains(char::is_control))
        {
            return Err(invalid("a device name is empty or not a name"));
        }
        Ok(())
    }

    /// The enabled codecs, in order.
    pub fn codec_order(&self) -> Vec<CodecKind> {
        self.codecs
            .iter()
            .filter(|c| c.enabled)
            .map(|c| c.name.into())
            .collect()
    }

    /// What the engine's audio takes.
    pub fn audio_prefs(&self) -> AudioPrefs {
        AudioPrefs {
            microphone: self.audio.microphone.clone(),
            speaker: self.audio.speaker.clone(),
            ringer: self.audio.ringer.clone(),
            ringtone: self.audio.ringtone.into(),
            volume: self.audio.volume,
        }
    }
}

/// `DIR/preferences.json`.
#[derive(Debug)]
pub struct PreferencesStore {
    path: PathBuf,
}

impl PreferencesStore {
    /// The store for the profile in `dir`.
    pub fn new(dir: &Path) -> Self {
        Self {
            path: dir.join("preferences.json"),
        }
    }

    /// The saved preferences, the defaults before the first save, or `settings.corrupt`
    /// (the file is left as it is for the user to look at).
    pub fn load(&self) -> Result<Preferences, EngineError> {
        let Some(text) = files::read_optional(&self.path)? else {
            return Ok(Preferences::default());
        };
        let prefs: Preferences = serde_json::from_str(&text).map_err(|e| {
            EngineError::new(
                ErrorCode::SettingsCorrupt,
                format!("{} is not valid preferences: {e}", self.path.display()),
            )
        })?;
        prefs.validate()?;
        Ok(prefs)
    }

    /// Validates and stores; on error the file stays as it was.
    pub fn save(&self, prefs: &Preferences) -> Result<(), EngineError> {
        prefs.validate()?;
        let json = serde_json::to_vec_pretty(prefs)
            .map_err(|e| EngineError::new(ErrorCode::SettingsIo, e.to_string()))?;
        files::write_atomic(&self.path, &json, Access::Default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::tests::TempDir;

    #[test]
    fn preferences_round_trip_and_bad_ones_leave_the_file_alone() {
        let dir = TempDir::new("prefs");
        let store = PreferencesStore::new(&dir.0);
        assert_eq!(store.load().unwrap(), Preferences::default());
        let mut p = Preferences::default();
        p.codecs.swap(0, 2);
        p.codecs[1].enabled = false;
        p.audio.speaker = Some("USB Headset".into());
        p.app.do_not_disturb = true;
        store.save(&p).unwrap();
        assert_eq!(store.load().unwrap(), p);
        assert_eq!(p.codec_order(), [CodecKind::Pcma, CodecKind::Opus]);
        let before = std::fs::read(dir.0.join("preferences.json")).unwrap();
        type Edit = fn(&mut Preferences);
        let bad: [Edit; 4] = [
            |p| p.codecs.iter_mut().for_each(|c| c.enabled = false),
            |p| p.codecs[1].name = p.codecs[0].name,
            |p| p.audio.volume = 1.5,
            |p| p.audio.microphone = Some(" ".into()),
        ];
        for edit in bad {
            let mut q = p.clone();
            edit(&mut q);
            assert_eq!(store.save(&q).unwrap_err().code, ErrorCode::SettingsInvalid);
        }
        assert_eq!(
            std::fs::read(dir.0.join("preferences.json")).unwrap(),
            before
        );
    }

    #[test]
    fn the_ui_shape_parses_and_a_corrupt_file_is_reported() {
        // What ui/src/lib/preferences.ts sends (no volume: it keeps its default).
        let ui = r#"{"audio":{"microphone":null,"speaker":null,"ringer":null,"ringtone":"soft"},
            "codecs":[{"name":"pcmu","enabled":true},{"name":"opus","enabled":false}],
            "app":{"start_at_login":false,"close_to_tray":true,"notifications":true,
                   "theme":"dark","confirm_links":false,"do_not_disturb":false}}"#;
        let p: Preferences = serde_json::from_str(ui).unwrap();
        assert_eq!(p.audio.volume, 1.0);
        assert_eq!(p.audio_prefs().ringtone, Ringtone::Soft);
        assert_eq!(p.codec_order(), [CodecKind::Pcmu]);
        let dir = TempDir::new("prefs-corrupt");
        std::fs::write(dir.0.join("preferences.json"), "{").unwrap();
        let e = PreferencesStore::new(&dir.0).load().unwrap_err();
        assert_eq!(e.code, ErrorCode::SettingsCorrupt);
    }
}
