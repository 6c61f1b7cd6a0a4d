/**
 * The two base32 variants Flyte uses (spec §2.3, §5.2, Appendix B), both **without padding**:
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

const utf8 = new TextEncoder();

function decodeMap(alphabet: string): Uint8Array {
  const map = new Uint8Array(256).fill(0xff);
  for (let i = 0; i < alphabet.length; i++) map[alphabet.charCodeAt(i)] = i;
  return map;
}

const FLYTE_MAP = decodeMap(FLYTE_BASE32_ALPHABET);
const STD_MAP = decodeMap(STD_BASE32_ALPHABET);

function encode(bytes: Uint8Array, alphabet: string): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = ((buffer << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += alphabet[(buffer >> bits) & 31];
    }
  }
  if (bits > 0) out += alphabet[(buffer << (5 - bits)) & 31];
  return out;
}

/** Go's `(*Encoding).DecodeString` for a `NoPadding` encoding, on the UTF-8 bytes of `text`. */
function decode(text: string, map: Uint8Array): Uint8Array {
  const raw = utf8.encode(text);
  // stripNewlines: CR and LF are dropped before decoding; error offsets refer to the stripped input.
  const src = raw.filter((b) => b !== 0x0d && b !== 0x0a);
  const out: number[] = [];
  const q = new Uint8Array(8);
  let pos = 0;
  while (pos < src.length) {
    let len = 0;
    while (len < 8 && pos < src.length) {
      const v = map[src[pos]!]!;
      if (v === 0xff) {
        throw new FlyteSecretsError('InvalidInput', `illegal base32 data at input byte ${pos}`);
      }
      q[len++] = v;
      pos++;
    }
    for (let j = len; j < 8; j++) q[j] = 0;
    // Go packs only complete byte counts for 8, 7, 5, 4 and 2 characters; 1, 3 and 6 yield nothing.
    const group: number[] = [];
    if (len === 8 || len === 7 || len === 5 || len === 4 || len === 2) {
      group.push(((q[0]! << 3) | (q[1]! >> 2)) & 0xff);
      if (len >= 4) group.push(((q[1]! << 6) | (q[2]! << 1) | (q[3]! >> 4)) & 0xff);
      if (len >= 5) group.push(((q[3]! << 4) | (q[4]! >> 1)) & 0xff);
      if (len >= 7) group.push(((q[4]! << 7) | (q[5]! << 2) | (q[6]! >> 3)) & 0xff);
      if (len === 8) group.push(((q[6]! << 5) | q[7]!) & 0xff);
    }
    out.push(...group);
  }
  return Uint8Array.from(out);
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
  return encode(bytes, FLYTE_BASE32_ALPHABET);
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
 * Encode bytes with the RFC 4648 alphabet (`A-Z2-7`), without padding (the Azure name codec, spec §5.2).
 *
 * @example
 * ```ts
 * encodeBase32Std(new TextEncoder().encode('hi')) // 'NBUQ'
 * ```
 */
export function encodeBase32Std(bytes: Uint8Array): string {
  return encode(bytes, STD_BASE32_ALPHABET);
}

/**
 * Decode RFC 4648 base32 without padding, with Go's `NoPadding` semantics (lowercase letters and `=` are errors).
 * Throws {@link FlyteSecretsError} code `InvalidInput`.
 */
export function decodeBase32Std(text: string): Uint8Array {
  return decode(text, STD_MAP);
}
