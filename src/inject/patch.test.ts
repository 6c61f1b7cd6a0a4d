import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isFlyteSecretsError } from '../errors.js';
import { applyPatch, createPatch, escapePointerToken } from './patch.js';

describe('escapePointerToken (RFC 6901)', () => {
  it.each([
    ['vault.hashicorp.com/role', 'vault.hashicorp.com~1role'],
    ['a~b', 'a~0b'],
    ['~/', '~0~1'],
    ['~1', '~01'],
    ['plain', 'plain'],
  ])('%s → %s', (token, escaped) => {
    expect(escapePointerToken(token)).toBe(escaped);
  });
});

describe('createPatch', () => {
  it('treats inherited names such as "toString" as ordinary keys', () => {
    expect(createPatch({ toString: 1 }, {})).toEqual([{ op: 'remove', path: '/toString' }]);
    expect(createPatch({}, { constructor: 1 })).toEqual([{ op: 'add', path: '/constructor', value: 1 }]);
  });

  it('is empty for equal documents (key order and undefined members do not matter)', () => {
    expect(createPatch({ a: 1, b: [1, { c: 2 }] }, { b: [1, { c: 2 }], a: 1, d: undefined })).toEqual([]);
  });

  it('adds a prepended array element with one op at index 0', () => {
    expect(createPatch({ env: [{ name: 'A' }] }, { env: [{ name: 'B' }, { name: 'A' }] })).toEqual([{ op: 'add', path: '/env/0', value: { name: 'B' } }]);
  });

  it('creates missing containers with one add (the first annotation, the first volume)', () => {
    expect(createPatch({ metadata: { name: 'p' } }, { metadata: { name: 'p', annotations: { 'vault.hashicorp.com/role': 'r' } } })).toEqual([
      { op: 'add', path: '/metadata/annotations', value: { 'vault.hashicorp.com/role': 'r' } },
    ]);
  });

  it('escapes keys with "/" and "~"', () => {
    expect(createPatch({ a: { 'x/y': 1 } }, { a: { 'x/y': 2, 'm~n': 3 } })).toEqual([
      { op: 'replace', path: '/a/x~1y', value: 2 },
      { op: 'add', path: '/a/m~0n', value: 3 },
    ]);
  });

  it('removes from the end backwards so indexes stay valid', () => {
    const ops = createPatch([1, 2, 3, 4], [1, 4]);
    expect(ops).toEqual([
      { op: 'remove', path: '/2' },
      { op: 'remove', path: '/1' },
    ]);
    expect(applyPatch([1, 2, 3, 4], ops)).toEqual([1, 4]);
  });

  it('applying the patch gives the target, for any JSON documents (property)', () => {
    // fast-json-patch refuses "__proto__" members on purpose; everything else must round-trip.
    const json = fc
      .jsonValue({ maxDepth: 4 })
      .map((v) => JSON.parse(JSON.stringify(v)) as unknown)
      .filter((v) => !JSON.stringify(v).includes('"__proto__"'));
    fc.assert(
      fc.property(json, json, (a, b) => {
        expect(applyPatch(a, createPatch(a, b))).toEqual(b);
      }),
      { numRuns: 300 },
    );
  });

  it('round-trips edits of a pod-like object (property)', () => {
    const env = fc.array(fc.record({ name: fc.constantFrom('A', 'B', 'C', 'a/b', '~x'), value: fc.string({ maxLength: 3 }) }), { maxLength: 5 });
    fc.assert(
      fc.property(env, env, (a, b) => {
        const before = { spec: { containers: [{ name: 'c', env: a }] } };
        const after = { spec: { containers: [{ name: 'c', env: b }] } };
        expect(applyPatch(before, createPatch(before, after))).toEqual(after);
      }),
      { numRuns: 300 },
    );
  });
});

describe('applyPatch', () => {
  it('does not change its input', () => {
    const doc = { a: [1] };
    applyPatch(doc, [{ op: 'add', path: '/a/0', value: 0 }]);
    expect(doc).toEqual({ a: [1] });
  });

  it('throws InvalidInput when an operation does not apply', () => {
    let caught: unknown;
    try {
      applyPatch({ a: 1 }, [{ op: 'remove', path: '/b' }]);
    } catch (err) {
      caught = err;
    }
    expect(isFlyteSecretsError(caught, 'InvalidInput')).toBe(true);
  });
});
