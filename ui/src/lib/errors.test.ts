import { describe, expect, it } from 'vitest';
import { BackendError } from './backend/types';
// The generated binding's text, so the list of codes is the engine's own rather than a copy.
import errorCodeSource from './bindings/ErrorCode.ts?raw';
import { describeError, ERROR_TEXT, retrySeconds } from './errors';

/** Every code of the `ErrorCode` union, in the order the engine declares them. */
function codesOf(source: string): string[] {
  const union = source.slice(source.indexOf('export type ErrorCode ='));
  return [...union.matchAll(/"([^"]+)"/g)].map((m) => m[1]);
}

const CODES = codesOf(errorCodeSource);
const TEXT = new Map<string, string>(Object.entries(ERROR_TEXT));

describe('ERROR_TEXT', () => {
  it('has every code the engine reports, and no others but the UI own ipc.failed', () => {
    expect(CODES.length).toBeGreaterThan(70);
    expect(new Set(CODES).size).toBe(CODES.length);
    expect([...TEXT.keys()].sort()).toEqual([...CODES, 'ipc.failed'].sort());
  });

  it('words every code for people: not empty, not the raw code', () => {
    const unworded = CODES.filter((code) => {
      const text = TEXT.get(code)?.trim();
      return !text || text === code;
    });
    expect(unworded).toEqual([]);
  });
});

describe('describeError', () => {
  it('words an error by its code, not its message', () => {
    expect(describeError({ code: 'sip.auth_failed', message: '401 Unauthorized' })).toBe('Authentication failed');
    expect(describeError({ code: 'tls.untrusted_certificate', message: 'UnknownIssuer' })).toBe('Certificate not trusted');
    expect(describeError({ code: 'audio.no_device', message: 'hw:2' })).toBe('No audio device');
  });

  it("words the UI's own failure to reach the engine", () => {
    const e = BackendError.from(new Error('IPC channel closed'));
    expect(e).toMatchObject({ code: 'ipc.failed', fault: 'ours', message: 'IPC channel closed' });
    expect(describeError(e)).toBe('Could not reach the phone engine');
  });

  it('falls back to the message for a code newer than these bindings', () => {
    const wire: unknown = { code: 'sip.brand_new', fault: 'peer', message: 'engine text for sip.brand_new' };
    expect(describeError(BackendError.from(wire))).toBe('engine text for sip.brand_new');
  });
});

describe('retrySeconds', () => {
  it('rounds up to whole seconds, never 0', () => {
    expect(retrySeconds(7200)).toBe(8);
    expect(retrySeconds(8000)).toBe(8);
    expect(retrySeconds(0)).toBe(1);
  });
});
