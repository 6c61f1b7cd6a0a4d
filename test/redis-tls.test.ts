// The shared Redis cache over TLS: a real redis-server listening on a TLS port only (no plain port), with a CA and server
// certificate for 127.0.0.1/localhost made by the webhook's own certificate code.
import { ClientSecretCredential } from '@azure/identity';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisServer, type RedisServer } from './support/redis-server.js';
import { LABELS, NAMESPACE, podFor } from './support/webhook-replicas.js';
import { createInjectorsFromConfig } from '../src/assemble/index.js';
import { parseConfig } from '../src/config/load.js';
import type { ConfigInput } from '../src/config/schema.js';
import { startEmulator, type Emulator } from '../src/emulator/index.js';
import type { FlyteSecretId } from '../src/secret/flyte-id.js';
import { SecretValue } from '../src/secret/value.js';
import { generateCertificates } from '../src/webhook/certs.js';
import { connectRedis } from '../src/fetch/redis-client.js';
import { REDIS_METRIC_NAMES, createRedisCacheFromConfig, type RedisSecretCache } from '../src/fetch/redis-cache.js';

const KEY = randomBytes(32).toString('base64');
const CANARY = 'canary-redis-tls-7c2d91e4';
const ENTRY = (prefix: string, name: string): string => `${prefix}v:u__org__o__domain__d__project__p__key__${name}`;

let dir: string;
let caFile: string;
let otherCaFile: string;
let caPem: string;
let server: RedisServer;
let raw: ReturnType<typeof createClient>;
const open: RedisSecretCache[] = [];

const id = (name: string): FlyteSecretId => ({ org: 'o', domain: 'd', project: 'p', name });

async function metricValue(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = registry.getSingleMetric(name);
  if (m === undefined) return 0;
  const data = await m.get();
  return data.values.filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((a, v) => a + v.value, 0);
}

// One connection attempt only (the next one 5-10 minutes later): what it reports is all there is.
const ONE_ATTEMPT = { minRetryBackoff: '10m', maxRetryBackoff: '10m' };

function config(prefix: string, tls: Record<string, unknown>, options: Record<string, unknown> = {}): ConfigInput {
  return { cache: { type: 'Redis', redis: { options: { addr: server.addr, ...options } } }, flyteSecrets: { redis: { keyPrefix: prefix, tls } } };
}

async function until(check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The distinct codes of the errors the first connection attempts (commands, pub/sub) report, from the very start. */
async function refusal(tls: Record<string, unknown>): Promise<string[]> {
  const port = await connectRedis(parseConfig(config('x:', tls, ONE_ATTEMPT)), {});
  try {
    const codes: string[] = [];
    port.onError((_operation, err) => codes.push(String((err as NodeJS.ErrnoException).code)));
    await until(() => codes.length >= 2);
    expect(port.ready).toBe(false);
    return [...new Set(codes)];
  } finally {
    await port.close();
  }
}

async function replica(prefix: string, tls: Record<string, unknown>, registry = new Registry(), connectWaitMs?: number): Promise<RedisSecretCache> {
  const cache = await createRedisCacheFromConfig(parseConfig(config(prefix, tls, connectWaitMs === undefined ? {} : ONE_ATTEMPT)), { env: { FLYTE_SECRETS_CACHE_KEY: KEY }, registry, ...(connectWaitMs === undefined ? {} : { connectWaitMs }) });
  open.push(cache);
  return cache;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'redis-tls-'));
  const bundle = await generateCertificates({ serviceName: 'redis', namespace: 'test', validityMs: 3600_000, extraDnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  const other = await generateCertificates({ serviceName: 'redis', namespace: 'test', validityMs: 3600_000, extraDnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  caPem = bundle.caCert;
  caFile = join(dir, 'ca.pem');
  otherCaFile = join(dir, 'other-ca.pem');
  writeFileSync(caFile, bundle.caCert);
  writeFileSync(otherCaFile, other.caCert);
  writeFileSync(join(dir, 'tls.crt'), bundle.tlsCert);
  writeFileSync(join(dir, 'tls.key'), bundle.tlsKey);
  server = await startRedisServer((port) => [
    '--port', '0', '--tls-port', String(port),
    '--tls-cert-file', join(dir, 'tls.crt'), '--tls-key-file', join(dir, 'tls.key'), '--tls-ca-cert-file', caFile, '--tls-auth-clients', 'no',
  ]);
  raw = createClient({ socket: { host: '127.0.0.1', port: server.port, tls: true, ca: caPem, reconnectStrategy: 50 } });
  raw.on('error', () => undefined);
  await raw.connect();
}, 30_000);

afterAll(async () => {
  for (const c of open) await c.close();
  await raw?.close().catch(() => undefined);
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('shared Redis cache over TLS (a real redis-server with a TLS port only)', () => {
  it('the port speaks TLS only: a plain-text PING gets no PONG', async () => {
    const answer = await new Promise<string>((resolve) => {
      const s = connect(server.port, '127.0.0.1', () => s.write('PING\r\n'));
      let got = '';
      s.on('data', (b: Buffer) => (got += b.toString('latin1')));
      s.on('error', () => resolve(got));
      s.on('close', () => resolve(got));
    });
    expect(answer).not.toContain('PONG');
  });

  it('with tls.enabled and caFile, one replica’s entry is served to another through Redis, sealed', async () => {
    const registry = new Registry();
    const [a, b] = await Promise.all([replica('tls1:', { enabled: true, caFile }), replica('tls1:', { enabled: true, caFile }, registry)]);
    let reads = 0;
    const loader = (): Promise<SecretValue> => {
      reads++;
      return Promise.resolve(SecretValue.fromString(CANARY));
    };
    expect((await a.get(id('s'), loader)).value.text()).toBe(CANARY);
    expect(await raw.exists(ENTRY('tls1:', 's'))).toBe(1);
    expect((await b.get(id('s'), loader)).value.text()).toBe(CANARY);
    expect(reads).toBe(1);
    expect(await metricValue(registry, REDIS_METRIC_NAMES.tierHits, { tier: 'redis' })).toBe(1);
    const stored = (await raw.get(ENTRY('tls1:', 's'))) ?? '';
    expect(stored).not.toBe('');
    expect(stored).not.toContain(CANARY);
    expect(Buffer.from(stored.split('.')[2] ?? '', 'base64url').toString('latin1')).not.toContain(CANARY);
    // serverName matching the certificate (a DNS name) works as well.
    const named = await replica('tls1:', { enabled: true, caFile, serverName: 'localhost' });
    expect((await named.get(id('s'), () => Promise.reject(new Error('not called')))).value.text()).toBe(CANARY);
  });

  it('a serverName the certificate does not name is refused: lookups read the backend directly', async () => {
    const registry = new Registry();
    const tls = { enabled: true, caFile, serverName: 'redis.elsewhere.example' };
    // Both connections (commands, pub/sub) refused for the name, reported even before anyone listened.
    expect(await refusal(tls)).toEqual(['ERR_TLS_CERT_ALTNAME_INVALID']);
    const c = await replica('tls2:', tls, registry, 500);
    await until(async () => (await metricValue(registry, REDIS_METRIC_NAMES.redisErrors)) > 0);
    let reads = 0;
    const r = await c.get(id('n'), () => {
      reads++;
      return Promise.resolve(SecretValue.fromString('direct'));
    });
    expect(r.value.text()).toBe('direct');
    expect(reads).toBe(1);
    expect(await metricValue(registry, REDIS_METRIC_NAMES.connected)).toBe(0);
    expect(await metricValue(registry, REDIS_METRIC_NAMES.sharedReads, { role: 'direct' })).toBe(1);
    expect(await metricValue(registry, REDIS_METRIC_NAMES.redisErrors)).toBeGreaterThan(0);
    expect(await raw.exists(ENTRY('tls2:', 'n'))).toBe(0);
  });

  describe('a replica trusting another CA', () => {
    let emu: Emulator;
    beforeAll(async () => {
      emu = await startEmulator({ seed: [{ org: LABELS.organization, domain: LABELS.domain, project: LABELS.project, flyteName: 'db', string: CANARY }] });
    }, 30_000);
    afterAll(async () => {
      await emu?.close();
    });

    it('never connects, and admissions go on with direct Key Vault reads: no denial because of Redis', async () => {
      const registry = new Registry();
      expect(await refusal({ enabled: true, caFile: otherCaFile })).toEqual(['SELF_SIGNED_CERT_IN_CHAIN']);
      const c = await replica('tls3:', { enabled: true, caFile: otherCaFile }, registry, 500);
      await until(async () => (await metricValue(registry, REDIS_METRIC_NAMES.redisErrors)) > 0);
      expect((await c.get(id('x'), () => Promise.resolve(SecretValue.fromString('direct')))).value.text()).toBe('direct');
      expect(await metricValue(registry, REDIS_METRIC_NAMES.connected)).toBe(0);
      expect(await metricValue(registry, REDIS_METRIC_NAMES.redisErrors)).toBeGreaterThan(0);

      // The whole admission path, assembled from config as `serve` does, against the Key Vault emulator.
      const credential = new ClientSecretCredential(emu.tenantId, emu.clientId, emu.clientSecret, { authorityHost: emu.authorityHost, disableInstanceDiscovery: true, tlsOptions: { ca: emu.caPem } });
      const admissionRegistry = new Registry();
      const { mutator, injectors } = await createInjectorsFromConfig(
        parseConfig({
          webhook: { secretManagerTypes: ['Embedded'], embeddedSecretManagerConfig: { type: 'Azure', azureConfig: { vaultURI: emu.vaultUrl } } },
          cache: { type: 'Redis', redis: { options: { addr: server.addr } } },
          flyteSecrets: { redis: { keyPrefix: 'tls3:', tls: { enabled: true, caFile: otherCaFile } } },
        }),
        { env: { FLYTE_SECRETS_CACHE_KEY: KEY }, registry: admissionRegistry, embedded: { azure: { credential, ca: emu.caPem } } },
      );
      try {
        for (const name of ['first', 'second']) {
          const out = await mutator.mutate(podFor(['db'], name), { namespace: NAMESPACE, dryRun: false });
          expect(out.kind, 'message' in out ? String(out.message) : '').toBe('mutated');
          expect(JSON.stringify('pod' in out ? out.pod : {})).toContain(CANARY);
        }
        expect(emu.stats().get ?? 0).toBeGreaterThanOrEqual(1);
        expect(await metricValue(admissionRegistry, REDIS_METRIC_NAMES.connected)).toBe(0);
        expect(await metricValue(admissionRegistry, REDIS_METRIC_NAMES.sharedReads, { role: 'direct' })).toBeGreaterThanOrEqual(1);
        expect(await raw.keys('tls3:*')).toEqual([]);
      } finally {
        const embedded = injectors.get('Embedded') as { cache?: { close?: () => Promise<void> } } | undefined;
        await embedded?.cache?.close?.();
      }
    }, 30_000);
  });
});
