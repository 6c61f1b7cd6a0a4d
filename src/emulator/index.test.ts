import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFlyteSecretsError } from '../errors.js';
import { startEmulator, type Emulator } from './index.js';

interface Res {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  json: unknown;
}

function send(emu: Emulator, method: string, path: string, options: { token?: string; body?: string; contentType?: string } = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
    if (options.body !== undefined) headers['content-type'] = options.contentType ?? 'application/json';
    // Vault calls carry the api-version the SDK sends (as Key Vault requires one) unless the path names its own query.
    const vault = /^\/(?:secrets|deletedsecrets)(?:\/|$)/.test(path) && !path.includes('?');
    const req = request(`${emu.vaultUrl}${path}${vault ? '?api-version=2026-04-01' : ''}`, { method, ca: emu.caPem, headers, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, json: text === '' ? undefined : (JSON.parse(text) as unknown) });
      });
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end(options.body);
  });
}

async function token(emu: Emulator): Promise<string> {
  const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: emu.clientId, client_secret: emu.clientSecret, scope: 'https://vault.azure.net/.default' });
  const r = await send(emu, 'POST', `/${emu.tenantId}/oauth2/v2.0/token`, { body: form.toString(), contentType: 'application/x-www-form-urlencoded' });
  expect(r.status).toBe(200);
  return (r.json as { access_token: string }).access_token;
}

describe('startEmulator', () => {
  let emu: Emulator;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'emulator-index-'));
    const seedFile = join(dir, 'seed.yaml');
    writeFileSync(seedFile, '- flyteName: my-secret\n  domain: development\n  string: s3cr3t\n- name: plain\n  value: p\n');
    emu = await startEmulator({ stateDir: join(dir, 'state'), seedFile, seed: [{ name: 'first', value: '1' }] });
  });

  afterAll(async () => {
    await emu?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reports its URLs and writes the CA and the ready info into the state directory', () => {
    expect(emu.vaultUrl).toBe(`https://127.0.0.1:${emu.port}`);
    expect(emu.authorityHost).toBe(emu.vaultUrl);
    expect(emu.adminUrl).toBe(`${emu.vaultUrl}/_admin`);
    expect(emu.caFile).toBe(join(dir, 'state', 'ca.pem'));
    expect(readFileSync(emu.caFile, 'utf8')).toBe(emu.caPem);
    expect(statSync(join(dir, 'state', 'ca-key.pem')).mode & 0o077).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, 'state', 'emulator.json'), 'utf8'))).toEqual(emu.info());
  });

  it('serves seeds from options and from the seed file, Flyte-native ones enveloped under the encoded name', async () => {
    const t = await token(emu);
    expect((await send(emu, 'GET', '/secrets/first/', { token: t })).json).toMatchObject({ value: '1' });
    expect((await send(emu, 'GET', '/secrets/plain/', { token: t })).json).toMatchObject({ value: 'p' });
    expect((await send(emu, 'GET', '/secrets/1-flyte-development--NV4S243FMNZGK5A/', { token: t })).json).toMatchObject({ value: '{"type":"STRING","value":"s3cr3t"}' });
  });

  it('admin API: seed, faults (validated), stats, reset, revoke tokens, healthz, 404', async () => {
    const t = await token(emu);
    const seeded = await send(emu, 'POST', '/_admin/seed', { body: JSON.stringify([{ name: 'added', value: 'a' }, { name: 'added', value: 'b' }]) });
    expect(seeded).toMatchObject({ status: 200, json: { added: 2 } });
    expect((await send(emu, 'GET', '/secrets/added/versions', { token: t })).json).toMatchObject({ value: [{}, {}] });
    const refused = await send(emu, 'POST', '/_admin/seed', { body: '[{"name":"ok-name","value":"v"},{"name":"bad_name","value":"v"}]' });
    expect(refused).toMatchObject({ status: 400, json: { error: { message: 'seed entry 2 (bad_name): The request URI contains an invalid name: bad_name' } } });
    expect((await send(emu, 'GET', '/secrets/ok-name/', { token: t })).status).toBe(404); // all or nothing
    expect((await send(emu, 'POST', '/_admin/seed', { body: '- name: [' })).json).toMatchObject({ error: { message: /^seed: not valid JSON or YAML/ } });

    const bad = await send(emu, 'POST', '/_admin/faults', { body: '{"failNext":"two"}' });
    expect(bad.status).toBe(400);
    expect(bad.json).toMatchObject({ error: { message: 'faults: "failNext" must be a non-negative integer' } });
    const set = await send(emu, 'POST', '/_admin/faults', { body: '{"failNext":1,"failStatus":500,"operations":["get"]}' });
    expect(set.json).toMatchObject({ failNext: 1, failStatus: 500, rateLimit: 4000 });
    expect((await send(emu, 'GET', '/secrets/', { token: t })).status).toBe(200); // list is not targeted
    expect((await send(emu, 'GET', '/secrets/plain/', { token: t })).status).toBe(500);
    expect((await send(emu, 'GET', '/secrets/plain/', { token: t })).status).toBe(200);
    expect((await send(emu, 'GET', '/_admin/faults')).json).toMatchObject({ failNext: 0 });
    await send(emu, 'POST', '/_admin/faults', { body: '{}' });

    const stats = (await send(emu, 'GET', '/_admin/stats')).json as Record<string, number>;
    expect(stats.faulted).toBeGreaterThanOrEqual(1);
    expect(stats.token).toBeGreaterThanOrEqual(1);
    expect((await send(emu, 'POST', '/_admin/reset-stats')).status).toBe(200);
    expect((await send(emu, 'GET', '/_admin/stats')).json).toEqual({});

    expect((await send(emu, 'POST', '/_admin/revoke-tokens')).status).toBe(200);
    expect((await send(emu, 'GET', '/secrets/plain/', { token: t })).status).toBe(401);
    expect((await send(emu, 'GET', '/_admin/stats')).json).toEqual({ requests: 1, unauthorized: 1 });

    expect((await send(emu, 'GET', '/_admin/healthz')).json).toEqual({ status: 'ok' });
    expect((await send(emu, 'GET', '/_admin/nope')).status).toBe(404);
  });

  it('accepts the api-versions Key Vault knows (every one the SDK lists), percent-encoded query keys included; unknown vault paths are 404', async () => {
    const t = await token(emu);
    // Every version @azure/keyvault-secrets 4.12 lists (KnownVersions; 2026-04-01 is its default) and older GA ones.
    for (const v of ['7.5', '7.6-preview.2', '7.6', '2025-07-01', '2026-04-01', '2016-10-01', '7.0']) {
      expect((await send(emu, 'GET', `/secrets/plain?api%2Dversion=${v}`, { token: t })).status, v).toBe(200);
    }
    const list = (await send(emu, 'GET', '/secrets?api%2Dversion=7.6&maxresults=1', { token: t })).json as { nextLink: string };
    expect(new URL(list.nextLink).searchParams.get('api-version')).toBe('7.6');
    expect((await send(emu, 'GET', '/keys/k', { token: t })).status).toBe(404);
  });

  it('hold() parks vault requests until release(), and tells when they are parked', async () => {
    const t = await token(emu);
    const held = emu.hold();
    let answered = false;
    const pending = send(emu, 'GET', '/secrets/plain', { token: t }).then((r) => ((answered = true), r));
    await held.waitForParked(1);
    expect(held.parked).toEqual(['/secrets/plain']);
    expect(answered).toBe(false);
    held.release();
    expect((await pending).status).toBe(200);
    // Released: later requests are answered at once.
    expect((await send(emu, 'GET', '/secrets/plain', { token: t })).status).toBe(200);
  });

  it('answers an api-version Key Vault does not know, or none, with 400 BadParameter, as Key Vault does', async () => {
    const t = await token(emu);
    const unknown = await send(emu, 'GET', '/secrets/plain?api-version=2099-01-01', { token: t });
    expect(unknown.status).toBe(400);
    expect(unknown.json).toEqual({ error: { code: 'BadParameter', message: 'The specified version (2099-01-01) is not recognized. Consider using the latest supported version (2026-04-01).' } });
    const none = await send(emu, 'GET', '/secrets/plain?maxresults=1', { token: t });
    expect(none.status).toBe(400);
    expect((none.json as { error: { code: string } }).error.code).toBe('BadParameter');
  });

  it('Entra: OpenID configuration for the tenant, 400 for another tenant', async () => {
    const r = await send(emu, 'GET', `/${emu.tenantId}/v2.0/.well-known/openid-configuration`);
    expect(r.json).toMatchObject({ token_endpoint: `${emu.vaultUrl}/${emu.tenantId}/oauth2/v2.0/token` });
    expect((await send(emu, 'GET', '/other/v2.0/.well-known/openid-configuration')).status).toBe(400);
  });
});

describe('startEmulator options', () => {
  it('adds latencyMs to every vault request', async () => {
    const emu = await startEmulator({ latencyMs: 150 });
    try {
      const t0 = performance.now();
      await send(emu, 'GET', '/secrets/x/');
      expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
      // The admin API is not delayed: it answers while a vault request is still waiting out its latency.
      emu.setFaults({ latencyMs: 60_000 });
      let vaultAnswered = false;
      const vault = send(emu, 'GET', '/secrets/x/').then(() => (vaultAnswered = true));
      expect((await send(emu, 'GET', '/_admin/stats')).status).toBe(200);
      expect(vaultAnswered).toBe(false);
      emu.setFaults({});
      void vault.catch(() => undefined);
    } finally {
      await emu.close();
    }
  });

  it('close ends every connection at once, also one accepted and still in its TLS handshake', async () => {
    // The HTTP layer knows a connection only once its handshake is done: without tracking it from accept, close()
    // waited up to TLS's 120 s handshake timeout, and a handshake finished after close() was served for as long as
    // its client kept it busy (test/hostile/faults.test.ts once waited minutes for its vault to close).
    const emu = await startEmulator();
    const raw = connect(emu.port, '127.0.0.1');
    await once(raw, 'connect');
    const ended = once(raw, 'close');
    await emu.close(); // the test's timeout is far below the handshake timeout
    await ended;
    expect(raw.destroyed).toBe(true);
  });

  it('reuses the CA kept in the state directory, and removes a temporary state directory on close', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'emulator-ca-'));
    try {
      const a = await startEmulator({ stateDir: dir });
      await a.close();
      const b = await startEmulator({ stateDir: dir });
      await b.close();
      await b.close(); // idempotent
      expect(b.caPem).toBe(a.caPem);
      const temp = await startEmulator();
      expect(existsSync(temp.caFile)).toBe(true);
      await temp.close();
      expect(existsSync(temp.caFile)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a restart on the same state directory accepts the tokens issued before (and a revocation covers them)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'emulator-token-'));
    try {
      const a = await startEmulator({ stateDir: dir, clientSecret: 's' });
      const t = await token(a);
      const port = a.port;
      await a.close();
      expect(statSync(join(dir, 'token-key')).mode & 0o077).toBe(0);
      const b = await startEmulator({ stateDir: dir, clientSecret: 's', port, seed: [{ name: 'x', value: 'v' }] });
      try {
        expect((await send(b, 'GET', '/secrets/x/', { token: t })).status).toBe(200);
        b.revokeTokens();
        expect((await send(b, 'GET', '/secrets/x/', { token: t })).status).toBe(401);
      } finally {
        await b.close();
      }
      // Another state directory: another key, the token is refused.
      const c = await startEmulator({ clientSecret: 's' });
      try {
        expect((await send(c, 'GET', '/secrets/x/', { token: t })).status).toBe(401);
      } finally {
        await c.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a bad seed before listening, naming the entry', async () => {
    const err = await startEmulator({ seed: [{ name: 'x', value: 'y'.repeat(25_601) }] }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isFlyteSecretsError(err, 'InvalidInput')).toBe(true);
    expect((err as Error).message).toMatch(/^seed entry 1 \(x\): The secret value is 25601 bytes long/);
  });
});
