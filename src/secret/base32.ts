/**
 * The two base32 variants Flyte uses (Flyte: `utils/secrets/marshaler.go`), both **without padding**:
 *
 * - Flyte's custom lowercase alphabet `abcdefghijklmnopqrstuvwxyz123456` — annotation values (`flyte.secrets/s<i>`)
 *   and K8s secret volume names;
 * - the RFC 4648 standard alphabet `A-Z2-7` — the name component of Azure Key Vault secret names.
 *
 * Decoding follows Go's `encoding/base32` with `NoPadding` byte for byte, including its quirks:
 * CR and LF anywhere are ignored; any other byte outside the alphabet (uppercase letters for the custom alphabet,
 * `=`, spaces, non-ASCII) is an error «illegal base32 data at input byte <n>» where `<n>` counts bytes of the input
 * with CR/LF removed; a final group of 1, 3 or 6 characters decodes to **no bytes** for that group (Go silently drops
 * it), and non-zero trailing bits are tolerated.
 *
 * @module
 */
import { FlyteSecretsError } from '../errors.js';

/** Flyte's annotation alphabet: `a`–`z` then `1`–`6` (`encoding.Base32Encoder` in flyteplugins). */
export const FLYTE_BASE32_ALPHABET = 'abcdefghijklmnopqrstuvwxyz123456';

/** The RFC 4648 base32 alphabet. */
export const STD_BASE32_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** Char code → 5-bit value, 0xff outside the alphabet (ASCII only: every other code unit is outside). */
function decodeMap(alphabet: string): Uint8Array {
  const map = new Uint8Array(128).fill(0xff);
  for (let i = 0; i < alphabet.length; i++) map[alphabet.charCodeAt(i)] = i;
  return map;
}

const FLYTE_MAP = decodeMap(FLYTE_BASE32_ALPHABET);
const STD_MAP = decodeMap(STD_BASE32_ALPHABET);
const FLYTE_CHARS: readonly string[] = [...FLYTE_BASE32_ALPHABET];
const STD_CHARS: readonly string[] = [...STD_BASE32_ALPHABET];

/** Bit-accumulator encoder: 5 bits per output character, looked up in the alphabet's one-character strings. */
function encode(bytes: Uint8Array, chars: readonly string[]): string {
  let out = '';
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < bytes.length; i++) {
    acc = ((acc << 8) | bytes[i]!) & 0xfff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += chars[(acc >> bits) & 31]!;
    }
  }
  if (bits > 0) out += chars[(acc << (5 - bits)) & 31]!;
  return out;
}

/**
 * Go's `(*Encoding).DecodeString` for a `NoPadding` encoding, on the UTF-8 bytes of `text`: one pass over the char
 * codes with a bit accumulator. CR and LF are skipped (Go's stripNewlines), and error offsets count the characters
 * before the bad one without CR/LF, which are all ASCII by then, so they are Go's byte offsets. A final group of 1, 3
 * or 6 characters yields nothing (Go decodes only the complete bytes of 2, 4, 5 or 7 characters), so the bytes the
 * accumulator took from such a group are dropped at the end.
 */
function decode(text: string, map: Uint8Array): Uint8Array {
  const n = text.length;
  // A view over Buffer's shared pool: a fresh Uint8Array of this size gets its own off-heap store, which cost
  // ~2 µs per annotation, several times the decoding itself.
  const pooled = Buffer.allocUnsafe(Math.floor((n * 5) / 8));
  const out = new Uint8Array(pooled.buffer, pooled.byteOffset, pooled.length);
  let o = 0;
  let acc = 0;
  let bits = 0;
  let count = 0; // characters decoded (CR/LF excluded)
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x0a || c === 0x0d) continue;
    const v = c < 128 ? map[c]! : 0xff;
    if (v === 0xff) throw new FlyteSecretsError('InvalidInput', `illegal base32 data at input byte ${count}`);
    count++;
    acc = ((acc << 5) | v) & 0x1fff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  const last = count & 7;
  if (last === 3) o -= 1;
  else if (last === 6) o -= 3;
  return o === out.length ? out : out.subarray(0, o);
}

/**
 * Encode bytes with Flyte's custom lowercase alphabet, without padding.
 *
 * @example
 * ```ts
 * encodeFlyteBase32(new TextEncoder().encode('grOUP_')) // 'm4ze5vkql3'
 * ```
 */
export function encodeFlyteBase32(bytes: Uint8Array): string {
  return encode(bytes, FLYTE_CHARS);
}

/**
 * Decode Flyte's custom base32 (Go semantics, see the module doc). Throws {@link FlyteSecretsError} code
 * `InvalidInput` with Go's message «illegal base32 data at input byte <n>».
 *
 * @example
 * ```ts
 * new TextDecoder().decode(decodeFlyteBase32('m4ze5vkql3')) // 'grOUP_'
 * ```
 */
export function decodeFlyteBase32(text: string): Uint8Array {
  return decode(text, FLYTE_MAP);
}

/**
 * Encode bytes with the RFC 4648 alphabet (`A-Z2-7`), without padding (the Azure name codec, Flyte's `secret/azure_utils.go`).
 *
 * @example
 * ```ts
 * encodeBase32Std(new TextEncoder().encode('hi')) // 'NBUQ'
 * ```
 */
export function encodeBase32Std(bytes: Uint8Array): string {
  return encode(bytes, STD_CHARS);
}

/**
 * Decode RFC 4648 base32 without padding, with Go's `NoPadding` semantics (lowercase letters and `=` are errors).
 * Throws {@link FlyteSecretsError} code `InvalidInput`.
 */
export function decodeBase32Std(text: string): Uint8Array {
  return decode(text, STD_MAP);
}
