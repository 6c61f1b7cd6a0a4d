import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isFlyteSecretsError } from '../errors.js';
import { decodeBase32Std, decodeFlyteBase32, encodeBase32Std, encodeFlyteBase32 } from './base32.js';

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
