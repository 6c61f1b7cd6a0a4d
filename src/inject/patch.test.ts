import fc from 'fast-check';
import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { isFlyteSecretsError } from '../errors.js';
import { applyPatch, createPatch, escapePointerToken, type JsonPatchOp } from './patch.js';

/**
 * The first implementation of createPatch (JSON round trip of both documents, deep comparison at every level),
 * kept as the reference the fast one must agree with byte for byte.
 */
function referencePatch(before: unknown, after: unknown): JsonPatchOp[] {
  type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
  const isObject = (v: unknown): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v);
  const toJson = (v: unknown): Json => JSON.parse(JSON.stringify(v ?? null)) as Json;
  const diff = (a: Json, b: Json, path: string, out: JsonPatchOp[]): void => {
    if (isDeepStrictEqual(a, b)) return;
    if (isObject(a) && isObject(b)) {
      for (const k of Object.keys(a)) if (!Object.hasOwn(b, k)) out.push({ op: 'remove', path: `${path}/${escapePointerToken(k)}` });
      for (const [k, bv] of Object.entries(b)) {
        const p = `${path}/${escapePointerToken(k)}`;
        if (!Object.hasOwn(a, k)) out.push({ op: 'add', path: p, value: bv });
        else diff(a[k] as Json, bv, p, out);
      }
      return;
    }
    if (Array.isArray(a) && Array.isArray(b)) {
      let head = 0;
      while (head < a.length && head < b.length && isDeepStrictEqual(a[head], b[head])) head++;
      let tail = 0;
      while (tail < a.length - head && tail < b.length - head && isDeepStrictEqual(a[a.length - 1 - tail], b[b.length - 1 - tail])) tail++;
      const aMid = a.slice(head, a.length - tail);
      const bMid = b.slice(head, b.length - tail);
      const common = Math.min(aMid.length, bMid.length);
      for (let i = 0; i < common; i++) diff(aMid[i] as Json, bMid[i] as Json, `${path}/${head + i}`, out);
      for (let i = common; i < bMid.length; i++) out.push({ op: 'add', path: `${path}/${head + i}`, value: bMid[i] });
      for (let i = aMid.length - 1; i >= common; i--) out.push({ op: 'remove', path: `${path}/${head + i}` });
      return;
    }
    out.push({ op: 'replace', path, value: b });
  };
  const out: JsonPatchOp[] = [];
  diff(toJson(before), toJson(after), '', out);
  return out;
}

/** JSON-like values that may hold `undefined` members and elements, NaN and Infinity, and a few shared keys. */
const looseJson: fc.Arbitrary<unknown> = fc.letrec<{ node: unknown }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(null, true, false, 0, 1, -1, 'a', 'b', '', undefined, Number.NaN, Number.POSITIVE_INFINITY, 2.5),
    fc.array(tie('node'), { maxLength: 4 }),
    fc.dictionary(fc.constantFrom('a', 'b', 'c', 'x/y', 'm~n', 'toString'), tie('node'), { maxKeys: 4 }),
  ),
})).node;

/** `doc` with one member or element somewhere replaced (copy-on-write: everything else is shared, as injectors do). */
function editShared(doc: unknown, path: readonly number[], value: unknown): unknown {
  if (path.length === 0 || typeof doc !== 'object' || doc === null) return value;
  const [step = 0, ...rest] = path;
  if (Array.isArray(doc)) {
    if (doc.length === 0) return [value];
    const i = step % (doc.length + 1);
    const copy = [...doc];
    if (i === doc.length) copy.unshift(value);
    else copy[i] = editShared(doc[i], rest, value);
    return copy;
  }
  const keys = Object.keys(doc);
  const copy: Record<string, unknown> = { ...(doc as Record<string, unknown>) };
  if (keys.length === 0 || step % (keys.length + 1) === keys.length) copy[`k${step}`] = value;
  else {
    const k = keys[step % keys.length] as string;
    copy[k] = editShared(copy[k], rest, value);
  }
  return copy;
}

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

describe('createPatch agrees with the reference implementation', () => {
  it('byte for byte on any two documents, undefined/NaN members included (property)', () => {
    fc.assert(
      fc.property(looseJson, looseJson, (a, b) => {
        expect(JSON.stringify(createPatch(a, b))).toBe(JSON.stringify(referencePatch(a, b)));
      }),
      { numRuns: 1000 },
    );
  });

  it('byte for byte on a document and a copy-on-write edit of it that shares the rest (property)', () => {
    const path = fc.array(fc.nat({ max: 7 }), { maxLength: 4 });
    fc.assert(
      fc.property(looseJson, fc.array(fc.tuple(path, looseJson), { minLength: 1, maxLength: 3 }), (a, edits) => {
        let b = a;
        for (const [p, v] of edits) b = editShared(b, p, v);
        const ops = createPatch(a, b);
        expect(JSON.stringify(ops)).toBe(JSON.stringify(referencePatch(a, b)));
        const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v ?? null)) as unknown;
        if (!JSON.stringify(plain(a)).includes('"__proto__"')) expect(applyPatch(plain(a), ops)).toEqual(plain(b));
      }),
      { numRuns: 1000 },
    );
  });

  it('skips shared sub-documents without walking them', () => {
    let reads = 0;
    const shared = new Proxy({ deep: { deeper: [1, 2, 3] } }, {
      get(target, key, receiver) {
        reads++;
        return Reflect.get(target, key, receiver) as unknown;
      },
    });
    expect(createPatch({ a: shared, b: 1 }, { a: shared, b: 2 })).toEqual([{ op: 'replace', path: '/b', value: 2 }]);
    expect(reads).toBe(0);
  });

  it('treats a Date like its JSON text and NaN like null, as serialisation does', () => {
    const when = new Date(0);
    expect(createPatch({ t: when.toISOString(), n: null }, { t: when, n: Number.NaN })).toEqual([]);
    expect(createPatch([1], [1, undefined])).toEqual([{ op: 'add', path: '/1', value: null }]);
  });
});

describe('applyPatch', () => {
  it('gives a result that shares nothing with the ops', () => {
    const value = { name: 'A' };
    const out = applyPatch<{ env: { name: string }[] }>({ env: [] }, [{ op: 'add', path: '/env/0', value }]);
    expect(out.env[0]).toEqual(value);
    expect(out.env[0]).not.toBe(value);
  });

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
