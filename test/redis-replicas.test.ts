// Webhook replicas sharing one Redis: three `flyte-secrets serve` processes (the built CLI) with `cache.type: Redis`,
// one real redis-server and one Key Vault emulator (it counts the GETs it answers). No stand-ins besides the vault.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../src/emulator/index.js';
import { runBinary } from './support/cli.js';
import { startRedisServer, type RedisServer } from './support/redis-server.js';
import { LABELS, podFor, startReplicas, metricSum, type ReplicaSet } from './support/webhook-replicas.js';

const canary = (name: string): string => `canary-${name}-${randomBytes(6).toString('hex')}`;
const VALUES = { s1: canary('s1'), s2: canary('s2'), s3: canary('s3'), rot: canary('rot') };

let emu: Emulator;
let redis: RedisServer;
let set: ReplicaSet;

beforeAll(async () => {
  emu = await startEmulator({
    latencyMs: 50,
    seed: [
      { org: LABELS.organization, domain: LABELS.domain, project: LABELS.project, flyteName: 's1', string: VALUES.s1 },
      { org: LABELS.organization, domain: LABELS.domain, project: LABELS.project, flyteName: 's2', string: VALUES.s2 },
      // Only at org scope: a lookup reads project (404), domain (404), then org.
      { org: LABELS.organization, flyteName: 's3', string: VALUES.s3 },
      { org: LABELS.organization, domain: LABELS.domain, project: LABELS.project, flyteName: 'rot', string: VALUES.rot },
    ],
  });
  redis = await startRedisServer();
  set = await startReplicas({ count: 3, emulator: emu, redisAddr: redis.addr, redis: { leaseTtl: '3s', operationTimeout: '300ms' } });
}, 60_000);

afterAll(async () => {
  await set?.stop();
  await redis?.stop();
  await emu?.close();
});

const gets = (): number => emu.stats().get ?? 0;

describe('replicas sharing one Redis', () => {
  it('concurrent cold misses on every replica: one Key Vault GET per distinct (scope, secret) in total', async () => {
    emu.resetStats();
    const pods = set.replicas.flatMap((r, i) => Array.from({ length: 4 }, (_, j) => r.admit(podFor(['s1', 's2', 's3'], `cold-${i}-${j}`))));
    const answers = await Promise.all(pods);
    for (const a of answers) {
      expect(a.allowed, a.message).toBe(true);
      expect(Object.values(a.env).sort()).toEqual([VALUES.s1, VALUES.s2, VALUES.s3].sort());
    }
    // s1, s2: their project scope; s3: project, domain (not found, shared as such) and org.
    expect(gets()).toBe(5);
    // Every replica served its later lookups without Key Vault.
    const again = await Promise.all(set.replicas.map((r) => r.admit(podFor(['s1', 's3'], 'warm'))));
    expect(again.every((a) => a.allowed)).toBe(true);
    expect(gets()).toBe(5);
    const m = await Promise.all(set.replicas.map((r) => r.metrics()));
    expect(m.reduce((s, t) => s + metricSum(t, 'flyte_secrets_cache_shared_reads_total', { role: 'lead' }), 0)).toBe(5);
  });

  it('Redis keys and values hold no plaintext secret', async () => {
    const raw = createClient({ socket: { host: '127.0.0.1', port: redis.port } });
    raw.on('error', () => undefined);
    await raw.connect();
    try {
      const keys = await raw.keys('*');
      expect(keys.length).toBeGreaterThan(0);
      for (const k of keys) {
        const text = (await raw.type(k)) === 'string' ? ((await raw.get(k)) ?? '') : '';
        for (const v of Object.values(VALUES)) {
          expect(k).not.toContain(v);
          expect(text).not.toContain(v);
          expect(Buffer.from(text.split('.')[2] ?? '', 'base64url').toString('latin1')).not.toContain(v);
        }
      }
    } finally {
      await raw.close();
    }
  });

  it('an invalidation sent to one replica is seen by the others within a second', async () => {
    const [a, b, c] = set.replicas as [NonNullable<ReplicaSet['replicas'][0]>, NonNullable<ReplicaSet['replicas'][0]>, NonNullable<ReplicaSet['replicas'][0]>];
    for (const r of [a, b, c]) expect((await r.admit(podFor(['rot']))).env._UNION_ROT).toBe(VALUES.rot);
    const rotated = canary('rotated');
    emu.seed([{ org: LABELS.organization, domain: LABELS.domain, project: LABELS.project, flyteName: 'rot', string: rotated }]);
    // Without an invalidation the replicas keep serving the old value (from memory and Redis).
    expect((await c.admit(podFor(['rot']))).env._UNION_ROT).toBe(VALUES.rot);
    const started = Date.now();
    expect(await a.invalidate({ org: LABELS.organization, domain: LABELS.domain, project: LABELS.project, name: 'rot' })).toBe(200);
    for (const r of [b, c]) {
      let seen = '';
      while (seen !== rotated && Date.now() - started < 1000) seen = (await r.admit(podFor(['rot']))).env._UNION_ROT ?? '';
      expect(seen).toBe(rotated);
    }
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('Redis killed and restarted mid-run changes no admission’s outcome; /readyz stays ready', async () => {
    const expected: Record<string, string> = { _UNION_S1: VALUES.s1, _UNION_S2: VALUES.s2, _UNION_S3: VALUES.s3 };
    const round = async (tag: string): Promise<void> => {
      const answers = await Promise.all(set.replicas.flatMap((r, i) => [0, 1, 2].map((j) => r.admit(podFor(['s1', 's2', 's3'], `${tag}-${i}-${j}`)))));
      for (const ans of answers) {
        expect(ans.allowed, ans.message).toBe(true);
        expect(ans.env).toEqual(expected);
      }
    };
    await round('before');
    // Killed while a round is in flight (wherever the kill lands in it, no outcome may change).
    const during = round('during-kill');
    await redis.kill();
    await during;
    await round('down-1');
    // Past the memory tier: each replica reads Key Vault directly while Redis is away.
    for (const r of set.replicas) expect(await r.invalidate({ org: LABELS.organization, domain: LABELS.domain, project: LABELS.project, name: 's1' })).toBe(200);
    await round('down-2');
    for (const r of set.replicas) expect(await r.readyz()).toBe(200);
    const restarting = round('during-restart');
    await redis.start();
    await restarting;
    await round('back-1');
    // Reconnected (with back-off): the shared tier is used again.
    const deadline = Date.now() + 20_000;
    let connected = 0;
    while (connected < set.replicas.length && Date.now() < deadline) {
      const texts = await Promise.all(set.replicas.map((r) => r.metrics()));
      connected = texts.filter((t) => metricSum(t, 'flyte_secrets_redis_connected') === 1).length;
      if (connected < set.replicas.length) await new Promise((r) => setTimeout(r, 100));
    }
    expect(connected).toBe(set.replicas.length);
    await round('back-2');
    const errors = (await Promise.all(set.replicas.map((r) => r.metrics()))).reduce((s, t) => s + metricSum(t, 'flyte_secrets_redis_errors_total'), 0);
    expect(errors).toBeGreaterThan(0);
  }, 60_000);
});

describe('serve with cache.type: Redis', () => {
  it('refuses to start without the cache encryption key, and says what to set', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'redis-nokey-'));
    try {
      const file = join(dir, 'config.json');
      writeFileSync(
        file,
        JSON.stringify({
          webhook: { secretManagerTypes: ['Embedded'], embeddedSecretManagerConfig: { type: 'Azure', azureConfig: { vaultURI: 'https://myvault.vault.azure.net/' } } },
          cache: { type: 'Redis', redis: { options: { addr: '127.0.0.1:1' } } },
        }),
      );
      const r = await runBinary(['serve', '--config', file, '--port', '0'], { env: { PATH: process.env.PATH, HOME: dir }, timeoutMs: 20_000 });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain('set env FLYTE_SECRETS_CACHE_KEY to 32 random bytes in base64');
      expect(r.stderr).toContain('flyteSecrets.redis.encryptionKeyFile');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
