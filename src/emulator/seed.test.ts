import { describe, expect, it } from 'vitest';
import { decodeEnvelope } from '../azure/secret-value.js';
import { isFlyteSecretsError } from '../errors.js';
import { normaliseSeed, parseSeedText } from './seed.js';

describe('seed files', () => {
  it('reads plain entries from YAML, with attributes as Unix seconds or ISO dates', () => {
    const seeds = parseSeedText(
      [
        '- name: db-password',
        '  value: hunter2',
        '  contentType: text/plain',
        '  tags: { team: ml }',
        '  enabled: false',
        '  nbf: 1700000000',
        '  exp: 2030-01-01T00:00:00Z',
      ].join('\n'),
      'seed.yaml',
    );
    expect(seeds).toEqual([
      { name: 'db-password', value: 'hunter2', contentType: 'text/plain', tags: { team: 'ml' }, attributes: { enabled: false, nbf: 1_700_000_000, exp: 1_893_456_000 } },
    ]);
  });

  it('reads JSON, and an object with a "secrets" list', () => {
    expect(parseSeedText('[{"name":"a","value":"1"}]')).toEqual([{ name: 'a', value: '1' }]);
    expect(parseSeedText('{"secrets":[{"name":"a","value":"1"}]}')).toEqual([{ name: 'a', value: '1' }]);
    expect(parseSeedText('')).toEqual([]);
  });

  it('stores Flyte-native entries under the encoded name with the JSON envelope (Flyte: `secret/azure_utils.go`)', () => {
    const seeds = normaliseSeed([
      { flyteName: 'my-secret', domain: 'development', project: 'flytesnacks', string: 's3cr3t' },
      { flyteName: 'my-secret', domain: 'development', string: 'domain-scoped' },
      { flyteName: 'my-secret', binaryBase64: 'SGVsbG8=' },
      { org: '', domain: 'd', project: 'p', flyteName: 'k', string: '' },
    ]);
    expect(seeds.map((s) => s.name)).toEqual([
      '1-flyte-development-flytesnacks-NV4S243FMNZGK5A',
      '1-flyte-development--NV4S243FMNZGK5A',
      '1-flyte---NV4S243FMNZGK5A',
      '1--d-p-NM',
    ]);
    expect(seeds[0]!.value).toBe('{"type":"STRING","value":"s3cr3t"}');
    expect(seeds[2]!.value).toBe('{"type":"BINARY","value":"SGVsbG8="}');
    expect(Buffer.from(decodeEnvelope(seeds[2]!.value).bytes()).toString()).toBe('Hello');
  });

  it.each([
    ['not a list', { a: 1 }, /seed: expected a list/],
    ['a non-object entry', ['x'], /seed entry 1: expected an object/],
    ['no name', [{ value: 'v' }], /seed entry 1: "name" is required/],
    ['no value', [{ name: 'a' }], /seed entry 1: "value" is required/],
    ['an unknown key', [{ name: 'a', value: 'v', expires: 1 }], /seed entry 1: unknown key "expires"/],
    ['a bad date', [{ name: 'a', value: 'v', exp: 'someday' }], /"exp" must be Unix seconds or an ISO-8601 date/],
    ['bad tags', [{ name: 'a', value: 'v', tags: { a: 1 } }], /"tags" must be a map of strings/],
    ['both string and binary', [{ flyteName: 'a', string: 'x', binaryBase64: 'eA==' }], /exactly one of "string" and "binaryBase64"/],
    ['neither string nor binary', [{ flyteName: 'a' }], /exactly one of "string" and "binaryBase64"/],
    ['bad base64', [{ flyteName: 'a', binaryBase64: 'not base64!' }], /not standard base64/],
    ['a component Key Vault cannot hold', [{ flyteName: 'a', project: 'my_project', string: 'x' }], /^seed entry 1: .*project "my_project" contains "_"/],
  ])('refuses %s with a message naming the entry', (_name, data, message) => {
    let err: unknown;
    try {
      normaliseSeed(data);
    } catch (e) {
      err = e;
    }
    expect(isFlyteSecretsError(err, 'InvalidInput')).toBe(true);
    expect((err as Error).message).toMatch(message);
  });

  it('never puts a value in an error message', () => {
    let err: unknown;
    try {
      parseSeedText('- name: a\n  value: topsecret\n  tags: [1]\n');
    } catch (e) {
      err = e;
    }
    expect((err as Error).message).not.toContain('topsecret');
    try {
      parseSeedText('- name: a\n  value: "topsecret\n');
    } catch (e) {
      err = e;
    }
    expect((err as Error).message).toMatch(/not valid JSON or YAML/);
    expect((err as Error).message).not.toContain('topsecret');
  });
});
