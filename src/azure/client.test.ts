import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AccessToken, TokenCredential } from '@azure/core-auth';
import { createHttpHeaders, type HttpClient, type PipelineRequest, type PipelineResponse } from '@azure/core-rest-pipeline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFlyteSecretsError } from '../errors.js';
import { startEmulator, type Emulator } from '../emulator/index.js';
import { createSecretClient, defaultCredentialOptions, isLoopbackHost } from './client.js';

const fastRetries = { retryOptions: { maxRetries: 1, retryDelayInMs: 5, maxRetryDelayInMs: 10 } };

describe('isLoopbackHost', () => {
  it.each([
    ['localhost', true],
    ['LOCALHOST', true],
    ['127.0.0.1', true],
    ['127.255.3.4', true],
    ['[::1]', true],
    ['::1', true],
    ['127.0.0.256', false],
    ['128.0.0.1', false],
    ['myvault.vault.azure.net', false],
    ['127.0.0.1.nip.io', false],
    ['localhost.example.com', false],
    ['0.0.0.0', false],
  ])('%s → %s', (host, expected) => {
    expect(isLoopbackHost(host)).toBe(expected);
  });
});

describe('defaultCredentialOptions', () => {
  it('disables instance discovery only for a loopback authority host', () => {
    expect(defaultCredentialOptions({ AZURE_AUTHORITY_HOST: 'https://127.0.0.1:8443' })).toEqual({ disableInstanceDiscovery: true });
    expect(defaultCredentialOptions({ AZURE_AUTHORITY_HOST: 'https://localhost:8443/' })).toEqual({ disableInstanceDiscovery: true });
    expect(defaultCredentialOptions({ AZURE_AUTHORITY_HOST: 'https://login.microsoftonline.com' })).toEqual({});
    expect(defaultCredentialOptions({})).toEqual({});
    expect(defaultCredentialOptions({ AZURE_AUTHORITY_HOST: 'not a url' })).toEqual({});
  });

  it('trusts an extra CA on top of the public ones', () => {
    const o = defaultCredentialOptions({}, 'PEM');
    const ca = (o as { tlsOptions: { ca: string[] } }).tlsOptions.ca;
    expect(ca[ca.length - 1]).toBe('PEM');
    expect(ca.length).toBeGreaterThan(50);
  });
});

describe('createSecretClient', () => {
  it.each([['not a url'], ['http://127.0.0.1:8443'], ['ftp://vault']])('refuses %j with InvalidKeyVaultUri', (url) => {
    let err: unknown;
    try {
      createSecretClient(url, { credential: fakeCredential() });
    } catch (e) {
      err = e;
    }
    expect(isFlyteSecretsError(err, 'InvalidKeyVaultUri')).toBe(true);
  });

  // A fake transport: answers the bearer challenge (resource vault.azure.net, as Key Vault does), then a secret.
  function fakeVault(): HttpClient & { authorized: number } {
    const client = {
      authorized: 0,
      sendRequest(request: PipelineRequest): Promise<PipelineResponse> {
        if (!request.headers.has('authorization')) {
          return Promise.resolve({
            request,
            status: 401,
            headers: createHttpHeaders({ 'www-authenticate': 'Bearer authorization="https://login.microsoftonline.com/t", resource="https://vault.azure.net"', 'content-type': 'application/json' }),
            bodyAsText: '{"error":{"code":"Unauthorized","message":"no token"}}',
          });
        }
        client.authorized++;
        const origin = new URL(request.url).origin;
        return Promise.resolve({
          request,
          status: 200,
          headers: createHttpHeaders({ 'content-type': 'application/json' }),
          bodyAsText: JSON.stringify({ value: 'v', id: `${origin}/secrets/s/0123456789abcdef0123456789abcdef`, attributes: { enabled: true } }),
        });
      },
    };
    return client;
  }

  function fakeCredential(): TokenCredential {
    return { getToken: (): Promise<AccessToken> => Promise.resolve({ token: 't', expiresOnTimestamp: Date.now() + 3_600_000 }) };
  }

  async function outcome(vaultUrl: string, disable?: boolean): Promise<string> {
    const httpClient = fakeVault();
    const client = createSecretClient(vaultUrl, {
      credential: fakeCredential(),
      ...(disable === undefined ? {} : { disableChallengeResourceVerification: disable }),
      clientOptions: { httpClient, ...fastRetries },
    });
    try {
      return (await client.getSecret('s')).value ?? '';
    } catch (e) {
      return /does not match the requested domain/.test((e as Error).message) ? 'refused' : `error: ${(e as Error).message}`;
    }
  }

  it.each([
    ['https://127.0.0.1:8443', undefined, 'v'],
    ['https://localhost:8443', undefined, 'v'],
    ['https://[::1]:8443', undefined, 'v'],
    ['https://127.0.0.1:8443', false, 'refused'],
    ['https://myvault.vault.azure.net', undefined, 'v'],
    ['https://kv.example.com', undefined, 'refused'],
    ['https://kv.example.com', false, 'refused'],
    ['https://kv.example.com', true, 'v'],
  ])('challenge-resource check for %s (disableChallengeResourceVerification=%s): %s', async (url, disable, expected) => {
    expect(await outcome(url, disable)).toBe(expected);
  });

  describe('against the emulator with DefaultAzureCredential from the environment', () => {
    let emu: Emulator;
    let dir: string;
    const saved: Record<string, string | undefined> = {};
    const KEYS = ['AZURE_TENANT_ID', 'AZURE_CLIENT_ID', 'AZURE_CLIENT_SECRET', 'AZURE_FEDERATED_TOKEN_FILE', 'AZURE_AUTHORITY_HOST', 'AZURE_TOKEN_CREDENTIALS', 'AZURE_CLIENT_CERTIFICATE_PATH', 'AZURE_USERNAME'];

    function setEnv(values: Record<string, string>): void {
      for (const k of KEYS) delete process.env[k];
      Object.assign(process.env, values);
    }

    beforeAll(async () => {
      for (const k of KEYS) saved[k] = process.env[k];
      dir = mkdtempSync(join(tmpdir(), 'client-test-'));
      emu = await startEmulator({ seed: [{ name: 'db', value: 'hunter2' }] });
    });

    afterAll(async () => {
      for (const k of KEYS) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
      await emu?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('client secret from AZURE_* env, CA from the ca option', async () => {
      setEnv({ AZURE_TENANT_ID: emu.tenantId, AZURE_CLIENT_ID: emu.clientId, AZURE_CLIENT_SECRET: emu.clientSecret, AZURE_AUTHORITY_HOST: emu.authorityHost });
      const client = createSecretClient(emu.vaultUrl, { ca: emu.caPem, clientOptions: fastRetries });
      expect((await client.getSecret('db')).value).toBe('hunter2');
    });

    it('workload identity (AZURE_FEDERATED_TOKEN_FILE) from env', async () => {
      const tokenFile = join(dir, 'token');
      writeFileSync(tokenFile, 'a.b.c');
      setEnv({ AZURE_TENANT_ID: emu.tenantId, AZURE_CLIENT_ID: emu.clientId, AZURE_FEDERATED_TOKEN_FILE: tokenFile, AZURE_AUTHORITY_HOST: emu.authorityHost });
      const before = emu.stats().token ?? 0;
      const client = createSecretClient(emu.vaultUrl, { ca: emu.caPem, clientOptions: fastRetries });
      expect((await client.getSecret('db')).value).toBe('hunter2');
      expect((emu.stats().token ?? 0) - before).toBe(1);
    });

    it('without the CA the emulator is not trusted', async () => {
      setEnv({ AZURE_TENANT_ID: emu.tenantId, AZURE_CLIENT_ID: emu.clientId, AZURE_CLIENT_SECRET: emu.clientSecret, AZURE_AUTHORITY_HOST: emu.authorityHost });
      const client = createSecretClient(emu.vaultUrl, { clientOptions: fastRetries });
      const err = await client.getSecret('db').then(
        () => undefined,
        (e: unknown) => e as { code?: string },
      );
      expect(err?.code).toMatch(/CERT|SIGNATURE|SELF_SIGNED/);
    });
  });
});
