// Defaults and validation of the preferences (audio, codecs, app behaviour); the rules mirror
// what the engine refuses with `settings.invalid`.
import type { CodecName, Preferences } from './backend/types';

export const DEFAULT_PREFERENCES: Preferences = {
  audio: { microphone: null, speaker: null, ringer: null, ringtone: 'classic' },
  codecs: [
    { name: 'opus', enabled: true },
    { name: 'pcmu', enabled: true },
    { name: 'pcma', enabled: true },
  ],
  app: {
    start_at_login: false,
    close_to_tray: false,
    notifications: true,
    theme: 'system',
    confirm_links: true,
    do_not_disturb: false,
  },
};

export const CODEC_LABELS: Readonly<Record<CodecName, string>> = {
  opus: 'Opus',
  pcmu: 'G.711 µ-law (PCMU)',
  pcma: 'G.711 A-law (PCMA)',
};

export type PreferencesErrors = { codecs?: string };

/** Every problem with the preferences, by section; empty when they can be saved. */
export function validatePreferences(p: Preferences): PreferencesErrors {
  return p.codecs.some((c) => c.enabled) ? {} : { codecs: 'Enable at least one codec' };
}
