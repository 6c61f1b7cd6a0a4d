import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FlyteSecretsError } from '../errors.js';
import { encodeSecretName, type FlyteSecretId } from '../secret/flyte-id.js';
import {
  KEY_VAULT_MAX_NAME_LENGTH,
  decodeAzureSecretName,
  decodeKeyVaultName,
  encodeAzureSecretName,
  isValidKeyVaultSecretName,
  keyVaultNameCollisionKey,
  keyVaultNameForId,
} from './secret-name.js';
import { errorOf } from '../../test/support/expect-error.js';

interface Vectors {
  bijective: { flyteId: string; keyVaultName: string; source: string }[];
  extraBijective: { flyteId: string; keyVaultName: string }[];
  tooLong: { flyteId: string; keyVaultNameLength?: number; error?: string }[];
  caseSensitive: { a: string; b: string };
  collisions: { a: string; b: string; collide: boolean }[];
  decodeErrors: { keyVaultName: string; error: string }[];
  decodeLenient: { keyVaultName: string; decoded: FlyteSecretId }[];
  encodeIdErrors: { flyteId: string; error: string; code: string }[];
  encodeRefusals: { flyteId: string; error: string }[];
}
const vectors = JSON.parse(readFileSync(new URL('../../test/vectors/azure-names.json', import.meta.url), 'utf8')) as Vectors;

const KV_NAME = /^[0-9a-zA-Z-]{1,127}$/;
const rows = [...vectors.bijective, ...vectors.extraBijective];

describe('Key Vault name codec (Flyte: `secret/azure_utils.go`): one table, three tests', () => {
  it.each(rows.map((r) => [r.flyteId, r] as const))('encode %s', (_n, r) => {
    expect(encodeAzureSecretName(r.flyteId)).toBe(r.keyVaultName);
    expect(isValidKeyVaultSecretName(r.keyVaultName)).toBe(true);
  });
  it.each(rows.map((r) => [r.keyVaultName, r] as const))('decode %s', (_n, r) => {
    expect(decodeAzureSecretName(r.keyVaultName)).toBe(r.flyteId);
  });
  it.each(rows.map((r) => [r.flyteId, r] as const))('bijective %s', (_n, r) => {
    expect(decodeAzureSecretName(encodeAzureSecretName(r.flyteId))).toBe(r.flyteId);
    expect(encodeAzureSecretName(decodeAzureSecretName(r.keyVaultName))).toBe(r.keyVaultName);
  });
});

describe('length limit (127 bytes, no truncation)', () => {
  it.each(vectors.tooLong.map((r) => [r.flyteId.length, r] as const))('id of %d chars', (_n, r) => {
    if (r.error === undefined) {
      expect(encodeAzureSecretName(r.flyteId)).toHaveLength(r.keyVaultNameLength!);
    } else {
      const err = errorOf(() => encodeAzureSecretName(r.flyteId));
      expect(err.code).toBe('InvalidKeyVaultName');
      expect(err.message).toBe(r.error);
    }
  });
  it('the budget with flyte/development/flytesnacks is 59 name bytes', () => {
    const id = { org: 'flyte', domain: 'development', project: 'flytesnacks', name: '' };
    expect(keyVaultNameForId({ ...id, name: 'x'.repeat(59) })).toHaveLength(127);
    expect(() => keyVaultNameForId({ ...id, name: 'x'.repeat(60) })).toThrow(
      'encoded secret name with length 128 exceeds maximum length: 127',
    );
    // Bytes, not characters: 'é' is two UTF-8 bytes.
    expect(() => keyVaultNameForId({ ...id, name: 'é'.repeat(30) })).toThrow(/exceeds maximum length: 127/);
  });
});

describe('case', () => {
  it('names differing only in case encode differently (Go test)', () => {
    expect(encodeAzureSecretName(vectors.caseSensitive.a)).not.toBe(encodeAzureSecretName(vectors.caseSensitive.b));
  });
  it.each(vectors.collisions.map((c) => [c.a, c.b, c] as const))('%s vs %s', (_a, _b, c) => {
    const a = encodeAzureSecretName(c.a);
    const b = encodeAzureSecretName(c.b);
    expect(a).not.toBe(b);
    expect(keyVaultNameCollisionKey(a) === keyVaultNameCollisionKey(b)).toBe(c.collide);
  });
});

describe('decode errors (Flyte texts)', () => {
  it.each(vectors.decodeErrors.map((r) => [r.keyVaultName, r] as const))('%j', (_n, r) => {
    const err = errorOf(() => decodeAzureSecretName(r.keyVaultName));
    expect(err.code).toBe('InvalidKeyVaultName');
    expect(err.message).toBe(r.error);
  });
  it.each(vectors.decodeLenient.map((r) => [r.keyVaultName, r] as const))('%j decodes leniently, like Flyte', (_n, r) => {
    expect(decodeKeyVaultName(r.keyVaultName)).toEqual(r.decoded);
    expect(decodeAzureSecretName(r.keyVaultName)).toBe(encodeSecretName(r.decoded));
  });
});

describe('encode errors', () => {
  it.each(vectors.encodeIdErrors.map((r) => [r.flyteId, r] as const))('bad Flyte id %j', (_n, r) => {
    const err = errorOf(() => encodeAzureSecretName(r.flyteId));
    expect(err.code).toBe(r.code);
    expect(err.message).toBe(r.error);
  });
  it.each(vectors.encodeRefusals.map((r) => [r.flyteId, r] as const))('stricter than Flyte: %j', (_n, r) => {
    const err = errorOf(() => encodeAzureSecretName(r.flyteId));
    expect(err.code).toBe('InvalidKeyVaultName');
    expect(err.message).toBe(r.error);
  });
  it('keyVaultNameForId names the component and an astral character whole', () => {
    expect(() => keyVaultNameForId({ org: 'flyte', domain: 'd\u{1F389}', project: '', name: 'k' })).toThrow(
      'no Azure Key Vault name for this secret: the domain "d\u{1F389}" contains "\u{1F389}", which Key Vault names cannot hold (allowed: 0-9 a-z A-Z -)',
    );
  });
  it('refuses a name with an unpaired surrogate (no UTF-8 form)', () => {
    expect(() => keyVaultNameForId({ org: 'o', domain: '', project: '', name: 'a\uD800' })).toThrow(
      expect.objectContaining({ code: 'InvalidKeyVaultName' }),
    );
  });
});

describe('name codec properties (bounded)', () => {
  const component = fc.stringMatching(/^[0-9a-zA-Z-]{0,14}$/);
  const wellFormed = (s: string): boolean => !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);
  const validId = fc.record({
    org: component,
    domain: component,
    project: component,
    name: fc.string({ unit: 'binary', maxLength: 40 }).filter(wellFormed),
  });

  it('decode(encode(id)) = id within the length limit, and both entry points agree', () => {
    fc.assert(
      fc.property(validId, (id) => {
        let kv: string;
        try {
          kv = keyVaultNameForId(id);
        } catch (e) {
          expect((e as FlyteSecretsError).code).toBe('InvalidKeyVaultName');
          expect((e as Error).message).toMatch(/exceeds maximum length: 127$/);
          return;
        }
        expect(kv).toMatch(KV_NAME);
        expect(decodeKeyVaultName(kv)).toEqual(id);
        expect(encodeAzureSecretName(encodeSecretName(id))).toBe(kv);
        expect(decodeAzureSecretName(kv)).toBe(encodeSecretName(id));
      }),
      { numRuns: 500 },
    );
  });

  it('every encoded name is a valid Key Vault name, or encoding throws FlyteSecretsError', () => {
    const anyId = fc.record({
      org: fc.string({ maxLength: 10 }),
      domain: fc.string({ maxLength: 10 }),
      project: fc.string({ maxLength: 10 }),
      name: fc.string({ unit: 'binary', maxLength: 80 }),
    });
    fc.assert(
      fc.property(anyId, (id) => {
        try {
          const kv = keyVaultNameForId(id);
          expect(kv).toMatch(KV_NAME);
          expect(kv.length).toBeLessThanOrEqual(KEY_VAULT_MAX_NAME_LENGTH);
        } catch (e) {
          expect(e).toBeInstanceOf(FlyteSecretsError);
        }
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 120 }), (flyteId) => {
        try {
          expect(encodeAzureSecretName(flyteId)).toMatch(KV_NAME);
        } catch (e) {
          expect(e).toBeInstanceOf(FlyteSecretsError);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('on arbitrary input the decoder throws only FlyteSecretsError', () => {
    const nameLike = fc.array(fc.stringMatching(/^[0-9a-zA-Z=_]{0,12}$/), { minLength: 0, maxLength: 7 }).map((p) => p.join('-'));
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 60 }), nameLike, nameLike.map((s) => `1-${s}`)), (name) => {
        try {
          const id = decodeKeyVaultName(name);
          expect(decodeAzureSecretName(name)).toBe(encodeSecretName(id));
        } catch (e) {
          expect(e).toBeInstanceOf(FlyteSecretsError);
          expect((e as FlyteSecretsError).code).toBe('InvalidKeyVaultName');
        }
      }),
      { numRuns: 500 },
    );
  });
});
