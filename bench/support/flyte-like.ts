/**
 * Flyte's Embedded secret manager as it behaves, for the baseline of bench/embedded-rollout.ts.
 *
 * - Cache ({@link flyteSecretCache}): flytestdlib's in-memory cache as Flyte's `lookUpSecret` uses it
 *   (flyteorg/flyte `executor/pkg/secret/embedded_secret_manager.go`): per scope of the cascade project → domain →
 *   org, a cache GET, and on a miss one backend GET; only values are stored, keyed by the scope where they were
 *   found, for the default `cache.inMemoryFixedSize.defaultExpiration` of 24 h. Not-found answers are not stored
 *   (so a secret kept at domain or org scope costs one or two 404s per admission, even when warm), and concurrent
 *   misses of one key are not coalesced (no single-flight).
 * - Retries ({@link azcoreRetries}): the Go Azure SDK's default retry policy, which Flyte's Azure fetcher gets by
 *   building its `azsecrets` client with nil options (azcore `runtime/policy_retry.go`): up to 3 retries on a network
 *   error or HTTP 408, 429, 500, 502, 503, 504; the wait is the response's `Retry-After` when present (no retry
 *   when that is over 60 s), else (2^try − 1) × 800 ms × a jitter in [0.8, 1.3), capped at 60 s. There is no
 *   request pacing and no per-try timeout.
 *
 * @module
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { CachedValue, SecretCache } from '../../src/fetch/cache.js';
import { SecretReadFailure, type SecretFetcher } from '../../src/fetch/fetcher.js';
import { encodeSecretName, scopeCascade, type FlyteSecretId } from '../../src/secret/flyte-id.js';
import type { SecretValue } from '../../src/secret/value.js';

const DAY_MS = 24 * 3600_000;

/** flytestdlib's in-memory cache as Flyte uses it: values only, 24 h, no single-flight, no negative entries. */
export function flyteSecretCache(ttlMs = DAY_MS, now: () => number = Date.now): SecretCache {
  const entries = new Map<string, { value: SecretValue; storedAt: number }>();
  return {
    async get(id, load, bounds = {}): Promise<CachedValue> {
      const key = encodeSecretName(id);
      const hit = entries.get(key);
      const t = now();
      if (hit !== undefined && t - hit.storedAt < ttlMs) return { value: hit.value, source: 'cache', ageMs: t - hit.storedAt };
      const value = await load({ hasStale: false, bounds }); // every concurrent miss reaches the backend, with its own bounds
      entries.set(key, { value, storedAt: now() });
      return { value, source: 'backend', ageMs: 0 };
    },
    invalidate(id) {
      for (const scope of scopeCascade(id)) entries.delete(encodeSecretName(scope));
    },
    clear() {
      entries.clear();
    },
    get size() {
      return entries.size;
    },
    get bytes() {
      let n = 0;
      for (const e of entries.values()) n += e.value.bytes().length;
      return n;
    },
  };
}

const MAX_RETRIES = 3;
const RETRY_DELAY_MS = 800;
const MAX_RETRY_DELAY_MS = 60_000;
const RETRY_STATUS = new Set([408, 429, 500, 502, 503, 504]);

/** Counts of what {@link azcoreRetries} did. */
export interface RetryStats {
  retries: number;
  waitedMs: number;
}

/**
 * `fetcher` (one HTTP call per fetch, SDK retries off) with the Go Azure SDK's default retry policy around it.
 * The error's `status` (HTTP) and `retryAfterMs` (`Retry-After`) decide, as azcore's policy decides on the response.
 */
export function azcoreRetries(fetcher: SecretFetcher, stats: RetryStats = { retries: 0, waitedMs: 0 }, random: () => number = Math.random): SecretFetcher & { stats: RetryStats } {
  return {
    kind: fetcher.kind,
    stats,
    async fetch(id: FlyteSecretId, signal?: AbortSignal): Promise<SecretValue> {
      for (let attempt = 1; ; attempt++) {
        try {
          return await fetcher.fetch(id, signal);
        } catch (err) {
          if (!(err instanceof SecretReadFailure) || attempt === MAX_RETRIES + 1) throw err;
          const status = err.status;
          const network = status === undefined && err.retryable;
          if (!network && (status === undefined || !RETRY_STATUS.has(status))) throw err;
          let delay = err.retryAfterMs ?? 0;
          if (delay > MAX_RETRY_DELAY_MS) throw err;
          if (delay <= 0) delay = Math.min(MAX_RETRY_DELAY_MS, (2 ** attempt - 1) * RETRY_DELAY_MS * (0.8 + random() / 2));
          stats.retries++;
          stats.waitedMs += delay;
          await sleep(delay, undefined, signal ? { signal } : {});
        }
      }
    },
  };
}
