import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isFlyteSecretsError } from '../errors.js';
import { SECRETS_MOUNT_ROOT, cleanPath, envVarName, goToLower, goToUpper, secretFilePath } from './paths.js';

const names = JSON.parse(readFileSync(new URL('../../test/vectors/k8s-names.json', import.meta.url), 'utf8')) as {
  envVarNames: { prefix: string; parts: string[]; name: string }[];
  mountPaths: { components: string[]; path: string }[];
  mountPathErrors: { components: string[] }[];
};

describe('Go simple case mapping (Flyte: `secret/secrets_pod_mutator.go`)', () => {
  it.each([
    ['hello-World_1', 'HELLO-WORLD_1', 'hello-world_1'],
    ['ß', 'ß', 'ß'], // JS upper gives "SS"
    ['ŉ', 'ŉ', 'ŉ'], // JS upper gives "ʼN"
    ['ﬀ', 'ﬀ', 'ﬀ'], // JS upper gives "FF"
    ['ᾀ', 'ᾈ', 'ᾀ'], // full mapping is two code points, simple mapping exists
    ['ᾳ', 'ᾼ', 'ᾳ'],
    ['İ', 'İ', 'i'], // JS lower gives "i̇"
    ['ǆ', 'Ǆ', 'ǆ'],
    ['é😀', 'É😀', 'é😀'],
    ['\ud800x', '\ufffdX', '\ufffdx'], // a lone surrogate is U+FFFD once UTF-8 encoded, as Go sees it
  ])('%s → upper %s, lower %s', (input, upper, lower) => {
    expect(goToUpper(input)).toBe(upper);
    expect(goToLower(input)).toBe(lower);
  });

  it('maps every code point to exactly one code point (never changes the length in code points)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 30 }), (s) => {
        expect([...goToUpper(s)]).toHaveLength([...s].length);
        expect([...goToLower(s)]).toHaveLength([...s].length);
      }),
      { numRuns: 200 },
    );
  });

  it('maps ASCII text as the code-point walk does (the ASCII fast path equals the walk a non-ASCII character forces)', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.integer({ min: 0, max: 0x7f }).map((c) => String.fromCharCode(c)), maxLength: 40 }), (s) => {
        // "é" makes the whole string non-ASCII, so it takes the walk; it maps to "É" and back on its own.
        expect(goToUpper(`${s}é`)).toBe(`${goToUpper(s)}É`);
        expect(goToLower(`${s}É`)).toBe(`${goToLower(s)}é`);
        expect(goToUpper(s)).toHaveLength(s.length);
      }),
      { numRuns: 300 },
    );
  });

  it.each(names.envVarNames)('envVarName($prefix, $parts) = $name', (row) => {
    expect(envVarName(row.prefix, ...row.parts)).toBe(row.name);
  });
});

describe('cleanPath = Go path.Clean (Flyte: `secret/secrets_pod_mutator.go`)', () => {
  // Go's own path.Clean table (src/path/path_test.go).
  it.each([
    ['', '.'],
    ['abc', 'abc'],
    ['abc/def', 'abc/def'],
    ['a/b/c', 'a/b/c'],
    ['.', '.'],
    ['..', '..'],
    ['../..', '../..'],
    ['../../abc', '../../abc'],
    ['/abc', '/abc'],
    ['/', '/'],
    ['abc/', 'abc'],
    ['abc/def/', 'abc/def'],
    ['a/b/c/', 'a/b/c'],
    ['./', '.'],
    ['../', '..'],
    ['../../', '../..'],
    ['/abc/', '/abc'],
    ['abc//def//ghi', 'abc/def/ghi'],
    ['//abc', '/abc'],
    ['///abc', '/abc'],
    ['//abc//', '/abc'],
    ['abc//', 'abc'],
    ['abc/./def', 'abc/def'],
    ['/./abc/def', '/abc/def'],
    ['abc/.', 'abc'],
    ['abc/def/ghi/../jkl', 'abc/def/jkl'],
    ['abc/def/../ghi/../jkl', 'abc/jkl'],
    ['abc/def/..', 'abc'],
    ['abc/def/../..', '.'],
    ['/abc/def/../..', '/'],
    ['abc/def/../../..', '..'],
    ['/abc/def/../../..', '/'],
    ['abc/def/../../../ghi/jkl/../../../mno', '../../mno'],
    ['abc/./../def', 'def'],
    ['abc//./../def', 'def'],
    ['abc/../../././../def', '../../def'],
  ])('%j → %j', (input, expected) => {
    expect(cleanPath(input)).toBe(expected);
  });

  it('agrees with node:path posix.normalize on rooted paths (minus the trailing slash)', () => {
    const seg = fc.constantFrom('a', 'b', '.', '..', '', 'c.d');
    fc.assert(
      fc.property(fc.array(seg, { maxLength: 8 }), (segs) => {
        const p = `/${segs.join('/')}`;
        const normalized = posix.normalize(p);
        expect(cleanPath(p)).toBe(normalized.length > 1 ? normalized.replace(/\/$/, '') : normalized);
      }),
      { numRuns: 200 },
    );
  });
});

describe('cleanPath fast path', () => {
  it('returns a path it would not change as is, and agrees with the full clean on any path (a trailing slash forces it)', () => {
    const seg = fc.oneof(fc.constantFrom('a', 'b', '.', '..', '', '...', '.a', '..b', 'c.d', 'a..'), fc.string({ maxLength: 4 }));
    fc.assert(
      fc.property(fc.boolean(), fc.array(seg, { maxLength: 8 }), (rooted, segs) => {
        const p = `${rooted ? '/' : ''}${segs.join('/')}`;
        if (p === '') return;
        const clean = cleanPath(p);
        expect(cleanPath(`${p}/`)).toBe(clean);
        expect(cleanPath(clean)).toBe(clean);
      }),
      { numRuns: 500 },
    );
  });
});

describe('secretFilePath', () => {
  it.each(names.mountPaths)('$components → $path', (row) => {
    expect(secretFilePath(...row.components)).toBe(row.path);
  });

  it.each(names.mountPathErrors)('refuses $components', (row) => {
    let caught: unknown;
    try {
      secretFilePath(...row.components);
    } catch (err) {
      caught = err;
    }
    expect(isFlyteSecretsError(caught, 'InvalidPath')).toBe(true);
    expect((caught as Error).message).toContain(SECRETS_MOUNT_ROOT);
  });

  it('every accepted path is strictly inside the mount root', () => {
    const seg = fc.oneof(fc.constantFrom('..', '.', '', '/', 'a/../..', '../b'), fc.string({ maxLength: 6 }));
    fc.assert(
      fc.property(fc.array(seg, { minLength: 1, maxLength: 4 }), (components) => {
        try {
          const p = secretFilePath(...components);
          expect(p.startsWith(`${SECRETS_MOUNT_ROOT}/`)).toBe(true);
          expect(cleanPath(p)).toBe(p);
        } catch (err) {
          expect(isFlyteSecretsError(err, 'InvalidPath')).toBe(true);
        }
      }),
      { numRuns: 200 },
    );
  });
});
