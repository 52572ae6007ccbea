// What the dialpad accepts: a phone number or a SIP address.

/** A SIP or SIPS URI is kept exactly as typed (trimmed). */
const SIP_URI = /^sips?:/i;
/** Phone numbers as people paste them: "+44 20 7946-0958", "(555) 010.4477". */
const FORMATTED_NUMBER = /^\+?[\d\s\-.()/]+$/;

/** Cleans pasted text: separators leave numbers, SIP URIs and addresses stay as they are. */
export function normalizeDialInput(text: string): string {
  const t = text.trim();
  if (SIP_URI.test(t)) return t;
  if (FORMATTED_NUMBER.test(t) && /\d/.test(t)) return t.replace(/[\s\-.()/]/g, '');
  return t;
}

/** The keys a dialpad has. */
export const DIAL_KEYS = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '0', '#'] as const;

export function isDialKey(key: string): boolean {
  return (DIAL_KEYS as readonly string[]).includes(key);
}
