/**
 * Contract test: the official, unchanged `@azure/keyvault-secrets` SecretClient with `ClientSecretCredential` and
 * `WorkloadIdentityCredential` against a started emulator, for every operation the project relies on, plus faults,
 * throttling and the CLI's ready line.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AccessToken, TokenCredential } from '@azure/core-auth';
import { ClientSecretCredential, WorkloadIdentityCredential } from '@azure/identity';
import { SecretClient, type SecretClientOptions } from '@azure/keyvault-secrets';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../src/emulator/index.js';

const SCOPE = 'https://vault.azure.net/.default';
const FEDERATED_TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6Zmx5dGU6ZGVmYXVsdCJ9.c2lnbmF0dXJl';

let emu: Emulator;
let dir: string;
let tokenFile: string;

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function raw(method: string, url: string, ca: string, headers: Record<string, string> = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, ca, headers, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

const fastRetries = { retryOptions: { maxRetries: 3, retryDelayInMs: 5, maxRetryDelayInMs: 20 } };

function client(credential: TokenCredential, extra: SecretClientOptions = {}): SecretClient {
  return new SecretClient(emu.vaultUrl, credential, { disableChallengeResourceVerification: true, tlsOptions: { ca: emu.caPem }, ...fastRetries, ...extra });
}

function secretCredential(): ClientSecretCredential {
  return new ClientSecretCredential(emu.tenantId, emu.clientId, emu.clientSecret, {
    authorityHost: emu.authorityHost,
    disableInstanceDiscovery: true,
    tlsOptions: { ca: emu.caPem },
  });
}

function workloadCredential(file = tokenFile): WorkloadIdentityCredential {
  return new WorkloadIdentityCredential({
    tenantId: emu.tenantId,
    clientId: emu.clientId,
    tokenFilePath: file,
    authorityHost: emu.authorityHost,
    disableInstanceDiscovery: true,
    tlsOptions: { ca: emu.caPem },
  });
}

async function rejection(p: Promise<unknown>): Promise<{ statusCode?: number; code?: string; message: string; name: string }> {
  try {
    await p;
  } catch (e) {
    return e as { statusCode?: number; code?: string; message: string; name: string };
  }
  throw new Error('expected the call to fail');
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'emulator-contract-'));
  tokenFile = join(dir, 'azure-identity-token');
  writeFileSync(tokenFile, FEDERATED_TOKEN);
  emu = await startEmulator({ allowedAssertions: [FEDERATED_TOKEN], seed: [{ name: 'seeded', value: 'from-seed' }] });
});

afterAll(async () => {
  await emu?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe.each([
  ['ClientSecretCredential', 'cs', secretCredential],
  ['WorkloadIdentityCredential', 'wi', () => workloadCredential()],
])('official SecretClient with %s', (_label, prefix, makeCredential) => {
  let c: SecretClient;
  beforeAll(() => {
    c = client(makeCredential());
  });

  it('set, get latest, get by version, list versions', async () => {
    const v1 = await c.setSecret(`${prefix}-db`, 'one', { contentType: 'text/plain', tags: { team: 'ml' } });
    const v2 = await c.setSecret(`${prefix}-db`, 'two');
    expect(v1.properties.version).toMatch(/^[0-9a-f]{32}$/);
    expect(v2.properties.version).not.toBe(v1.properties.version);
    expect(v1.properties).toMatchObject({ name: `${prefix}-db`, contentType: 'text/plain', tags: { team: 'ml' }, enabled: true, vaultUrl: emu.vaultUrl });
    expect((await c.getSecret(`${prefix}-DB`)).value).toBe('two');
    expect((await c.getSecret(`${prefix}-db`, { version: v1.properties.version! })).value).toBe('one');
    expect((await c.getSecret('seeded')).value).toBe('from-seed');
    const versions: string[] = [];
    for await (const p of c.listPropertiesOfSecretVersions(`${prefix}-db`)) versions.push(p.version!);
    expect(versions.sort()).toEqual([v1.properties.version, v2.properties.version].sort());
  });

  it('lists with paging when there are more secrets than maxresults', async () => {
    for (let i = 0; i < 5; i++) await c.setSecret(`${prefix}-page-${i}`, `v${i}`);
    const pages: string[][] = [];
    for await (const page of c.listPropertiesOfSecrets().byPage({ maxPageSize: 2 })) {
      pages.push(page.map((p) => p.name));
      if (pages.length > 50) break;
    }
    expect(pages.length).toBeGreaterThanOrEqual(3);
    expect(pages.every((p) => p.length <= 2)).toBe(true);
    expect(pages.flat().filter((n) => n.startsWith(`${prefix}-page-`))).toEqual([0, 1, 2, 3, 4].map((i) => `${prefix}-page-${i}`));
  });

  it('a disabled secret fails with Forbidden/403; a missing one with SecretNotFound/404', async () => {
    await c.setSecret(`${prefix}-off`, 'v', { enabled: false });
    const forbidden = await rejection(c.getSecret(`${prefix}-off`));
    expect(forbidden).toMatchObject({ statusCode: 403, code: 'Forbidden' });
    expect(forbidden.message).toMatch(/not allowed on a disabled secret/);
    expect(await rejection(c.getSecret(`${prefix}-missing`))).toMatchObject({ statusCode: 404, code: 'SecretNotFound' });
  });

  it('delete (poller), getDeletedSecret, 409 while deleted, recover (poller), purge', async () => {
    const name = `${prefix}-lifecycle`;
    await c.setSecret(name, 'keep-me');
    const deleted = await (await c.beginDeleteSecret(name, { intervalInMs: 10 })).pollUntilDone();
    expect(deleted.recoveryId).toBe(`${emu.vaultUrl}/deletedsecrets/${name}`);
    expect(deleted.properties.deletedOn).toBeInstanceOf(Date);
    expect((await c.getDeletedSecret(name)).name).toBe(name);
    expect(await rejection(c.setSecret(name, 'other'))).toMatchObject({ statusCode: 409, code: 'Conflict' });
    expect(await rejection(c.getSecret(name))).toMatchObject({ statusCode: 404, code: 'SecretNotFound' });
    await (await c.beginRecoverDeletedSecret(name, { intervalInMs: 10 })).pollUntilDone();
    expect((await c.getSecret(name)).value).toBe('keep-me');
    await (await c.beginDeleteSecret(name, { intervalInMs: 10 })).pollUntilDone();
    await c.purgeDeletedSecret(name);
    expect(await rejection(c.getDeletedSecret(name))).toMatchObject({ statusCode: 404, code: 'SecretNotFound' });
    expect((await c.setSecret(name, 'reborn')).value).toBe('reborn');
  });

  it('refuses values over 25,600 bytes and names outside 0-9a-zA-Z- with 400 BadParameter', async () => {
    expect((await c.setSecret(`${prefix}-max`, 'x'.repeat(25_600))).value).toHaveLength(25_600);
    expect(await rejection(c.setSecret(`${prefix}-max`, 'x'.repeat(25_601)))).toMatchObject({ statusCode: 400, code: 'BadParameter' });
    const badName = await rejection(c.setSecret(`${prefix}_bad_name`, 'v'));
    expect(badName).toMatchObject({ statusCode: 400, code: 'BadParameter' });
    expect(badName.message).toContain(`invalid name: ${prefix}_bad_name`);
  });

  it('an api-version Key Vault does not know is 400 BadParameter; the SDK\'s own default is known', async () => {
    const other = client(makeCredential(), { serviceVersion: '2099-01-01' as never, retryOptions: { maxRetries: 0 } });
    const err = await rejection(other.getSecret(`${prefix}-anything`));
    expect(err).toMatchObject({ statusCode: 400, code: 'BadParameter' });
    expect(err.message).toBe('The specified version (2099-01-01) is not recognized. Consider using the latest supported version (2026-04-01).');
    await c.setSecret(`${prefix}-default-version`, 'v');
    expect((await c.getSecret(`${prefix}-default-version`)).value).toBe('v');
  });
});

describe('authentication', () => {
  it('answers the first request with the bearer challenge naming the emulator tenant and Key Vault', async () => {
    const r = await raw('GET', `${emu.vaultUrl}/secrets/seeded/?api%2Dversion=2025-07-01`, emu.caPem);
    expect(r.status).toBe(401);
    expect(r.headers['www-authenticate']).toBe(`Bearer authorization="${emu.authorityHost}/${emu.tenantId}", resource="https://vault.azure.net"`);
    expect(JSON.parse(r.body)).toMatchObject({ error: { code: 'Unauthorized' } });
  });

  it('a token the emulator did not issue gets 401', async () => {
    const forged: TokenCredential = { getToken: (): Promise<AccessToken> => Promise.resolve({ token: 'forged-token', expiresOnTimestamp: Date.now() + 3_600_000 }) };
    const before = emu.stats().unauthorized ?? 0;
    expect(await rejection(client(forged).getSecret('seeded'))).toMatchObject({ statusCode: 401 });
    expect((emu.stats().unauthorized ?? 0) - before).toBeGreaterThanOrEqual(1);
    const direct = await raw('GET', `${emu.vaultUrl}/secrets/seeded/?api-version=7.5`, emu.caPem, { authorization: 'Bearer forged-token' });
    expect(direct.status).toBe(401);
  });

  it('a federated token the emulator does not know is refused at the token endpoint', async () => {
    const other = join(dir, 'other-token');
    writeFileSync(other, 'some.other.jwt');
    const before = emu.stats().tokenRejected ?? 0;
    const err = await rejection(client(workloadCredential(other)).getSecret('seeded'));
    expect(err.name).toMatch(/^Authentication/);
    expect(err.message).toMatch(/AADSTS700211/);
    expect((emu.stats().tokenRejected ?? 0) - before).toBeGreaterThanOrEqual(1);
  });
});

describe('throttling and faults', () => {
  it('429 Throttled with Retry-After beyond the rate limit; the SDK waits and retries', async () => {
    const c = client(secretCredential());
    await c.getSecret('seeded'); // token + challenge done before the limit is set
    const token = (await secretCredential().getToken(SCOPE)).token;
    emu.setFaults({}, { rateLimit: 3, rateLimitWindowMs: 1000 });
    emu.resetStats();
    try {
      const values = [];
      for (let i = 0; i < 5; i++) values.push((await c.getSecret('seeded')).value);
      expect(values).toEqual(Array(5).fill('from-seed'));
      const stats = emu.stats();
      expect(stats.get).toBe(5);
      expect(stats.throttled).toBeGreaterThanOrEqual(1);
      // the wire: a 429 with a Retry-After in whole seconds and Key Vault's error code
      let throttled: RawResponse | undefined;
      for (let i = 0; i < 6 && throttled === undefined; i++) {
        const r = await raw('GET', `${emu.vaultUrl}/secrets/seeded/?api-version=7.5`, emu.caPem, { authorization: `Bearer ${token}` });
        if (r.status === 429) throttled = r;
      }
      expect(throttled?.headers['retry-after']).toMatch(/^[1-9]\d*$/);
      expect(JSON.parse(throttled!.body)).toMatchObject({ error: { code: 'Throttled' } });
    } finally {
      emu.setFaults({}, { rateLimit: 4000, rateLimitWindowMs: 10_000 });
    }
  });

  it('5xx faults: retried by the SDK, and surfaced once retries run out', async () => {
    const c = client(secretCredential());
    await c.getSecret('seeded');
    emu.resetStats();
    emu.setFaults({ failNext: 2, failStatus: 503 });
    expect((await c.getSecret('seeded')).value).toBe('from-seed');
    expect(emu.stats()).toMatchObject({ faulted: 2, get: 1 });
    emu.setFaults({ failNext: 10, failStatus: 500 });
    expect(await rejection(c.getSecret('seeded'))).toMatchObject({ statusCode: 500, code: 'InternalServerError' });
    expect(emu.stats().faulted).toBe(2 + 4); // first try + 3 retries
    emu.setFaults({});
  });

  it('dropped connections: retried by the SDK, and surfaced once retries run out', async () => {
    const c = client(secretCredential());
    await c.getSecret('seeded');
    emu.resetStats();
    emu.setFaults({ dropNext: 1 });
    expect((await c.getSecret('seeded')).value).toBe('from-seed');
    expect(emu.stats()).toMatchObject({ dropped: 1, get: 1 });
    emu.setFaults({ dropNext: 10 });
    const err = await rejection(c.getSecret('seeded'));
    expect(err.code).toBe('ECONNRESET');
    expect(emu.stats().dropped).toBe(1 + 4);
    emu.setFaults({});
  });
});

describe('CLI: flyte-secrets emulator', () => {
  it('prints exactly one JSON line once ready, counts requests at adminUrl/stats, and exits 0 on SIGTERM', async () => {
    const stateDir = join(dir, 'cli-state');
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', "const { main } = await import('./src/cli/main.ts'); await main(process.argv.slice(0, 1).concat(['flyte-secrets', ...process.argv.slice(1)]));", 'emulator', '--port', '0', '--state-dir', stateDir, '--rate-limit', '100'],
      { cwd: join(import.meta.dirname, '..'), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const deadline = Date.now() + 15_000;
      while (!stdout.includes('\n') && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
      expect(stdout, stderr).toContain('\n');
      const info = JSON.parse(stdout.split('\n')[0]!) as Record<string, string>;
      expect(Object.keys(info).sort()).toEqual(['adminUrl', 'authorityHost', 'caFile', 'clientId', 'clientSecret', 'tenantId', 'vaultUrl']);
      expect(info.vaultUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect(info.caFile).toBe(join(stateDir, 'ca.pem'));
      const ca = readFileSync(info.caFile!, 'utf8');

      const empty = await raw('GET', `${info.adminUrl}/stats`, ca);
      expect(empty.status).toBe(200);
      expect(JSON.parse(empty.body)).toEqual({});
      await raw('GET', `${info.vaultUrl}/secrets/x/?api-version=7.5`, ca);
      await raw('GET', `${info.vaultUrl}/secrets/y/?api-version=7.5`, ca);
      expect(JSON.parse((await raw('GET', `${info.adminUrl}/stats`, ca)).body)).toEqual({ challenge: 2, requests: 2 });
      expect((await raw('POST', `${info.adminUrl}/reset-stats`, ca)).status).toBe(200);
      expect(JSON.parse((await raw('GET', `${info.adminUrl}/stats`, ca)).body)).toEqual({});
      expect(JSON.parse((await raw('GET', `${info.adminUrl}/faults`, ca)).body)).toMatchObject({ rateLimit: 100 });
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(stdout.trimEnd().split('\n')).toHaveLength(1);
    expect(existsSync(join(stateDir, 'ca.pem'))).toBe(true);
  });

  it('a missing seed file is a clear error, exit 1, nothing on stdout', async () => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', "const { main } = await import('./src/cli/main.ts'); await main(process.argv.slice(0, 1).concat(['flyte-secrets', ...process.argv.slice(1)]));", 'emulator', '--seed', join(dir, 'nope.yaml')],
      { cwd: join(import.meta.dirname, '..'), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^error: cannot read seed file .*nope\.yaml: no such file\n$/);
  });
});
