// The shared cache against a real redis-server (started here on a free port): several caches in this process play
// the replicas, each with its own connections, as the webhook processes would.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisServer, type RedisServer } from '../../test/support/redis-server.js';
import { parseConfig } from '../config/load.js';
import type { ConfigInput } from '../config/schema.js';
import type { FlyteSecretId } from '../secret/flyte-id.js';
import { SecretValue } from '../secret/value.js';
import { SecretNotFound, SecretReadFailure } from './fetcher.js';
import { REDIS_METRIC_NAMES, cacheKeysFromConfig, createRedisCacheFromConfig, type RedisSecretCache } from './redis-cache.js';

const KEY = randomBytes(32).toString('base64');
const CANARY = 'canary-redis-5e1f0d9b';

let server: RedisServer;
let raw: ReturnType<typeof createClient>;
const open: RedisSecretCache[] = [];

async function metricValue(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = registry.getSingleMetric(name);
  if (m === undefined) return 0;
  const data = await m.get();
  return data.values.filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((a, v) => a + v.value, 0);
}

function config(prefix: string, extra: Record<string, unknown> = {}): ConfigInput {
  return {
    cache: { type: 'Redis', redis: { options: { addr: server.addr } } },
    flyteSecrets: { redis: { keyPrefix: prefix, leaseTtl: '2s', ...extra } },
  };
}

async function replica(prefix: string, extra: Record<string, unknown> = {}, registry = new Registry()): Promise<RedisSecretCache> {
  const cache = await createRedisCacheFromConfig(parseConfig(config(prefix, extra)), { env: { FLYTE_SECRETS_CACHE_KEY: KEY }, registry });
  open.push(cache);
  return cache;
}

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

async function until(check: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const id = (name: string): FlyteSecretId => ({ org: 'o', domain: 'd', project: 'p', name });

beforeAll(async () => {
  server = await startRedisServer();
  raw = createClient({ socket: { host: '127.0.0.1', port: server.port, reconnectStrategy: 50 } });
  raw.on('error', () => undefined);
  await raw.connect();
});

afterAll(async () => {
  for (const c of open) await c.close();
  await raw.close().catch(() => undefined);
  await server.stop();
});

describe('shared Redis cache (a real redis-server)', () => {
  it('concurrent cold misses on three replicas make one backend read; the others get its answer through Redis', async () => {
    const replicas = await Promise.all([replica('t1:'), replica('t1:'), replica('t1:')]);
    const held = deferred<SecretValue>();
    let reads = 0;
    const loader = (): Promise<SecretValue> => {
      reads++;
      return held.promise;
    };
    const all = replicas.flatMap((r) => [r.get(id('a'), loader, { deadline: Date.now() + 10_000 }), r.get(id('a'), loader, { deadline: Date.now() + 10_000 })]);
    await until(async () => (await raw.exists('t1:l:u__org__o__domain__d__project__p__key__a')) === 1);
    held.resolve(SecretValue.fromString(CANARY));
    const results = await Promise.all(all);
    expect(reads).toBe(1);
    expect(results.map((r) => r.value.text())).toEqual(Array(6).fill(CANARY));
    // Not-found answers are shared too.
    let notFoundReads = 0;
    const missing = (): Promise<SecretValue> => {
      notFoundReads++;
      return Promise.reject(new SecretNotFound('x', new Error('SecretNotFound'), { status: 404 }));
    };
    await expect(replicas[0].get(id('gone'), missing)).rejects.toMatchObject({ code: 'SecretNotFound' });
    const other = await replicas[1].get(id('gone'), missing).catch((e: unknown) => e);
    expect(other).toBeInstanceOf(SecretNotFound);
    expect((other as SecretNotFound).status).toBe(404);
    expect(notFoundReads).toBe(1);
    expect(await raw.pTTL('t1:v:u__org__o__domain__d__project__p__key__gone')).toBeLessThanOrEqual(10_000);
  });

  it('Redis keys and values hold no plaintext: every entry is sealed, and one sealed under another key is a miss', async () => {
    const a = await replica('t2:');
    await a.get(id('s'), () => Promise.resolve(SecretValue.fromString(CANARY)));
    await a.get(id('b'), () => Promise.resolve(SecretValue.fromBytes(Buffer.from(CANARY))));
    const keys = await raw.keys('t2:*');
    expect(keys.length).toBeGreaterThanOrEqual(2);
    for (const k of keys) {
      expect(k).not.toContain(CANARY);
      const type = await raw.type(k);
      if (type !== 'string') continue;
      const v = (await raw.get(k)) ?? '';
      expect(v).not.toContain(CANARY);
      expect(Buffer.from(v.split('.')[2] ?? '', 'base64url').toString('latin1')).not.toContain(CANARY);
    }
    // A replica with a different key cannot open the entry: it reads the backend.
    const foreign = await createRedisCacheFromConfig(parseConfig(config('t2:')), { env: { FLYTE_SECRETS_CACHE_KEY: randomBytes(32).toString('base64') } });
    open.push(foreign);
    let reads = 0;
    const r = await foreign.get(id('s'), () => {
      reads++;
      return Promise.resolve(SecretValue.fromString('fresh'));
    });
    expect(r.value.text()).toBe('fresh');
    expect(reads).toBe(1);
  });

  it('invalidation on one replica clears Redis and the memory tier of every other replica within a second', async () => {
    const [a, b] = await Promise.all([replica('t3:'), replica('t3:')]);
    let version = 'v1';
    const loader = (): Promise<SecretValue> => Promise.resolve(SecretValue.fromString(version));
    expect((await a.get(id('rot'), loader)).value.text()).toBe('v1');
    expect((await b.get(id('rot'), () => Promise.reject(new Error('not called')))).value.text()).toBe('v1');
    version = 'v2';
    const started = Date.now();
    a.invalidate(id('rot'));
    await until(async () => (await b.get(id('rot'), loader)).value.text() === 'v2', 1000);
    expect(Date.now() - started).toBeLessThan(1000);
    expect((await a.get(id('rot'), () => Promise.reject(new Error('not called')))).value.text()).toBe('v2');
  });

  it('a read that began before an invalidation does not put its old value back in Redis', async () => {
    const [a, b] = await Promise.all([replica('t4:'), replica('t4:')]);
    const held = deferred<SecretValue>();
    const old = a.get(id('race'), () => held.promise);
    await until(async () => (await raw.exists('t4:l:u__org__o__domain__d__project__p__key__race')) === 1);
    b.invalidate(id('race'));
    await until(async () => (await raw.get('t4:g:u__org__o__domain__d__project__p__key__race')) !== null);
    held.resolve(SecretValue.fromString('old'));
    await old;
    expect(await raw.exists('t4:v:u__org__o__domain__d__project__p__key__race')).toBe(0);
  });

  it('a holder that died blocks the others no longer than its lease; a waiter never waits past its own deadline', async () => {
    const a = await replica('t5:', { leaseTtl: '300ms' });
    // Another replica took the lease and died.
    await raw.set('t5:l:u__org__o__domain__d__project__p__key__dead', 'gone', { expiration: { type: 'PX', value: 300 } });
    let reads = 0;
    const r = await a.get(
      id('dead'),
      () => {
        reads++;
        return Promise.resolve(SecretValue.fromString('x'));
      },
      { deadline: Date.now() + 5000 },
    );
    expect(r.value.text()).toBe('x');
    expect(reads).toBe(1);
    // A live holder that takes long: the waiter leaves at its own deadline, with a read failure.
    await raw.set('t5:l:u__org__o__domain__d__project__p__key__slow', 'other', { expiration: { type: 'PX', value: 60_000 } });
    const err = await a.get(id('slow'), () => Promise.reject(new Error('not called')), { deadline: Date.now() + 200 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SecretReadFailure);
    expect((err as Error).message).toContain('the admission time budget ran out');
  });

  it('Redis down: lookups read the backend directly, errors are counted, invalidations wait for it; back: shared again', async () => {
    const registry = new Registry();
    const a = await replica('t6:', { operationTimeout: '200ms' }, registry);
    await a.get(id('k'), () => Promise.resolve(SecretValue.fromString('one')));
    await server.kill();
    await until(async () => (await metricValue(registry, REDIS_METRIC_NAMES.connected)) === 0);
    let reads = 0;
    const r = await a.get(id('other'), () => {
      reads++;
      return Promise.resolve(SecretValue.fromString('direct'));
    });
    expect(r.value.text()).toBe('direct');
    expect(reads).toBe(1);
    expect(await metricValue(registry, REDIS_METRIC_NAMES.sharedReads, { role: 'direct' })).toBe(1);
    expect(await metricValue(registry, REDIS_METRIC_NAMES.redisErrors)).toBeGreaterThan(0);
    a.invalidate(id('k'));
    expect(a.pendingInvalidations).toBe(1);
    await server.start();
    await raw.ping().catch(() => undefined);
    await until(() => a.pendingInvalidations === 0, 15_000);
    await until(async () => (await metricValue(registry, REDIS_METRIC_NAMES.connected)) === 1, 15_000);
    await a.get(id('after'), () => Promise.resolve(SecretValue.fromString('shared')));
    await until(async () => (await raw.exists('t6:v:u__org__o__domain__d__project__p__key__after').catch(() => 0)) === 1);
    expect(await metricValue(registry, REDIS_METRIC_NAMES.tierHits, { tier: 'memory' })).toBe(0);
    // The pub/sub connection comes back on its own schedule, and when it does the replica forgets its memory tier
    // (invalidations may have been missed). So the next lookup may be answered by Redis, then memory; never the backend.
    await until(async () => ((await raw.pubSubNumSub('t6:inv'))['t6:inv'] ?? 0) >= 1, 15_000);
    await until(async () => {
      expect((await a.get(id('after'), () => Promise.reject(new Error('not called')))).value.text()).toBe('shared');
      return (await metricValue(registry, REDIS_METRIC_NAMES.tierHits, { tier: 'memory' })) >= 1;
    });
    expect(await metricValue(registry, REDIS_METRIC_NAMES.tierHits, { tier: 'redis' })).toBeLessThanOrEqual(1);
  }, 30_000);

  it('refuses to start without an encryption key, and says what to set; a key file works', async () => {
    const c = parseConfig(config('t7:'));
    expect(() => cacheKeysFromConfig(c, {})).toThrow(/set env FLYTE_SECRETS_CACHE_KEY to 32 random bytes in base64 .* or name a file holding it in flyteSecrets.redis.encryptionKeyFile/);
    await expect(createRedisCacheFromConfig(c, { env: {} })).rejects.toMatchObject({ code: 'InvalidConfig' });
    const dir = mkdtempSync(join(tmpdir(), 'cache-key-'));
    try {
      writeFileSync(join(dir, 'key'), `${KEY}\n`);
      expect(cacheKeysFromConfig(parseConfig(config('t7:', { encryptionKeyFile: join(dir, 'key') })), {}).ids).toHaveLength(1);
      expect(() => cacheKeysFromConfig(parseConfig(config('t7:', { encryptionKeyFile: join(dir, 'none') })), {})).toThrow(/cannot be read \(ENOENT\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('shared Redis cache: authentication', () => {
  it('password and ACL user (Flyte’s Username/Password, and PasswordSecretName read from env like Flyte)', async () => {
    const secured = await startRedisServer(['--requirepass', 'adminpw']);
    const admin = createClient({ socket: { host: '127.0.0.1', port: secured.port }, password: 'adminpw' });
    admin.on('error', () => undefined);
    try {
      await admin.connect();
      await admin.sendCommand(['ACL', 'SETUSER', 'webhook', 'on', '>webhookpw', '~*', '&*', '+@all']);
      const env = { FLYTE_SECRETS_CACHE_KEY: KEY, FLYTE_SECRET_redis_pw: 'webhookpw' };
      for (const options of [{ Addr: secured.addr, Username: 'webhook', Password: 'webhookpw' }, { addr: secured.addr, username: 'webhook', passwordSecretName: 'redis_pw' }]) {
        const cache = await createRedisCacheFromConfig(parseConfig({ cache: { type: 'Redis', redis: { options } }, flyteSecrets: { redis: { keyPrefix: 'auth:' } } }), { env });
        open.push(cache);
        await cache.get(id('x'), () => Promise.resolve(SecretValue.fromString('v')));
        expect(await admin.exists('auth:v:u__org__o__domain__d__project__p__key__x')).toBe(1);
        await admin.del('auth:v:u__org__o__domain__d__project__p__key__x');
      }
      // A wrong password never stops an admission: the lookup reads the backend.
      const wrong = await createRedisCacheFromConfig(parseConfig({ cache: { type: 'Redis', redis: { options: { addr: secured.addr, password: 'nope' } } } }), { env, connectWaitMs: 300 });
      open.push(wrong);
      expect((await wrong.get(id('y'), () => Promise.resolve(SecretValue.fromString('direct')))).value.text()).toBe('direct');
    } finally {
      await admin.close().catch(() => undefined);
      await secured.stop();
    }
  });
});
