// Base64 without Node's Buffer, so the package runs unchanged in browsers. Table-driven in both
// directions (btoa over a binary string is several times slower), and neither direction builds a
// string longer than its own output.

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const PAD = 61; // '='
const ENCODE = Uint8Array.from(ALPHABET, (c) => c.charCodeAt(0));
/** Char code → 6 bits; 64 for a character outside the alphabet. */
const DECODE = new Uint8Array(65536).fill(64);
ENCODE.forEach((code, value) => (DECODE[code] = value));

/** Base64 of `bytes`, its characters first written into `scratch` if that is large enough (pieces of one array share one). @internal */
export function encodeBase64(bytes: Uint8Array, scratch?: Uint8Array): string {
  const size = Math.ceil(bytes.length / 3) * 4;
  const ascii = scratch && scratch.length >= size ? scratch.subarray(0, size) : new Uint8Array(size);
  let o = 0;
  let i = 0;
  for (; i + 2 < bytes.length; i += 3, o += 4) {
    const v = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    ascii[o] = ENCODE[v >>> 18];
    ascii[o + 1] = ENCODE[(v >>> 12) & 63];
    ascii[o + 2] = ENCODE[(v >>> 6) & 63];
    ascii[o + 3] = ENCODE[v & 63];
  }
  if (i < bytes.length) {
    const two = i + 1 < bytes.length;
    const v = (bytes[i] << 16) | (two ? bytes[i + 1] << 8 : 0);
    ascii[o] = ENCODE[v >>> 18];
    ascii[o + 1] = ENCODE[(v >>> 12) & 63];
    ascii[o + 2] = two ? ENCODE[(v >>> 6) & 63] : PAD;
    ascii[o + 3] = PAD;
  }
  // Every byte is ASCII, which latin1 (windows-1252 in browsers) maps to itself.
  return new TextDecoder('latin1').decode(ascii);
}

/**
 * The number of bytes `text` decodes to, or -1 if it is not padded base64 of whole quads. Checks the
 * last quad's characters (where padding goes, and so the length); the rest are checked as they decode.
 * @internal
 */
export function decodedLength(text: string): number {
  if (text.length % 4 !== 0) return -1;
  if (text.length === 0) return 0;
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  for (let i = text.length - 4; i < text.length - padding; i++) if (DECODE[text.charCodeAt(i)] === 64) return -1;
  return (text.length / 4) * 3 - padding;
}

/**
 * Decodes `text` (checked by decodedLength) into `out` from byte `at`. Returns false, having
 * written part of it, if `text` holds a character outside base64 (or padding before its end).
 * @internal
 */
export function decodeBase64Into(text: string, out: Uint8Array, at: number): boolean {
  const bytes = decodedLength(text);
  if (bytes < 0) return false;
  const whole = Math.floor(bytes / 3) * 4; // quads that decode to three bytes
  let bad = 0;
  let o = at;
  for (let i = 0; i < whole; i += 4, o += 3) {
    const a = DECODE[text.charCodeAt(i)];
    const b = DECODE[text.charCodeAt(i + 1)];
    const c = DECODE[text.charCodeAt(i + 2)];
    const d = DECODE[text.charCodeAt(i + 3)];
    bad |= a | b | c | d;
    const v = (a << 18) | (b << 12) | (c << 6) | d;
    out[o] = v >>> 16;
    out[o + 1] = v >>> 8;
    out[o + 2] = v;
  }
  const rest = bytes % 3;
  if (rest > 0) {
    const a = DECODE[text.charCodeAt(whole)];
    const b = DECODE[text.charCodeAt(whole + 1)];
    const c = rest === 2 ? DECODE[text.charCodeAt(whole + 2)] : 0;
    bad |= a | b | c;
    const v = (a << 18) | (b << 12) | (c << 6);
    out[o] = v >>> 16;
    if (rest === 2) out[o + 1] = v >>> 8;
  }
  return (bad & 64) === 0;
}

/** Decodes padded base64; throws a TypeError on anything else. @internal */
export function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const length = decodedLength(text);
  const bytes = new Uint8Array(Math.max(length, 0));
  if (!decodeBase64Into(text, bytes, 0)) throw new TypeError('not valid base64');
  return bytes;
}
