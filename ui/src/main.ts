import { mount } from 'svelte';
import App from './App.svelte';
import type { Backend } from './lib/backend/types';
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
const saved = await backend.loadSettings();

export default mount(App, { target: document.getElementById('app')!, props: { backend, store, saved } });
