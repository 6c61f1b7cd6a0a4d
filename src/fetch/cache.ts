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
import type { CallBounds } from './budget.js';
import { FetchError, SecretNotFound, SecretReadFailure, abortReason, isNotFound } from './fetcher.js';
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
  /**
   * The bounds of the shared load, for every caller waiting on it: `deadline` is read afresh each time (a getter)
   * and is the latest deadline of the callers still waiting (it moves later when a caller with more time joins);
   * `signal` aborts only when every caller has gone.
   */
  bounds: CallBounds;
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
   *
   * Each caller keeps its own `bounds`: a caller whose signal aborts or whose deadline passes leaves with a read
   * failure (or a young stale value) while the shared load goes on for the others, up to the latest deadline.
   */
  get(id: FlyteSecretId, load: (context: LoadContext) => Promise<SecretValue>, bounds?: CallBounds): Promise<CachedValue>;
  /** Drop the three scope keys of `id` (project, domain, org), as Flyte's `InvalidateCache` does. */
  invalidate(id: FlyteSecretId): void;
  /** Drop everything. */
  clear(): void;
  /** Release what the cache holds outside the process (the shared tier's Redis connections). */
  close?(): Promise<void>;
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

/** One caller waiting on a shared load. */
interface Waiter {
  deadline: number;
  /** Called when another caller joins: a caller past its deadline that stayed as the latest one leaves now. */
  recheck: () => void;
}

/** A load shared by the callers of one key. */
interface Flight {
  promise: Promise<CachedValue>;
  waiters: Set<Waiter>;
  controller: AbortController;
  stale: PositiveEntry | undefined;
}

/** The shared bounds of a flight: its signal, and the latest deadline of the callers still waiting. */
function flightBounds(flight: () => Flight, now: () => number): CallBounds {
  let last = Number.POSITIVE_INFINITY;
  return {
    signal: flight().controller.signal,
    get deadline(): number {
      const waiters = flight().waiters;
      if (waiters.size > 0) {
        last = Number.NEGATIVE_INFINITY;
        for (const w of waiters) last = Math.max(last, w.deadline);
      } else if (last === Number.POSITIVE_INFINITY) {
        last = now();
      }
      return last;
    },
  };
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
  const inflight = new Map<string, Flight>();
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

  function load(key: string, loader: (context: LoadContext) => Promise<SecretValue>, stale: PositiveEntry | undefined): Flight {
    const flight: Flight = { promise: Promise.resolve() as unknown as Promise<CachedValue>, waiters: new Set(), controller: new AbortController(), stale };
    const bounds = flightBounds(() => flight, now);
    const current = (): boolean => inflight.get(key) === flight;
    flight.promise = (async (): Promise<CachedValue> => {
      await Promise.resolve();
      try {
        const value = await loader({ hasStale: stale !== undefined, bounds });
        const t = now();
        if (current()) {
          store(key, { kind: 'value', value, storedAt: t, expiresAt: t + options.ttlMs, cost: ENTRY_OVERHEAD + key.length * 2 + value.bytes().length });
        }
        return { value, source: 'backend', ageMs: 0 };
      } catch (err) {
        const t = now();
        if (isNotFound(err)) {
          if (current() && options.negativeTtlMs > 0) {
            const error = compactNotFound(err);
            store(key, { kind: 'notFound', error, storedAt: t, expiresAt: t + options.negativeTtlMs, cost: ENTRY_OVERHEAD + key.length * 2 + error.message.length * 2 });
          }
          if (current() && options.negativeTtlMs <= 0) remove(key);
          throw err;
        }
        const readFailure = err instanceof FetchError ? err.code === 'SecretReadFailure' : true;
        const fallback = current() && readFailure ? usableStale(key, stale, t) : undefined;
        if (fallback !== undefined) return fallback;
        throw err;
      } finally {
        if (current()) inflight.delete(key);
      }
    })();
    // A flight nobody waits for any more still settles; its rejection is not unhandled.
    flight.promise.catch(() => undefined);
    inflight.set(key, flight);
    return flight;
  }

  /** The stale value still young enough to answer a read failure, counted as a stale hit. */
  function usableStale(key: string, stale: PositiveEntry | undefined, t: number): CachedValue | undefined {
    if (stale === undefined || t - stale.expiresAt > options.staleIfErrorMaxAgeMs || entries.get(key) !== stale) return undefined;
    metrics.cacheLookup('stale');
    return { value: stale.value, source: 'stale', ageMs: t - stale.storedAt };
  }

  /**
   * Wait on `flight` within the caller's own bounds. A caller whose signal aborts, or whose deadline passes while
   * another caller still has time, leaves alone; the last caller to leave aborts the load.
   */
  function join(key: string, id: FlyteSecretId, flight: Flight, bounds: CallBounds | undefined): Promise<CachedValue> {
    const signal = bounds?.signal;
    if (signal?.aborted === true) return Promise.reject(abortReason(signal));
    return new Promise<CachedValue>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const waiter: Waiter = { deadline: bounds?.deadline ?? Number.POSITIVE_INFINITY, recheck: () => undefined };
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        flight.waiters.delete(waiter);
      };
      const leave = (err: Error): void => {
        done();
        if (flight.waiters.size === 0 && inflight.get(key) === flight) {
          // Nobody is left to use the result: stop the read; a later caller starts afresh.
          inflight.delete(key);
          flight.controller.abort(err);
        }
        const fallback = usableStale(key, flight.stale, now());
        if (fallback !== undefined) resolve(fallback);
        else reject(err);
      };
      const onAbort = (): void => leave(abortReason(signal as AbortSignal));
      const onDeadline = (): void => {
        timer = undefined;
        const left = waiter.deadline - now();
        if (left > 0) {
          timer = setTimeout(onDeadline, left);
          return;
        }
        // The caller with the latest deadline is answered by the load itself, which ends by then with its own error.
        let latest = true;
        for (const w of flight.waiters) if (w !== waiter && w.deadline > waiter.deadline) latest = false;
        if (latest) return;
        leave(new SecretReadFailure(encodeSecretName(id), new Error('the admission time budget ran out while waiting for a read shared with other admissions')));
      };
      waiter.recheck = (): void => {
        if (timer === undefined && waiter.deadline <= now()) onDeadline();
      };
      flight.waiters.add(waiter);
      for (const w of flight.waiters) if (w !== waiter) w.recheck();
      signal?.addEventListener('abort', onAbort, { once: true });
      if (Number.isFinite(waiter.deadline)) timer = setTimeout(onDeadline, Math.max(0, waiter.deadline - now()));
      flight.promise.then(
        (v) => {
          done();
          resolve(v);
        },
        (e: unknown) => {
          done();
          reject(e instanceof Error ? e : new Error(String(e)));
        },
      );
    });
  }

  return {
    get(id, loader, bounds) {
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
        return join(key, id, running, bounds);
      }
      metrics.cacheLookup('miss');
      return join(key, id, load(key, loader, stale), bounds);
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
    async get(_id, loader, bounds) {
      metrics.cacheLookup('bypass');
      return { value: await loader({ hasStale: false, bounds: bounds ?? {} }), source: 'backend', ageMs: 0 };
    },
    invalidate: () => undefined,
    clear: () => undefined,
    size: 0,
    bytes: 0,
  };
}
