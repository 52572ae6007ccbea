import { mount } from 'svelte';
import './theme.css';
import App from './App.svelte';
import type { Backend } from './lib/backend/types';
import { DEFAULT_PREFERENCES } from './lib/preferences';
import { SavedAccountsStore } from './lib/state/accounts.svelte';
import { EngineStore } from './lib/state/engine.svelte';

/** Inside Tauri talk to the engine; in a plain browser (npm run dev) use the in-memory mock. */
async function pickBackend(): Promise<Backend> {
  if ('__TAURI_INTERNALS__' in window) {
    const { TauriBackend } = await import('./lib/backend/tauri');
    return new TauriBackend();
  }
  const { MockBackend } = await import('./lib/backend/mock');
  const mock = new MockBackend();
  // Drive the fake engine from the devtools console: wrenMock.incoming("sip:bob@example.com").
  (window as unknown as { wrenMock: unknown }).wrenMock = mock;
  return mock;
}

const backend = await pickBackend();
const store = new EngineStore(backend);
await store.start();
// Unreadable preferences must not keep the phone from starting; the defaults stand in, loudly.
const loadPreferences = backend.loadPreferences().catch((e: unknown) => {
  console.error('could not load preferences, using defaults', e);
  return DEFAULT_PREFERENCES;
});
// An unreadable account list opens the settings, which say why.
const saved = new SavedAccountsStore(backend);
const [preferences] = await Promise.all([loadPreferences, saved.load()]);

export default mount(App, { target: document.getElementById('app')!, props: { backend, store, saved, preferences } });
