import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jsonNumber, jsonString, jsonStringList } from './json-text.js';

/** Plain names and URIs most of the time (the fast branch), any text now and then (quotes, controls, surrogates). */
const text = fc.oneof(
  fc.constantFrom('', 'db-password', 'https://kv.vault.azure.net/secrets/x/0123', '2f3c9a1e-0b7d-4c55', 'a b~!#$%&()*+,-./:;<=>?@[]^_`{|}'),
  fc.string({ unit: 'binary-ascii' }),
  fc.string({ unit: 'binary' }),
  fc.constantFrom('"', '\\', '\u007f', '\u0080', '\u2028', '\ud800', 'x\udc00y', '🔑'),
);

describe('json-text', () => {
  it('gives what JSON.stringify gives for strings, lists of strings and numbers', () => {
    fc.assert(
      fc.property(text, fc.array(text, { maxLength: 5 }), fc.oneof(fc.double(), fc.integer(), fc.constantFrom(-0, Number.NaN, Infinity, -Infinity, 1e21, 5e-7)), (s, list, n) => {
        expect(jsonString(s)).toBe(JSON.stringify(s));
        expect(jsonStringList(list)).toBe(JSON.stringify(list));
        expect(jsonNumber(n)).toBe(JSON.stringify(n));
      }),
      { numRuns: 2000 },
    );
  });
});
