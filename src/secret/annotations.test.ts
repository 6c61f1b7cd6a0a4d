import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { describe, expect, it } from 'vitest';
import { isFlyteSecretsError } from '../errors.js';
import {
  INJECT_LABEL,
  INJECT_LABEL_VALUE,
  MAX_SECRET_ANNOTATION_LENGTH,
  SECRET_ANNOTATION_PREFIX,
  annotatePod,
  decodeSecretAnnotation,
  decodeSecretAnnotations,
  encodeSecretAnnotation,
  marshalSecretText,
  secretToString,
  secretsToAnnotations,
  unmarshalSecretText,
} from './annotations.js';
import { decodeFlyteBase32, encodeFlyteBase32 } from './base32.js';
import { MountRequirement, makeSecret, type Secret } from './model.js';

/** A secret as written in the vector files: absent fields are proto3 defaults; the mount requirement is a name or number. */
interface VectorSecret {
  group?: string;
  groupVersion?: string;
  key?: string;
  mountRequirement?: string | number;
  envVar?: string;
}
interface Vectors {
  encode: { secret: VectorSecret; protoText: string; annotation: string; spec: string }[];
  roundTripRaw: string[];
  decodeOnly: { annotation: string; protoTextHex: string; secret: VectorSecret }[];
  marshalMaps: { name: string; secrets: VectorSecret[]; annotations: Record<string, string> }[];
  marshalErrors: { name: string; secret: VectorSecret; error: string }[];
  decodeErrors: { name: string; key: string; value: string; error: string }[];
  protoTextDecode: { name: string; text: string; secret?: VectorSecret; error?: string }[];
}
const vectors = JSON.parse(readFileSync(new URL('../../test/vectors/annotations.json', import.meta.url), 'utf8')) as Vectors;

function toSecret(v: VectorSecret): Secret {
  const mr = v.mountRequirement;
  return makeSecret({
    ...(v.group !== undefined ? { group: v.group } : {}),
    ...(v.groupVersion !== undefined ? { groupVersion: v.groupVersion } : {}),
    ...(v.key !== undefined ? { key: v.key } : {}),
    ...(v.envVar !== undefined ? { envVar: v.envVar } : {}),
    mountRequirement: typeof mr === 'number' ? mr : MountRequirement[(mr ?? 'ANY') as keyof typeof MountRequirement],
  });
}

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const ascii = (b: Uint8Array): string => new TextDecoder().decode(b);

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected an error');
}

describe('annotation golden vectors (Flyte: `utils/secrets/marshaler.go`)', () => {
  it.each(vectors.encode)('encodes $secret (§$spec)', (row) => {
    const secret = toSecret(row.secret);
    expect(ascii(marshalSecretText(secret))).toBe(row.protoText);
    expect(encodeSecretAnnotation(secret)).toBe(row.annotation);
  });

  it.each(vectors.encode)('decodes $annotation', (row) => {
    expect(ascii(decodeFlyteBase32(row.annotation))).toBe(row.protoText);
    expect(decodeSecretAnnotation('flyte.secrets/s0', row.annotation)).toEqual(toSecret(row.secret));
  });

  it.each(vectors.roundTripRaw)('round-trips the raw group %s (TestEncodeSecretGroup)', (raw) => {
    const secret = makeSecret({ group: raw });
    expect(decodeSecretAnnotation('flyte.secrets/s0', encodeSecretAnnotation(secret))).toEqual(secret);
  });

  it.each(vectors.decodeOnly)('decodes the corrupted secrets_test.go sample $annotation without error', (row) => {
    expect(Buffer.from(decodeFlyteBase32(row.annotation)).toString('hex')).toBe(row.protoTextHex);
    expect(decodeSecretAnnotation('flyte.secrets/s0', row.annotation)).toEqual(toSecret(row.secret));
  });

  it.each(vectors.marshalMaps)('secretsToAnnotations: $name', (row) => {
    const secrets = row.secrets.map(toSecret);
    expect(secretsToAnnotations(secrets)).toEqual(row.annotations);
    expect(decodeSecretAnnotations(row.annotations).map((d) => d.secret)).toEqual(secrets);
  });

  it.each(vectors.marshalErrors)('refuses to encode: $name', (row) => {
    const err = thrown(() => secretsToAnnotations([toSecret(row.secret)]));
    expect(isFlyteSecretsError(err, 'InvalidSecret')).toBe(true);
    expect((err as Error).message).toBe(row.error);
  });

  it.each(vectors.decodeErrors)('decode error: $name', (row) => {
    const err = thrown(() => decodeSecretAnnotations({ [row.key]: row.value, other: 'x' }));
    expect(isFlyteSecretsError(err, 'InvalidAnnotation')).toBe(true);
    expect((err as Error).message).toBe(row.error);
  });
});

describe('proto text decoding (golang/protobuf tolerance, as Flyte `utils/secrets/marshaler.go`)', () => {
  it.each(vectors.protoTextDecode)('$name', (row) => {
    const parse = (): Secret => unmarshalSecretText(utf8(row.text));
    if (row.error !== undefined) {
      const err = thrown(parse);
      expect(isFlyteSecretsError(err, 'InvalidAnnotation')).toBe(true);
      expect((err as Error).message).toBe(row.error);
    } else {
      expect(parse()).toEqual(toSecret(row.secret ?? {}));
    }
  });

  it('wraps a text-format error in Flyte’s message naming the annotation key', () => {
    const value = encodeFlyteBase32(utf8('key: "a" key: "b"'));
    expect(() => decodeSecretAnnotation('flyte.secrets/s7', value)).toThrow(
      'failed to unmarshal secrets from pod annotations: error unmarshaling secret [flyte.secrets/s7]. Error: line 1.9: non-repeated field "key" was repeated',
    );
  });

  it('keeps invalid UTF-8 bytes as U+FFFD and never throws for them', () => {
    expect(unmarshalSecretText(Uint8Array.from([...utf8('key: "a'), 0xff, ...utf8('b"')])).key).toBe('a\ufffdb');
  });
});

describe('encoding details (Flyte: `utils/secrets/marshaler.go`)', () => {
  it('escapes byte by byte with 3-digit octal, including every byte of non-ASCII UTF-8', () => {
    const s = makeSecret({ key: 'a\u0000\u0007\n\r\t"\\\'\u007fé😀' });
    expect(ascii(marshalSecretText(s))).toBe('key: "a\\000\\007\\n\\r\\t\\"\\\\\'\\177\\303\\251\\360\\237\\230\\200"\n');
  });

  it('writes an unknown enum number as the bare number in proto text, but refuses it in an annotation', () => {
    const s = makeSecret({ key: 'k', mountRequirement: 9 });
    expect(ascii(marshalSecretText(s))).toBe('key: "k"\nmount_requirement: 9\n');
    const err = thrown(() => encodeSecretAnnotation(s));
    expect(isFlyteSecretsError(err, 'InvalidSecret')).toBe(true);
    expect((err as Error).message).toBe('invalid mount requirement [9]');
  });

  it('refuses a mount requirement that is not a 32-bit integer', () => {
    expect(isFlyteSecretsError(thrown(() => marshalSecretText(makeSecret({ mountRequirement: 1.5 }))), 'InvalidSecret')).toBe(true);
  });

  it(`accepts a value of exactly ${MAX_SECRET_ANNOTATION_LENGTH} characters and refuses one more byte`, () => {
    // 'group: "' + n bytes + '"\n' = n + 10 bytes → ceil((n + 10) * 8 / 5) characters.
    const ok = encodeSecretAnnotation(makeSecret({ group: 'a'.repeat(163830) }));
    expect(ok.length).toBe(MAX_SECRET_ANNOTATION_LENGTH);
    const err = thrown(() => encodeSecretAnnotation(makeSecret({ group: 'a'.repeat(163831) })));
    expect(isFlyteSecretsError(err, 'InvalidSecret')).toBe(true);
    expect((err as Error).message).toBe('secret descriptor cannot exceed [262144]');
  });
});

describe('decodeSecretAnnotations', () => {
  const enc = (key: string): string => encodeSecretAnnotation(makeSecret({ key }));

  it('returns secrets in annotation-index order: s0, s1, s2, … s10, then non-numeric suffixes by key', () => {
    const annotations: Record<string, string> = {
      'flyte.secrets/sX': enc('x'),
      'flyte.secrets/s10': enc('ten'),
      'flyte.secrets/s2': enc('two'),
      'other/annotation': 'not base32!',
      'flyte.secrets/s': enc('empty-suffix'),
      'flyte.secrets/s0': enc('zero'),
      'flyte.secrets/s1': enc('one'),
    };
    const decoded = decodeSecretAnnotations(annotations);
    expect(decoded.map((d) => d.annotationKey)).toEqual([
      'flyte.secrets/s0',
      'flyte.secrets/s1',
      'flyte.secrets/s2',
      'flyte.secrets/s10',
      'flyte.secrets/s',
      'flyte.secrets/sX',
    ]);
    expect(decoded.map((d) => d.secret.key)).toEqual(['zero', 'one', 'two', 'ten', 'empty-suffix', 'x']);
    expect(decoded.map((d) => d.index)).toEqual([0, 1, 2, 10, Infinity, Infinity]);
  });

  it('returns nothing for a pod without annotations', () => {
    expect(decodeSecretAnnotations(undefined)).toEqual([]);
    expect(decodeSecretAnnotations({ 'flyte.secret/s0': 'x' })).toEqual([]);
  });

  it('reports the first failing key in index order', () => {
    const err = thrown(() => decodeSecretAnnotations({ 'flyte.secrets/s3': '!', 'flyte.secrets/s1': 'A', 'flyte.secrets/s0': enc('ok') }));
    expect((err as Error).message).toContain('[flyte.secrets/s1]');
  });

  it('treats a non-string value as a decode error, not a crash', () => {
    const err = thrown(() => decodeSecretAnnotations({ 'flyte.secrets/s0': 42 as unknown as string }));
    expect(isFlyteSecretsError(err, 'InvalidAnnotation')).toBe(true);
  });
});

describe('secretToString (Go String(), used in error messages)', () => {
  it.each([
    [makeSecret({ group: 'x', key: 'y' }), 'group:"x" key:"y"'],
    [makeSecret({ key: 'k', mountRequirement: 2, envVar: 'E' }), 'key:"k" mount_requirement:FILE env_var:"E"'],
    [makeSecret({ key: 'k', mountRequirement: 7 }), 'key:"k" mount_requirement:7'],
    [makeSecret({ group: 'caf\u00e9 "q"\n\u0001\u0085' }), 'group:"café \\"q\\"\\n\\x01\\u0085"'],
    [makeSecret(), ''],
  ])('%j → %s', (secret, expected) => {
    expect(secretToString(secret)).toBe(expected);
  });
});

describe('annotatePod (what the Flyte executor does)', () => {
  const pod: Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', labels: { app: 'x', [INJECT_LABEL]: 'false' }, annotations: { keep: 'me', 'flyte.secrets/s0': 'stale' } },
    spec: { containers: [{ name: 'c' }] },
  };

  it('merges the annotations over the existing ones and adds the opt-in label (v1 executor vector)', () => {
    const before = structuredClone(pod);
    const secrets = [makeSecret({ group: 'my_group', key: 'my_key', mountRequirement: MountRequirement.ENV_VAR })];
    const out = annotatePod(pod, secrets);
    expect(pod).toEqual(before);
    expect(out.metadata?.annotations).toEqual({
      keep: 'me',
      [`${SECRET_ANNOTATION_PREFIX}0`]: 'm4zg54lqhiqce2lzl4txe22voarau12fpe4caitnpfpwwzlzeifg122vnz1f53tfof1ws3tfnvsw34b1ebcu3vs6kzavecq',
    });
    expect(out.metadata?.labels).toEqual({ app: 'x', [INJECT_LABEL]: INJECT_LABEL_VALUE });
    expect(out.spec).toEqual(pod.spec);
  });

  it('creates metadata maps when the pod has none', () => {
    const out = annotatePod({ spec: { containers: [] } }, [makeSecret({ key: 'my_key' })]);
    expect(out.metadata).toEqual({ annotations: { 'flyte.secrets/s0': 'nnsxsoraejwxsx2lmv3secq' }, labels: { 'inject-flyte-secrets': 'true' } });
  });

  it('leaves the pod unchanged (and unlabelled) when there are no secrets', () => {
    expect(annotatePod(pod, [])).toBe(pod);
  });
});

describe('properties', () => {
  const secretArb = fc.record({
    group: fc.string({ unit: 'binary', maxLength: 30 }),
    groupVersion: fc.string({ unit: 'binary', maxLength: 10 }),
    key: fc.string({ unit: 'binary', maxLength: 30 }),
    mountRequirement: fc.integer({ min: 0, max: 2 }),
    envVar: fc.string({ unit: 'binary', maxLength: 20 }),
  });

  it('decode(encode(x)) = x for arbitrary Unicode in every field', () => {
    fc.assert(
      fc.property(secretArb, (secret) => {
        expect(decodeSecretAnnotation('flyte.secrets/s0', encodeSecretAnnotation(secret))).toEqual(secret);
      }),
      { numRuns: 200 },
    );
  });

  it('the decoders throw only FlyteSecretsError on arbitrary text and bytes', () => {
    const onlyOurs = (fn: () => unknown): void => {
      try {
        fn();
      } catch (err) {
        expect(isFlyteSecretsError(err)).toBe(true);
      }
    };
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 60 }), fc.uint8Array({ maxLength: 60 }), (s, bytes) => {
        onlyOurs(() => decodeSecretAnnotation('flyte.secrets/s0', s));
        onlyOurs(() => decodeSecretAnnotation('flyte.secrets/s0', encodeFlyteBase32(bytes)));
        onlyOurs(() => unmarshalSecretText(bytes));
        onlyOurs(() => unmarshalSecretText(utf8(s)));
      }),
      { numRuns: 200 },
    );
  });

  it('token soup from the text-format grammar never escapes as a non-FlyteSecretsError', () => {
    const tokens = ['group', 'key', 'mount_requirement', 'env_var', ':', ' ', '\n', ';', ',', '"a"', "'b'", '"\\303"', '#c\n', 'FILE', '0x2', '-1', '[', ']', '{', '/', '"\\x', '\\', '"', 'é'];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...tokens), { maxLength: 16 }), (parts) => {
        try {
          unmarshalSecretText(utf8(parts.join('')));
        } catch (err) {
          expect(isFlyteSecretsError(err, 'InvalidAnnotation')).toBe(true);
        }
      }),
      { numRuns: 200 },
    );
  });
});
