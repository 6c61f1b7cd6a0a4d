import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FlyteSecretsError } from '../errors.js';
import type { SecretValue } from '../secret/value.js';
import {
  KEY_VAULT_MAX_VALUE_BYTES,
  decodeBase64StdGo,
  decodeEnvelope,
  decodeKeyVaultValue,
  encodeBinaryEnvelope,
  encodeStringEnvelope,
} from './secret-value.js';
import { errorOf } from '../../test/support/expect-error.js';

interface Expected {
  kind?: 'string' | 'binary';
  value?: string;
  valueBase64?: string;
  error?: string;
}
interface Vectors {
  secretMarker: string;
  encode: (Expected & { envelope: string; note?: string })[];
  decode: (Expected & { envelope: string; note?: string })[];
  decodeErrors: { envelope: string; error: string; note?: string }[];
  plainValues: { text: string; string: Expected; reject: Expected; note?: string }[];
}

const vectors = JSON.parse(
  readFileSync(new URL('../../test/vectors/azure-envelopes.json', import.meta.url), 'utf8'),
) as Vectors;
const marker = vectors.secretMarker;
const b64 = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'base64'));

function expectValue(v: SecretValue, e: Expected): void {
  expect(v.kind).toBe(e.kind);
  if (e.kind === 'string') expect(v.text()).toBe(e.value);
  else expect(Buffer.from(v.bytes()).toString('base64')).toBe(e.valueBase64);
}

function expectOutcome(fn: () => SecretValue, e: Expected): void {
  if (e.error !== undefined) {
    const err = errorOf(fn);
    expect(err.code).toBe('InvalidEnvelope');
    expect(err.message).toBe(e.error);
  } else {
    expectValue(fn(), e);
  }
}

describe('envelope encoding (Flyte: `secret/azure_utils.go`)', () => {
  it.each(vectors.encode.map((v) => [v.envelope, v] as const))('%s', (_name, v) => {
    const out = v.kind === 'string' ? encodeStringEnvelope(v.value!) : encodeBinaryEnvelope(b64(v.valueBase64!));
    expect(out).toBe(v.envelope);
    expectValue(decodeEnvelope(out), v);
    // Whatever Go escapes, the result is still plain JSON with the same content.
    expect(JSON.parse(out)).toEqual({ type: v.kind === 'string' ? 'STRING' : 'BINARY', value: v.kind === 'string' ? v.value : v.valueBase64 });
  });

  it('refuses a string with an unpaired surrogate (no UTF-8 form) without echoing it', () => {
    const err = errorOf(() => encodeStringEnvelope(`${marker}\uD800`));
    expect(err.code).toBe('InvalidEnvelope');
    expect(err.message).not.toContain(marker);
    expect(() => encodeStringEnvelope(`${marker}\uDC00x`)).toThrow(FlyteSecretsError);
    expect(encodeStringEnvelope('\uD83C\uDF89')).toBe('{"type":"STRING","value":"\uD83C\uDF89"}');
  });

  it('enforces Key Vault’s 25 KiB value limit on the envelope', () => {
    const overhead = '{"type":"STRING","value":""}'.length;
    expect(encodeStringEnvelope('a'.repeat(KEY_VAULT_MAX_VALUE_BYTES - overhead))).toHaveLength(KEY_VAULT_MAX_VALUE_BYTES);
    const err = errorOf(() => encodeStringEnvelope('a'.repeat(KEY_VAULT_MAX_VALUE_BYTES - overhead + 1)));
    expect(err.code).toBe('InvalidEnvelope');
    expect(err.message).toContain('25601 bytes');
    // Two-byte characters count as two bytes.
    expect(() => encodeStringEnvelope('é'.repeat(12_800))).toThrow(/at most 25600 bytes/);
    // Binary: 19,179 bytes fit, 19,180 do not.
    expect(encodeBinaryEnvelope(new Uint8Array(19_179))).toHaveLength(25_600);
    expect(() => encodeBinaryEnvelope(new Uint8Array(19_180))).toThrow(/above 19,179 bytes/);
  });

  it('encodes a subarray view, not its whole buffer', () => {
    const whole = Uint8Array.from([1, 2, 3, 4, 5]);
    expect(encodeBinaryEnvelope(whole.subarray(1, 3))).toBe('{"type":"BINARY","value":"AgM="}');
  });
});

describe('envelope decoding (Go rules)', () => {
  it.each(vectors.decode.map((v) => [v.envelope, v] as const))('%j', (_name, v) => {
    expectValue(decodeEnvelope(v.envelope), v);
  });

  it.each(vectors.decodeErrors.map((v) => [v.envelope, v] as const))('%j is refused', (_name, v) => {
    const err = errorOf(() => decodeEnvelope(v.envelope));
    expect(err.code).toBe('InvalidEnvelope');
    expect(err.message).toBe(v.error);
    expect(err.message).not.toContain(marker);
  });

  it('survives deep nesting without a stack overflow (Go’s depth limit 10000)', () => {
    expect(decodeEnvelope(`{"x":${'['.repeat(9_999)}${']'.repeat(9_999)},"value":"ok"}`).text()).toBe('ok');
    expect(() => decodeEnvelope(`{"x":${'['.repeat(10_000)}${']'.repeat(10_000)}}`)).toThrow(/exceeded max depth/);
    expect(() => decodeEnvelope('['.repeat(200_000))).toThrow(FlyteSecretsError);
  });

  it('decodes a 25 KiB envelope (the largest Key Vault holds)', () => {
    const big = 'x'.repeat(25_000);
    for (let i = 0; i < 20; i++) expect(decodeEnvelope(encodeStringEnvelope(big)).text()).toBe(big);
  });
});

describe('decodeKeyVaultValue (plain values)', () => {
  it.each(vectors.plainValues.map((v) => [v.text, v] as const))('%j', (_name, v) => {
    expectOutcome(() => decodeKeyVaultValue(v.text, { plainValues: 'string' }), v.string);
    expectOutcome(() => decodeKeyVaultValue(v.text, { plainValues: 'reject' }), v.reject);
    for (const mode of ['string', 'reject'] as const) {
      try {
        decodeKeyVaultValue(v.text, { plainValues: mode });
      } catch (e) {
        expect((e as Error).message).not.toContain(marker);
      }
    }
  });
});

describe('base64 (Go StdEncoding)', () => {
  it.each([
    ['', ''],
    ['SGVsbG8=', 'SGVsbG8='],
    ['\r\nSG\nVs\rbG8=\n', 'SGVsbG8='],
    ['SA==', 'SA=='],
    ['SGVs', 'SGVs'],
    ['SG\n=\n=', 'SA=='],
  ])('%j decodes', (input, canonical) => {
    expect(Buffer.from(decodeBase64StdGo(input)).toString('base64')).toBe(canonical);
  });
  it.each([
    ['S', 0],
    ['SG', 0],
    ['SGV', 0],
    ['=', 0],
    ['SG=x', 2],
    ['SG=', 3],
    ['SGVsbG8=SGVs', 8],
    ['SGVs-', 4],
    ['SGVsé', 4],
  ])('%j fails at byte %d', (input, at) => {
    expect(() => decodeBase64StdGo(input)).toThrow(`illegal base64 data at input byte ${at}`);
  });
});

describe('error messages carry no stored text, by construction (no caller scrubs them)', () => {
  // Stored text in every place of an envelope: the type, the value, a key, nested, or broken JSON around it.
  const places: ((json: string, raw: string) => string)[] = [
    (j) => `{"type":${j},"value":"x"}`,
    (j) => `{"value":"x","TYPE":${j}}`,
    (j) => `{"type":"STRING","type":${j}}`,
    (j) => `{"type":[${j}],"value":"x"}`,
    (j) => `{"type":{"a":${j}},"value":"x"}`,
    (j) => `{"type":"BINARY","value":${j}}`,
    (j) => `{"value":[${j}]}`,
    (j) => `{"value":{${j}:${j}}}`,
    (j) => `{${j}:1,"type":"nope"}`,
    (j) => `{"type":"STRING","value":${j}`,
    (j) => `{"type":${j}`,
    (j) => `{"type":"STRING","value":${j}}x`,
    (_j, raw) => raw,
    (_j, raw) => `{"type":"STRING","value":"${raw}`,
    (_j, raw) => `{"type":${raw}}`,
  ];

  it('decodeEnvelope and decodeKeyVaultValue (both modes) never quote any of the text they were given', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 24 }), fc.nat({ max: places.length - 1 }), (s, at) => {
        const stored = `K7q${s}`; // K7q appears in no fixed message text
        const text = places[at]!(JSON.stringify(stored), stored);
        for (const decode of [() => decodeEnvelope(text), () => decodeKeyVaultValue(text, { plainValues: 'reject' }), () => decodeKeyVaultValue(text, { plainValues: 'string' })]) {
          let message: string | undefined;
          try {
            decode();
          } catch (err) {
            expect((err as FlyteSecretsError).code).toBe('InvalidEnvelope');
            message = (err as Error).message;
          }
          if (message !== undefined) expect(message).not.toContain('K7q');
        }
      }),
      { numRuns: 1500 },
    );
  });

  it.each([
    ['a secret written into the type field', '{"type":"hunter2-correct-horse","value":"x"}', 'the envelope\'s type is a 21-character string that is not shown'],
    ['a number type', '{"type":12345678,"value":"x"}', 'azureSecretValueType should be a string, got a JSON number'],
    ['an object type', '{"type":{"pw":"hunter2"},"value":"x"}', 'azureSecretValueType should be a string, got a JSON object'],
    ['an object value', '{"value":{"pw":"hunter2"}}', 'json: cannot unmarshal object into Go struct field azureSecretValue.value of type string'],
    ['broken base64', '{"type":"BINARY","value":"hunter2!"}', 'illegal base64 data at input byte 7'],
  ])('%s: described, not quoted', (_name, text, message) => {
    const err = errorOf(() => decodeEnvelope(text));
    expect(err.code).toBe('InvalidEnvelope');
    expect(err.message.startsWith(message)).toBe(true);
    expect(err.message).not.toMatch(/hunter2|12345678|horse/);
  });
});

describe('envelope properties (bounded)', () => {
  const wellFormed = (s: string): boolean => !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);

  it('decode(encode(s)) = s for strings, and the envelope is valid JSON', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 60 }).filter(wellFormed), (s) => {
        const env = encodeStringEnvelope(s);
        const v = decodeEnvelope(env);
        expect(v.kind).toBe('string');
        expect(v.text()).toBe(s);
        expect(JSON.parse(env)).toEqual({ type: 'STRING', value: s });
        expect([...env].some((c) => c < ' ' || '<>&\u2028\u2029'.includes(c))).toBe(false);
      }),
      { numRuns: 400 },
    );
  });

  it('decode(encode(b)) = b for bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (b) => {
        const v = decodeEnvelope(encodeBinaryEnvelope(b));
        expect(v.kind).toBe('binary');
        expect(Array.from(v.bytes())).toEqual(Array.from(b));
      }),
      { numRuns: 300 },
    );
  });

  it('the JSON scanner accepts exactly what JSON.parse accepts', () => {
    const nearJson = fc.oneof(
      fc.json({ maxDepth: 3 }),
      fc.string({ maxLength: 30 }),
      fc.json({ maxDepth: 2 }).chain((j) =>
        fc.nat({ max: Math.max(0, j.length - 1) }).map((cut) => j.slice(0, cut)),
      ),
      fc.tuple(fc.json({ maxDepth: 2 }), fc.nat(), fc.constantFrom(',', '}', ']', ':', '"', '\\', '\u0001', ' ', 'x', '0')).map(
        ([j, at, ch]) => j.slice(0, at % (j.length + 1)) + ch + j.slice(at % (j.length + 1)),
      ),
    );
    fc.assert(
      fc.property(nearJson, (text) => {
        let valid = true;
        try {
          JSON.parse(text);
        } catch {
          valid = false;
        }
        let message = '';
        try {
          decodeEnvelope(text);
        } catch (e) {
          expect(e).toBeInstanceOf(FlyteSecretsError);
          message = (e as Error).message;
        }
        expect(message.includes('invalid JSON')).toBe(!valid);
      }),
      { numRuns: 1_000 },
    );
  });

  it('decoders throw only FlyteSecretsError, never echoing the value', () => {
    const secret = fc.stringMatching(/^[a-z]{10,16}$/);
    const broken = fc.tuple(secret, fc.nat(), fc.constantFrom('truncate', 'control', 'base64', 'object', 'type', 'array')).map(
      ([s, at, how]) => {
        const env = `{"type":"STRING","value":"${s}"}`;
        switch (how) {
          case 'truncate': return { s, text: env.slice(0, at % env.length) };
          case 'control': return { s, text: env.replace(s, `${s}\u0002`) };
          case 'base64': return { s, text: `{"type":"BINARY","value":"${s}!"}` };
          case 'object': return { s, text: `{"type":"STRING","value":{"v":"${s}"}}` };
          case 'type': return { s, text: `{"value":"${s}","type":"${s.toUpperCase()}X"}` };
          default: return { s, text: `{"value":["${s}"]}` };
        }
      },
    );
    fc.assert(
      fc.property(broken, ({ s, text }) => {
        for (const fn of [
          () => decodeEnvelope(text),
          () => decodeKeyVaultValue(text, { plainValues: 'reject' }),
          () => decodeKeyVaultValue(text, { plainValues: 'string' }),
        ]) {
          try {
            fn();
          } catch (e) {
            expect(e).toBeInstanceOf(FlyteSecretsError);
            expect((e as Error).message).not.toContain(s);
          }
        }
      }),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (text) => {
        for (const fn of [() => decodeEnvelope(text), () => decodeKeyVaultValue(text, { plainValues: 'string' })]) {
          try {
            fn();
          } catch (e) {
            expect(e).toBeInstanceOf(FlyteSecretsError);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
