// Which key presses are the window's shortcuts and which belong to the focused control.

const NOT_TEXT = new Set(['button', 'checkbox', 'color', 'radio', 'range', 'reset', 'submit']);

/** True when the focused element takes typed text, so digits and Escape are its own. */
export function isTextEntry(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  if (target instanceof HTMLInputElement) return !NOT_TEXT.has(target.type);
  return target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement || target.isContentEditable;
}
