import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isFlyteSecretsError } from '../errors.js';
import { decodeBase32Std, decodeFlyteBase32, encodeBase32Std, encodeFlyteBase32, FLYTE_BASE32_ALPHABET, STD_BASE32_ALPHABET } from './base32.js';

interface Base32Row {
  text: string;
  utf8?: string;
  error?: string;
  note?: string;
}
const annotationVectors = JSON.parse(readFileSync(new URL('../../test/vectors/annotations.json', import.meta.url), 'utf8')) as {
  base32Decode: Base32Row[];
};
const nameVectors = JSON.parse(readFileSync(new URL('../../test/vectors/k8s-names.json', import.meta.url), 'utf8')) as {
  volumeNames: { group: string; groupVersion: string; volumeName: string }[];
};

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

describe('Flyte base32 (custom alphabet, no padding)', () => {
  it.each(nameVectors.volumeNames)('K8s volume name of group $group, version "$groupVersion" is $volumeName', (row) => {
    expect(encodeFlyteBase32(utf8(`${row.group}_${row.groupVersion}`))).toBe(row.volumeName);
    expect(text(decodeFlyteBase32(row.volumeName))).toBe(`${row.group}_${row.groupVersion}`);
  });

  it.each(annotationVectors.base32Decode)('decodes $text with Go semantics', (row) => {
    if (row.error !== undefined) {
      let caught: unknown;
      try {
        decodeFlyteBase32(row.text);
      } catch (err) {
        caught = err;
      }
      expect(isFlyteSecretsError(caught, 'InvalidInput')).toBe(true);
      expect((caught as Error).message).toBe(row.error);
    } else {
      expect(text(decodeFlyteBase32(row.text))).toBe(row.utf8);
    }
  });

  it('never pads and uses only the custom alphabet', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const s = encodeFlyteBase32(bytes);
        expect(s).toMatch(/^[a-z1-6]*$/);
        expect(s.length).toBe(Math.ceil((bytes.length * 8) / 5));
        expect(decodeFlyteBase32(s)).toEqual(bytes);
      }),
      { numRuns: 200 },
    );
  });

  it('maps the standard alphabet A–Z/2–7 onto a–z/1–6', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
        const std = encodeBase32Std(bytes).toLowerCase().replace(/[2-7]/g, (d) => String(Number(d) - 1));
        expect(encodeFlyteBase32(bytes)).toBe(std);
      }),
      { numRuns: 200 },
    );
  });

  it('throws only FlyteSecretsError on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (s) => {
        try {
          decodeFlyteBase32(s);
        } catch (err) {
          expect(isFlyteSecretsError(err, 'InvalidInput')).toBe(true);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('standard base32 (RFC 4648, no padding)', () => {
  it.each([
    ['', ''],
    ['f', 'MY'],
    ['fo', 'MZXQ'],
    ['foo', 'MZXW6'],
    ['foob', 'MZXW6YQ'],
    ['fooba', 'MZXW6YTB'],
    ['foobar', 'MZXW6YTBOI'],
  ])('RFC 4648 §10: %j → %s', (input, expected) => {
    expect(encodeBase32Std(utf8(input))).toBe(expected);
    expect(text(decodeBase32Std(expected))).toBe(input);
  });

  it('rejects lowercase letters and padding like Go', () => {
    expect(() => decodeBase32Std('mzxw6')).toThrow('illegal base32 data at input byte 0');
    expect(() => decodeBase32Std('MZXW6===')).toThrow('illegal base32 data at input byte 5');
  });

  it('round-trips arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        expect(decodeBase32Std(encodeBase32Std(bytes))).toEqual(bytes);
      }),
      { numRuns: 200 },
    );
  });
});

/**
 * The straightforward port of Go's decoder (8-character quanta over the UTF-8 bytes, CR/LF stripped first), kept as the
 * reference for the bit-accumulator implementation: same bytes, same error texts, on any input.
 */
function referenceDecode(input: string, alphabet: string): Uint8Array | string {
  const src = utf8(input).filter((b) => b !== 0x0d && b !== 0x0a);
  const out: number[] = [];
  let pos = 0;
  while (pos < src.length) {
    const q: number[] = [];
    while (q.length < 8 && pos < src.length) {
      const v = alphabet.indexOf(String.fromCharCode(src[pos]!));
      if (src[pos]! >= 0x80 || v < 0) return `illegal base32 data at input byte ${pos}`;
      q.push(v);
      pos++;
    }
    const len = q.length;
    while (q.length < 8) q.push(0);
    const [a = 0, b = 0, c = 0, d = 0, e = 0, f = 0, g = 0, h = 0] = q;
    if (len === 8 || len === 7 || len === 5 || len === 4 || len === 2) {
      out.push(((a << 3) | (b >> 2)) & 0xff);
      if (len >= 4) out.push(((b << 6) | (c << 1) | (d >> 4)) & 0xff);
      if (len >= 5) out.push(((d << 4) | (e >> 1)) & 0xff);
      if (len >= 7) out.push(((e << 7) | (f << 2) | (g >> 3)) & 0xff);
      if (len === 8) out.push(((g << 5) | h) & 0xff);
    }
  }
  return Uint8Array.from(out);
}

function outcome(decode: (s: string) => Uint8Array, input: string): Uint8Array | string {
  try {
    return decode(input);
  } catch (err) {
    return (err as Error).message;
  }
}

describe('the bit-accumulator decoders agree with the reference port of Go (property)', () => {
  const text = (alphabet: string) =>
    fc.oneof(
      fc.string({ unit: fc.constantFrom(...alphabet, '\r', '\n'), maxLength: 40 }),
      fc.string({ unit: fc.constantFrom(...alphabet, '\r', '\n', '=', ' ', 'A', 'a', '1', '7', 'é', '\u{1F600}', '\ud800'), maxLength: 40 }),
      fc.string({ unit: 'binary', maxLength: 40 }),
    );
  it.each([
    ['Flyte', FLYTE_BASE32_ALPHABET, decodeFlyteBase32],
    ['standard', STD_BASE32_ALPHABET, decodeBase32Std],
  ] as const)('%s alphabet: same bytes or same error, every final-group length', (_name, alphabet, decode) => {
    fc.assert(
      fc.property(text(alphabet), (input) => {
        expect(outcome(decode, input)).toEqual(referenceDecode(input, alphabet));
      }),
      { numRuns: 500 },
    );
    for (let len = 0; len <= 17; len++) {
      const input = alphabet.slice(0, len) + (len > 3 ? '\r\n' : '');
      expect(outcome(decode, input)).toEqual(referenceDecode(input, alphabet));
    }
  });
});
