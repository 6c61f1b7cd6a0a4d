/**
 * The Embedded manager's secret cache (Flyte: `flytestdlib/cache/config.go`).
 *
 * - One entry per **scope id** (Flyte's `u__org__…__key__<name>` of the scope that was read), like Flyte's
 *   `secret_cache`; positive entries live `cache.inMemoryFixedSize.defaultExpiration` (24 h).
 * - **Single-flight**: N concurrent lookups of the same scope id make one backend call.
 * - **Negative caching** (beyond Flyte): a not-found answer is remembered for `flyteSecrets.fetch.negativeCacheTtl`
 *   (10 s), so a secret defined only at org scope does not cost two 404s per admission.
 * - **Stale-if-error** (beyond Flyte): when a refresh fails with a read failure (throttling, 5xx, timeout), an
 *   expired value is served for up to `flyteSecrets.fetch.staleIfErrorMaxAge` past its expiry. Not-found and
 *   empty answers are never papered over.
 * - `invalidate(id)` drops the three scope keys of a secret (Flyte: `executor/pkg/webhook/cache_invalidation_server.go`), including calls in flight: a value read before
 *   the invalidation is not stored after it.
 * - **Bounded**: by `cache.inMemoryFixedSize.size` bytes (values + keys) and an entry count; the oldest entries go first.
 *   Entries nothing can use any more (expired not-found answers, values past the stale-if-error window) are swept
 *   out every 1,000 stores or minute, and a not-found answer is kept without the backend's error object.
 *
 * Values stay {@link SecretValue}s (redacted when printed).
 *
 * @module
 */
import { encodeSecretName, scopeCascade, type FlyteSecretId } from '../secret/flyte-id.js';
import type { SecretValue } from '../secret/value.js';
import { FlyteSecretsError, errorMessage } from '../errors.js';
import { FetchError, SecretNotFound, isNotFound } from './fetcher.js';
import { noopFetchMetrics, type FetchMetrics } from './metrics.js';

/** Options of {@link createSecretCache}. */
export interface SecretCacheOptions {
  /** Lifetime of a value, ms (config `cache.inMemoryFixedSize.defaultExpiration`, default 24 h). */
  ttlMs: number;
  /** Lifetime of a not-found answer, ms (config `flyteSecrets.fetch.negativeCacheTtl`, default 10 s; 0 = off). */
  negativeTtlMs: number;
  /** How long past expiry a value may still be served when the backend fails, ms (`staleIfErrorMaxAge`, 1 h; 0 = off). */
  staleIfErrorMaxAgeMs: number;
  /** Largest total size in bytes (config `cache.inMemoryFixedSize.size`, default 100 MB). */
  maxBytes?: number;
  /** Most entries (default 100,000). */
  maxEntries?: number;
  metrics?: FetchMetrics;
  /** Clock, for tests. */
  now?: () => number;
}

/** Where a value came from. */
export type CacheSource = 'cache' | 'backend' | 'stale';

/** What a loader is told about the lookup it serves. */
export interface LoadContext {
  /** A stale value is there to fall back on: the loader may give up sooner (e.g. one attempt only). */
  hasStale: boolean;
}

/** A value and its provenance. */
export interface CachedValue {
  value: SecretValue;
  source: CacheSource;
  /** Age of the value in ms (0 when just read from the backend). */
  ageMs: number;
}

/**
 * The cache in front of one fetcher. Keys are scope ids; it never cascades by itself.
 */
export interface SecretCache {
  /**
   * The value for exactly this scope id: from the cache, or by calling `load` once for all concurrent callers.
   * Throws what `load` throws (a cached not-found is thrown again until it expires), except that a read failure
   * is answered with a stale value when one is young enough.
   */
  get(id: FlyteSecretId, load: (context: LoadContext) => Promise<SecretValue>, signal?: AbortSignal): Promise<CachedValue>;
  /** Drop the three scope keys of `id` (project, domain, org), as Flyte's `InvalidateCache` does. */
  invalidate(id: FlyteSecretId): void;
  /** Drop everything. */
  clear(): void;
  /** Number of entries (positive and negative). */
  readonly size: number;
  /** Total accounted bytes. */
  readonly bytes: number;
}

interface PositiveEntry {
  kind: 'value';
  value: SecretValue;
  storedAt: number;
  expiresAt: number;
  cost: number;
}

interface NegativeEntry {
  kind: 'notFound';
  error: unknown;
  storedAt: number;
  expiresAt: number;
  cost: number;
}

type Entry = PositiveEntry | NegativeEntry;

const ENTRY_OVERHEAD = 128;
/** Expired entries are swept out after this many stores, or this long, whichever comes first. */
const SWEEP_EVERY_STORES = 1000;
const SWEEP_EVERY_MS = 60_000;

/**
 * The not-found error to keep in a negative entry: same class, code and message, without the backend's error
 * object (an SDK error holds the request, the response and their headers: kilobytes per entry, which a stream of
 * never-seen names would pile up).
 */
function compactNotFound(err: unknown): Error {
  if (err instanceof FetchError) {
    const cause = err.cause === undefined || err.cause === null ? undefined : new Error(errorMessage(err.cause));
    return new SecretNotFound(err.secretId, cause, err.status === undefined ? {} : { status: err.status });
  }
  return new FlyteSecretsError('SecretNotFound', errorMessage(err));
}

/**
 * Parse flytestdlib's cache size (`100M`, `64Mi`, `1G`, or a number of bytes). Undefined when unreadable.
 *
 * @example
 * ```ts
 * parseCacheSize('100M') // 100_000_000
 * ```
 */
export function parseCacheSize(size: string | number): number | undefined {
  if (typeof size === 'number') return Number.isFinite(size) && size > 0 ? size : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?)?B?\s*$/i.exec(size);
  if (m === null) return undefined;
  const unit = (m[2] ?? '').toUpperCase();
  const pow: Record<string, number> = { '': 1, K: 1e3, M: 1e6, G: 1e9, T: 1e12, KI: 1024, MI: 1024 ** 2, GI: 1024 ** 3, TI: 1024 ** 4 };
  const factor = pow[unit];
  return factor === undefined ? undefined : Math.floor(Number(m[1]) * factor);
}

function raceSignal<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return p;
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason instanceof Error ? signal.reason : new Error('the lookup was aborted'));
    if (signal.aborted) {
      onAbort();
      return;
    }
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

/**
 * Create a secret cache.
 *
 * @example
 * ```ts
 * const cache = createSecretCache({ ttlMs: 24 * 3600_000, negativeTtlMs: 10_000, staleIfErrorMaxAgeMs: 3600_000 });
 * const { value } = await cache.get(id, () => fetcher.fetch(id));
 * cache.invalidate(id);
 * ```
 */
export function createSecretCache(options: SecretCacheOptions): SecretCache {
  const now = options.now ?? Date.now;
  const metrics = options.metrics ?? noopFetchMetrics;
  const maxBytes = options.maxBytes ?? 100_000_000;
  const maxEntries = options.maxEntries ?? 100_000;
  const entries = new Map<string, Entry>();
  const inflight = new Map<string, Promise<CachedValue>>();
  let bytes = 0;
  let storesSinceSweep = 0;
  let lastSweep = now();

  /** Drop entries nothing can use any more: expired not-found answers, values past the stale-if-error window. */
  function sweep(t: number): void {
    storesSinceSweep = 0;
    lastSweep = t;
    for (const [key, e] of entries) {
      if (e.kind === 'notFound' ? e.expiresAt <= t : t - e.expiresAt > options.staleIfErrorMaxAgeMs) remove(key);
    }
  }

  function remove(key: string): void {
    const e = entries.get(key);
    if (e === undefined) return;
    entries.delete(key);
    bytes -= e.cost;
  }

  function store(key: string, entry: Entry): void {
    remove(key);
    storesSinceSweep += 1;
    if (storesSinceSweep >= SWEEP_EVERY_STORES || entry.storedAt - lastSweep >= SWEEP_EVERY_MS) sweep(entry.storedAt);
    if (entry.cost > maxBytes) return;
    entries.set(key, entry);
    bytes += entry.cost;
    // Evict oldest first (Map keeps insertion order; a re-stored key moved to the end).
    for (const oldest of entries.keys()) {
      if (bytes <= maxBytes && entries.size <= maxEntries) break;
      remove(oldest);
    }
  }

  function load(key: string, loader: (context: LoadContext) => Promise<SecretValue>, stale: PositiveEntry | undefined): Promise<CachedValue> {
    // `self.promise` is set before the loader can settle (the body starts with an await).
    const self: { promise?: Promise<CachedValue> } = {};
    const promise = (async (): Promise<CachedValue> => {
      await Promise.resolve();
      try {
        const value = await loader({ hasStale: stale !== undefined });
        const t = now();
        if (inflight.get(key) === self.promise) {
          store(key, { kind: 'value', value, storedAt: t, expiresAt: t + options.ttlMs, cost: ENTRY_OVERHEAD + key.length * 2 + value.bytes().length });
        }
        return { value, source: 'backend', ageMs: 0 };
      } catch (err) {
        const t = now();
        const current = inflight.get(key) === self.promise;
        if (isNotFound(err)) {
          if (current && options.negativeTtlMs > 0) {
            const error = compactNotFound(err);
            store(key, { kind: 'notFound', error, storedAt: t, expiresAt: t + options.negativeTtlMs, cost: ENTRY_OVERHEAD + key.length * 2 + error.message.length * 2 });
          }
          if (current && options.negativeTtlMs <= 0) remove(key);
          throw err;
        }
        const readFailure = err instanceof FetchError ? err.code === 'SecretReadFailure' : true;
        if (current && readFailure && stale !== undefined && t - stale.expiresAt <= options.staleIfErrorMaxAgeMs && entries.get(key) === stale) {
          metrics.cacheLookup('stale');
          return { value: stale.value, source: 'stale', ageMs: t - stale.storedAt };
        }
        throw err;
      } finally {
        if (inflight.get(key) === self.promise) inflight.delete(key);
      }
    })();
    self.promise = promise;
    inflight.set(key, promise);
    return promise;
  }

  return {
    get(id, loader, signal) {
      const key = encodeSecretName(id);
      const t = now();
      const entry = entries.get(key);
      if (entry !== undefined && entry.expiresAt > t) {
        if (entry.kind === 'value') {
          metrics.cacheLookup('hit');
          return Promise.resolve({ value: entry.value, source: 'cache', ageMs: t - entry.storedAt });
        }
        metrics.cacheLookup('negative_hit');
        return Promise.reject(entry.error instanceof Error ? entry.error : new Error(String(entry.error)));
      }
      let stale: PositiveEntry | undefined;
      if (entry !== undefined) {
        if (entry.kind === 'value' && t - entry.expiresAt <= options.staleIfErrorMaxAgeMs) stale = entry;
        else remove(key);
      }
      const running = inflight.get(key);
      if (running !== undefined) {
        metrics.cacheLookup('coalesced');
        return raceSignal(running, signal);
      }
      metrics.cacheLookup('miss');
      return raceSignal(load(key, loader, stale), signal);
    },
    invalidate(id) {
      for (const scope of scopeCascade(id)) {
        const key = encodeSecretName(scope);
        remove(key);
        inflight.delete(key);
      }
    },
    clear() {
      entries.clear();
      inflight.clear();
      bytes = 0;
    },
    get size() {
      return entries.size;
    },
    get bytes() {
      return bytes;
    },
  };
}

/**
 * A "cache" that caches nothing and coalesces nothing: every lookup calls the backend (Flyte-like cold behaviour;
 * used as the baseline of bench/embedded-rollout.ts and when caching is turned off).
 */
export function uncachedSecretCache(metrics: FetchMetrics = noopFetchMetrics): SecretCache {
  return {
    async get(_id, loader) {
      metrics.cacheLookup('bypass');
      return { value: await loader({ hasStale: false }), source: 'backend', ageMs: 0 };
    },
    invalidate: () => undefined,
    clear: () => undefined,
    size: 0,
    bytes: 0,
  };
}
