/**
 * The shared secret cache (`cache.type: Redis`): every webhook replica reads through the same Redis, so a secret is
 * read from the backend once for all of them, and an invalidation on one reaches all.
 *
 * - **Two tiers.** A short in-process tier (`flyteSecrets.redis.memoryTtl`, 10 s; the ordinary {@link SecretCache}
 *   with its single-flight, per-caller deadlines, negative entries and stale-if-error) in front of Redis, whose entries
 *   keep Flyte's expiry (`cache.redis.defaultExpiration`, 24 h; not-found answers `negativeCacheTtl`, 10 s).
 * - **Sealed entries.** Each Redis value is a {@link CacheKeyRing} seal (AES-256-GCM, key id inside, the Redis key as
 *   associated data); Redis never holds a value in the clear. An entry that does not open is a miss.
 * - **One read across replicas.** On a Redis miss a replica takes a lease (`SET NX PX leaseTtl`) and reads the backend;
 *   the others wait for its result (a `done` message on pub/sub, and a poll every 100 ms in case a message is lost),
 *   never past their own admission deadline; when the holder dies its lease expires and the next one reads.
 * - **Invalidation.** `invalidate` deletes the scope entries and bumps their generation in one transaction, then
 *   publishes on `inv`: every replica drops them from its memory tier. A read that began before the bump cannot store
 *   its (old) value afterwards (the write is conditional on the generation). Invalidations made while Redis is away are
 *   sent when it returns; a replica whose pub/sub connection was lost forgets its memory tier when it comes back.
 * - **Redis down, slow or flapping.** Every command has a short timeout and fails at once while disconnected; the
 *   lookup then reads the backend directly (budgeted as always). No admission fails because of Redis alone.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import type { Registry } from 'prom-client';
import { Counter, Gauge } from 'prom-client';
import type { Config } from '../config/schema.js';
import { FlyteSecretsError, errorMessage } from '../errors.js';
import { encodeSecretName, scopeCascade, type FlyteSecretId } from '../secret/flyte-id.js';
import type { SecretValue } from '../secret/value.js';
import { createSecretCache, parseCacheSize, type LoadContext, type SecretCache } from './cache.js';
import { CACHE_KEY_ENV, decodeRecord, encodeRecord, parseCacheKeys, type CacheKeyRing } from './cache-crypto.js';
import { FetchError, SecretNotFound, SecretReadFailure, isNotFound } from './fetcher.js';
import { noopFetchMetrics, type FetchMetrics } from './metrics.js';
import { connectRedis, randomToken, type RedisPort } from './redis-client.js';

/** Metrics of the shared tier. */
export interface RedisCacheMetrics {
  /** A lookup answered by a tier (`memory` or `redis`), value or not-found. */
  tierHit(tier: 'memory' | 'redis'): void;
  /** A Redis command or connection failed. */
  redisError(operation: string): void;
  /** How a Redis miss was served: `lead` (this replica read for all), `follow` (another did), `direct` (Redis unusable). */
  sharedRead(role: 'lead' | 'follow' | 'direct'): void;
  /** Command connection up (1) or down (0). */
  connected(up: boolean): void;
}

export const REDIS_METRIC_NAMES = {
  tierHits: 'flyte_secrets_cache_tier_hits_total',
  redisErrors: 'flyte_secrets_redis_errors_total',
  sharedReads: 'flyte_secrets_cache_shared_reads_total',
  connected: 'flyte_secrets_redis_connected',
} as const;

const noopRedisMetrics: RedisCacheMetrics = { tierHit: () => undefined, redisError: () => undefined, sharedRead: () => undefined, connected: () => undefined };

/** Register the shared tier's metrics on `registry`. */
export function createRedisCacheMetrics(registry: Registry): RedisCacheMetrics {
  for (const n of Object.values(REDIS_METRIC_NAMES)) if (registry.getSingleMetric(n)) registry.removeSingleMetric(n);
  const hits = new Counter({ name: REDIS_METRIC_NAMES.tierHits, help: 'Secret lookups answered by a cache tier (memory or redis).', labelNames: ['tier'], registers: [registry] });
  const errors = new Counter({ name: REDIS_METRIC_NAMES.redisErrors, help: 'Redis commands or connections that failed, by operation.', labelNames: ['operation'], registers: [registry] });
  const reads = new Counter({ name: REDIS_METRIC_NAMES.sharedReads, help: 'Redis misses by how they were served: lead (read for all replicas), follow (another replica read), direct (Redis unusable).', labelNames: ['role'], registers: [registry] });
  const up = new Gauge({ name: REDIS_METRIC_NAMES.connected, help: '1 while the Redis command connection is up.', registers: [registry] });
  return {
    tierHit: (tier) => hits.inc({ tier }),
    redisError: (operation) => errors.inc({ operation }),
    sharedRead: (role) => reads.inc({ role }),
    connected: (v) => up.set(v ? 1 : 0),
  };
}

/** Options of {@link createRedisSecretCache}. */
export interface RedisSecretCacheOptions {
  redis: RedisPort;
  keys: CacheKeyRing;
  /** Prefix of every key and channel (`flyteSecrets.redis.keyPrefix`). */
  prefix: string;
  /** Redis lifetime of a value (`cache.redis.defaultExpiration`). */
  ttlMs: number;
  /** Lifetime of a not-found answer, both tiers (`flyteSecrets.fetch.negativeCacheTtl`). */
  negativeTtlMs: number;
  /** Lifetime of the memory tier (`flyteSecrets.redis.memoryTtl`). */
  memoryTtlMs: number;
  /** Lease of the replica reading for all (`flyteSecrets.redis.leaseTtl`). */
  leaseMs: number;
  /** Stale-if-error window of the memory tier (`flyteSecrets.fetch.staleIfErrorMaxAge`). */
  staleIfErrorMaxAgeMs: number;
  /** Memory tier size bound, bytes. */
  maxBytes?: number;
  /** How often a waiting replica looks again without a `done` message (default 100 ms). */
  pollMs?: number;
  metrics?: FetchMetrics;
  redisMetrics?: RedisCacheMetrics;
  now?: () => number;
}

/** The shared cache: a {@link SecretCache} that also closes its Redis connections. */
export interface RedisSecretCache extends SecretCache {
  /** Invalidations not yet delivered to Redis (it was away). */
  readonly pendingInvalidations: number;
  close(): Promise<void>;
}

/** Thrown inside the Redis path when Redis cannot be used: the lookup reads the backend directly. */
class RedisUnusable extends Error {}

/**
 * Create the shared cache over a connected (or connecting) {@link RedisPort}.
 *
 * @example
 * ```ts
 * const cache = createRedisSecretCache({ redis: await connectRedis(config), keys, prefix: 'flyte-secrets:', ttlMs, … });
 * ```
 */
export function createRedisSecretCache(o: RedisSecretCacheOptions): RedisSecretCache {
  const now = o.now ?? Date.now;
  const base = o.metrics ?? noopFetchMetrics;
  const rm = o.redisMetrics ?? noopRedisMetrics;
  const pollMs = o.pollMs ?? 100;
  const redis = o.redis;
  const valueKey = (name: string): string => `${o.prefix}v:${name}`;
  const leaseKey = (name: string): string => `${o.prefix}l:${name}`;
  const generationKey = (name: string): string => `${o.prefix}g:${name}`;
  const doneChannel = `${o.prefix}done`;
  const invChannel = `${o.prefix}inv`;
  const memoryMetrics: FetchMetrics = {
    ...base,
    cacheLookup(result) {
      base.cacheLookup(result);
      if (result === 'hit' || result === 'negative_hit') rm.tierHit('memory');
    },
  };
  const memory = createSecretCache({
    ttlMs: o.memoryTtlMs,
    negativeTtlMs: Math.min(o.negativeTtlMs, o.memoryTtlMs),
    staleIfErrorMaxAgeMs: o.staleIfErrorMaxAgeMs,
    ...(o.maxBytes === undefined ? {} : { maxBytes: o.maxBytes }),
    metrics: memoryMetrics,
    now,
  });
  const waiting = new Map<string, Set<() => void>>();
  const pending: FlyteSecretId[] = [];
  let closed = false;

  redis.onError((operation) => rm.redisError(operation));
  redis.onState((up) => {
    rm.connected(up);
    if (up) void flushInvalidations();
  });
  rm.connected(redis.ready);
  void redis
    .subscribe(
      [doneChannel, invChannel],
      (channel, message) => {
        if (channel === doneChannel) {
          const set = waiting.get(message);
          if (set !== undefined) for (const wake of set) wake();
        } else if (channel === invChannel) {
          const id = parseId(message);
          if (id !== undefined) memory.invalidate(id);
        }
      },
      // Invalidations may have been missed while the pub/sub connection was away.
      () => memory.clear(),
    )
    .catch(() => undefined);

  function parseId(message: string): FlyteSecretId | undefined {
    try {
      const v = JSON.parse(message) as Record<string, unknown>;
      if (typeof v.org === 'string' && typeof v.domain === 'string' && typeof v.project === 'string' && typeof v.name === 'string') {
        return { org: v.org, domain: v.domain, project: v.project, name: v.name };
      }
    } catch {
      // not ours
    }
    return undefined;
  }

  /** A Redis command; any failure makes the lookup go direct. */
  async function use<T>(command: () => Promise<T>): Promise<T> {
    if (!redis.ready) throw new RedisUnusable('redis is not connected');
    try {
      return await command();
    } catch (err) {
      throw new RedisUnusable(errorMessage(err));
    }
  }

  /** The entry of `name` in Redis: a value, a not-found answer (thrown), or undefined (a miss or an entry that does not open). */
  async function readEntry(name: string): Promise<SecretValue | undefined> {
    const key = valueKey(name);
    const sealed = await use(() => redis.get(key));
    if (sealed === null) return undefined;
    const plain = o.keys.open(key, sealed);
    const record = plain === undefined ? undefined : decodeRecord(plain);
    if (record === undefined) {
      rm.redisError('open');
      return undefined;
    }
    rm.tierHit('redis');
    if (record.kind === 'value') return record.value;
    throw new SecretNotFound(name, new Error(record.message), record.status === undefined ? {} : { status: record.status });
  }

  /** Wait for a `done` message about `name`, at most `ms`. */
  function waitDone(name: string, ms: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve) => {
      let set = waiting.get(name);
      if (set === undefined) {
        set = new Set();
        waiting.set(name, set);
      }
      const s = set;
      const wake = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', wake);
        s.delete(wake);
        if (s.size === 0 && waiting.get(name) === s) waiting.delete(name);
        resolve();
      };
      const timer = setTimeout(wake, Math.max(1, ms));
      signal?.addEventListener('abort', wake, { once: true });
      s.add(wake);
    });
  }

  /** This replica holds the lease: read the backend, share the answer, let the others know. */
  async function lead(name: string, token: string, context: LoadContext, loader: (c: LoadContext) => Promise<SecretValue>): Promise<SecretValue> {
    rm.sharedRead('lead');
    const key = valueKey(name);
    let generation = '0';
    try {
      generation = (await use(() => redis.get(generationKey(name)))) ?? '0';
    } catch {
      // Without the generation the answer is not shared (a conditional write against "0" may still succeed).
    }
    const share = async (record: Parameters<typeof encodeRecord>[0], ttl: number): Promise<void> => {
      try {
        await use(() => redis.setIfGeneration(key, o.keys.seal(key, encodeRecord(record)), ttl, generationKey(name), generation));
      } catch {
        // Counted by the port; the next replica reads again.
      }
    };
    try {
      const value = await loader(context);
      await share({ kind: 'value', value, storedAt: now() }, o.ttlMs);
      return value;
    } catch (err) {
      if (isNotFound(err) && o.negativeTtlMs > 0) {
        const cause: unknown = err instanceof FetchError ? err.cause : undefined;
        const status = err instanceof FetchError ? err.status : undefined;
        await share({ kind: 'notFound', message: cause === undefined || cause === null ? '<nil>' : errorMessage(cause), storedAt: now(), ...(status === undefined ? {} : { status }) }, o.negativeTtlMs);
      }
      throw err;
    } finally {
      try {
        await use(() => redis.deleteIf(leaseKey(name), token));
        await use(() => redis.publish(doneChannel, name));
      } catch {
        // The lease expires by itself; waiters poll.
      }
    }
  }

  /** The Redis tier's loader for the memory tier: Redis entry, else one read for all replicas, else direct. */
  async function load(id: FlyteSecretId, context: LoadContext, loader: (c: LoadContext) => Promise<SecretValue>): Promise<SecretValue> {
    const name = encodeSecretName(id);
    let followed = false;
    try {
      for (;;) {
        const hit = await readEntry(name);
        if (hit !== undefined) {
          if (followed) rm.sharedRead('follow');
          return hit;
        }
        const token = randomToken();
        if (await use(() => redis.setIfAbsent(leaseKey(name), token, o.leaseMs))) {
          // The previous holder may have stored its answer and let go between our miss and our lease: look again.
          let again: SecretValue | undefined;
          try {
            again = await readEntry(name);
          } catch (err) {
            await use(() => redis.deleteIf(leaseKey(name), token)).catch(() => undefined);
            throw err;
          }
          if (again !== undefined) {
            await use(() => redis.deleteIf(leaseKey(name), token)).catch(() => undefined);
            rm.sharedRead('follow');
            return again;
          }
          return await lead(name, token, context, loader);
        }
        followed = true;
        const left = (context.bounds.deadline ?? Number.POSITIVE_INFINITY) - now();
        if (left <= 0 || context.bounds.signal?.aborted === true) {
          throw new SecretReadFailure(name, new Error('the admission time budget ran out while another webhook replica was reading this secret'));
        }
        await waitDone(name, Math.min(pollMs, left), context.bounds.signal);
      }
    } catch (err) {
      if (!(err instanceof RedisUnusable)) throw err;
      rm.sharedRead('direct');
      return loader(context);
    }
  }

  async function flushInvalidations(): Promise<void> {
    while (pending.length > 0 && redis.ready && !closed) {
      const id = pending[0]!;
      const names = scopeCascade(id).map(encodeSecretName);
      try {
        await redis.invalidate(names.map(valueKey), names.map(generationKey), o.ttlMs + o.leaseMs);
        await redis.publish(invChannel, JSON.stringify({ org: id.org, domain: id.domain, project: id.project, name: id.name }));
      } catch {
        return;
      }
      pending.shift();
    }
  }

  return {
    get(id, loader, bounds) {
      return memory.get(id, (context) => load(id, context, loader), bounds);
    },
    invalidate(id) {
      memory.invalidate(id);
      pending.push(id);
      void flushInvalidations();
    },
    clear() {
      memory.clear();
    },
    get size() {
      return memory.size;
    },
    get bytes() {
      return memory.bytes;
    },
    get pendingInvalidations() {
      return pending.length;
    },
    async close() {
      closed = true;
      for (const set of waiting.values()) for (const wake of set) wake();
      await redis.close();
    },
  };
}

/**
 * The cache key ring of `config`: env `FLYTE_SECRETS_CACHE_KEY`, else the file `flyteSecrets.redis.encryptionKeyFile`.
 * Throws `InvalidConfig` naming what to set when there is none.
 */
export function cacheKeysFromConfig(config: Config, env: NodeJS.ProcessEnv): CacheKeyRing {
  const fromEnv = env[CACHE_KEY_ENV] ?? '';
  if (fromEnv.trim() !== '') return parseCacheKeys(fromEnv, CACHE_KEY_ENV);
  const file = config.flyteSecrets.redis.encryptionKeyFile;
  if (file !== '') {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new FlyteSecretsError('InvalidConfig', `flyteSecrets.redis.encryptionKeyFile ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}); mount the Secret holding the cache key there`);
    }
    return parseCacheKeys(text, `flyteSecrets.redis.encryptionKeyFile ${file}`);
  }
  throw new FlyteSecretsError(
    'InvalidConfig',
    `cache.type is Redis, and every entry stored in Redis is encrypted with a key all replicas share, but none is set: set env ${CACHE_KEY_ENV} to 32 random bytes in base64 (\`openssl rand -base64 32\`; several comma-separated while rotating, the first encrypts) from a Kubernetes Secret, or name a file holding it in flyteSecrets.redis.encryptionKeyFile`,
  );
}

/** What {@link createRedisCacheFromConfig} may be given. */
export interface RedisCacheDeps {
  env?: NodeJS.ProcessEnv;
  metrics?: FetchMetrics;
  registry?: Registry;
  /** Longest wait for the first connection before serving anyway (default 2 s; Redis may come later). */
  connectWaitMs?: number;
}

/**
 * The shared cache of `config` (`cache.type: Redis`): checks the encryption key first (no key, no start), connects
 * (an unreachable Redis is not an error: it is retried in the background and lookups read the backend meanwhile).
 */
export async function createRedisCacheFromConfig(config: Config, deps: RedisCacheDeps = {}): Promise<RedisSecretCache> {
  const env = deps.env ?? process.env;
  const keys = cacheKeysFromConfig(config, env);
  const redis = await connectRedis(config, env);
  await redis.waitReady(deps.connectWaitMs ?? 2000);
  const r = config.flyteSecrets.redis;
  const f = config.flyteSecrets.fetch;
  return createRedisSecretCache({
    redis,
    keys,
    prefix: r.keyPrefix,
    ttlMs: config.cache.redis.defaultExpiration,
    negativeTtlMs: f.negativeCacheTtl,
    memoryTtlMs: r.memoryTtl,
    leaseMs: r.leaseTtl,
    staleIfErrorMaxAgeMs: f.staleIfErrorMaxAge,
    maxBytes: parseCacheSize(config.cache.inMemoryFixedSize.size) ?? 100_000_000,
    ...(deps.metrics ? { metrics: deps.metrics } : {}),
    ...(deps.registry ? { redisMetrics: createRedisCacheMetrics(deps.registry) } : {}),
  });
}
