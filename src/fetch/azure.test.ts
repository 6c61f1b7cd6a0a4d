import { RestError, createHttpHeaders, createPipelineRequest } from '@azure/core-rest-pipeline';
import { describe, expect, it } from 'vitest';
import type { FlyteSecretId } from '../secret/flyte-id.js';
import { createAzureFetcher, type KeyVaultSecretReader } from './azure.js';

// The id of Flyte's `secret/azure_secret_fetcher_test.go` vector.
const id: FlyteSecretId = { org: 'test-org', domain: 'test-domain', project: 'test-project', name: 'test-secret' };
const ID = 'u__org__test-org__domain__test-domain__project__test-project__key__test-secret';
const KV_NAME = '1-test01org-test01domain-test01project-ORSXG5BNONSWG4TFOQ';

function reader(answer: (name: string) => Promise<{ value?: string }>): KeyVaultSecretReader & { names: string[] } {
  const names: string[] = [];
  return {
    names,
    getSecret(name) {
      names.push(name);
      return answer(name);
    },
  };
}

function restError(status: number, code: string, message: string, headers: Record<string, string> = {}): RestError {
  const request = createPipelineRequest({ url: 'https://myvault.vault.azure.net/secrets/x/' });
  return new RestError(message, { statusCode: status, code, request, response: { status, headers: createHttpHeaders(headers), request } });
}

const vaultUrl = 'https://myvault.vault.azure.net/';

describe('Azure Key Vault fetcher (Flyte: `secret/azure_secret_fetcher.go`)', () => {
  it('asks for the encoded name (latest version) and decodes STRING and BINARY envelopes', async () => {
    const client = reader((name) => Promise.resolve({ value: name === KV_NAME ? '{"type":"STRING","value":"test-value"}' : '' }));
    const f = createAzureFetcher({ vaultUrl, client });
    expect(f.budgetKey).toBe('myvault.vault.azure.net');
    const v = await f.fetch(id);
    expect(client.names).toEqual([KV_NAME]);
    expect(v.kind).toBe('string');
    expect(v.text()).toBe('test-value');
    const bin = createAzureFetcher({ vaultUrl, client: reader(() => Promise.resolve({ value: '{"type":"BINARY","value":"SGVsbG8="}' })) });
    const b = await bin.fetch(id);
    expect(b.kind).toBe('binary');
    expect([...b.bytes()]).toEqual([0x48, 0x65, 0x6c, 0x6c, 0x6f]);
  });

  it('404 → exactly the NotFound wrap of the response error', async () => {
    const err = restError(404, 'SecretNotFound', `A secret with (name/id) ${KV_NAME} was not found in this key vault.`);
    const f = createAzureFetcher({ vaultUrl, client: reader(() => Promise.reject(err)) });
    await expect(f.fetch(id)).rejects.toMatchObject({
      code: 'SecretNotFound',
      message: `[SecretNotFound] secret ${ID} not found in the secret manager, caused by: A secret with (name/id) ${KV_NAME} was not found in this key vault.`,
      cause: err,
    });
  });

  it('a plain error → ReadFailure wrap («test-error»), not retryable', async () => {
    const f = createAzureFetcher({ vaultUrl, client: reader(() => Promise.reject(new Error('test-error'))) });
    await expect(f.fetch(id)).rejects.toMatchObject({
      code: 'SecretReadFailure',
      retryable: false,
      message: `[SecretReadFailure] secret ${ID} failed to be read from secret manager, caused by: test-error`,
    });
  });

  it.each([
    [429, { throttled: true, retryable: true, retryAfterMs: 3000 }],
    [503, { throttled: false, retryable: true }],
    [500, { throttled: false, retryable: true }],
    [403, { throttled: false, retryable: false }],
    [401, { throttled: false, retryable: false }],
    [400, { throttled: false, retryable: false }],
  ])('HTTP %i → SecretReadFailure %o', async (status, expected) => {
    const f = createAzureFetcher({ vaultUrl, client: reader(() => Promise.reject(restError(status, 'X', `status ${status}`, { 'retry-after': '3' }))) });
    await expect(f.fetch(id)).rejects.toMatchObject({ code: 'SecretReadFailure', status, ...expected });
  });

  it('network errors and timeouts are retryable read failures', async () => {
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    await expect(createAzureFetcher({ vaultUrl, client: reader(() => Promise.reject(reset)) }).fetch(id)).rejects.toMatchObject({ code: 'SecretReadFailure', retryable: true });
    const never = createAzureFetcher({ vaultUrl, client: reader(() => new Promise(() => undefined)) });
    await expect(never.fetch(id, AbortSignal.timeout(50))).rejects.toMatchObject({ code: 'SecretReadFailure', retryable: true });
  });

  it.each([[undefined], ['']])('value %o → SecretNil with a nil cause', async (value) => {
    const f = createAzureFetcher({ vaultUrl, client: reader(() => Promise.resolve(value === undefined ? {} : { value })) });
    await expect(f.fetch(id)).rejects.toMatchObject({ code: 'SecretNil', message: `[SecretNil] secret ${ID} read as empty from the secret manager, caused by: <nil>` });
  });

  it('a plain (non-envelope) value is a string by default, and a read failure with plainValues: reject — without quoting the value', async () => {
    const client = reader(() => Promise.resolve({ value: 'hunter2-very-secret-text' }));
    expect((await createAzureFetcher({ vaultUrl, client }).fetch(id)).text()).toBe('hunter2-very-secret-text');
    const err = await createAzureFetcher({ vaultUrl, client, plainValues: 'reject' }).fetch(id).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'SecretReadFailure', retryable: false });
    expect((err as Error).message).toMatch(/^\[SecretReadFailure\] secret u__org__test-org__domain__test-domain__project__test-project__key__test-secret failed to be read from secret manager, caused by: /);
    expect((err as Error).message).not.toContain('hunter2');
    expect((err as Error).message).not.toContain('secret-text');
  });

  it('a damaged envelope is a read failure whose message does not quote the value', async () => {
    for (const value of ['{"type":"STRING","value":"topsecretvalue"', '{"type":"BINARY","value":"not base64 topsecretvalue"}', '{"type":"string","value":"topsecretvalue"}']) {
      const err = await createAzureFetcher({ vaultUrl, client: reader(() => Promise.resolve({ value })) }).fetch(id).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'SecretReadFailure' });
      expect((err as Error).message).not.toContain('topsecret');
    }
  });

  it('an id Key Vault cannot name (illegal character, too long) is a read failure before any call', async () => {
    const client = reader(() => Promise.resolve({ value: 'x' }));
    const f = createAzureFetcher({ vaultUrl, client });
    await expect(f.fetch({ ...id, project: 'my_project' })).rejects.toMatchObject({ code: 'SecretReadFailure' });
    await expect(f.fetch({ ...id, name: 'a'.repeat(80) })).rejects.toMatchObject({ code: 'SecretReadFailure' });
    expect(client.names).toEqual([]);
  });

  it('refuses a vault URL that is not a URL', () => {
    expect(() => createAzureFetcher({ vaultUrl: 'myvault', client: reader(() => Promise.resolve({})) })).toThrow(/not a URL/);
  });
});
