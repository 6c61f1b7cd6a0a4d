/**
 * Prometheus metrics of the fetch layer: backend calls by outcome, cache lookups, request-budget waits, throttling
 * (429s) and retries. They are registered on a prom-client `Registry` that the caller owns (the webhook server's),
 * so `/metrics` shows them next to the admission metrics.
 *
 * Labels carry only backend kinds, budget keys (vault hosts) and outcomes — never secret names or values.
 *
 * @module
 */
import { Counter, Histogram, type Registry } from 'prom-client';

/** Outcome of one backend call. */
export type BackendOutcome = 'ok' | 'not_found' | 'nil' | 'throttled' | 'error' | 'timeout';

/** Result of one cache lookup. */
export type CacheResult = 'hit' | 'miss' | 'negative_hit' | 'coalesced' | 'stale' | 'bypass';

/** What the fetch layer reports. Every method is cheap and never throws. */
export interface FetchMetrics {
  /** One backend call finished (`backend`: azure, k8s, aws, gcp). */
  backendCall(backend: string, outcome: BackendOutcome, seconds: number): void;
  /** One cache lookup. `stale`: a stale value was served because the backend failed. */
  cacheLookup(result: CacheResult): void;
  /** A call waited for a request-budget token (or for a Retry-After pause) for `seconds`. */
  budgetWait(target: string, seconds: number): void;
  /** The backend answered "too many requests" (HTTP 429 or equivalent). */
  throttled(target: string): void;
  /** A failed call is being retried. */
  retry(target: string): void;
}

/** Metric names, for tests and dashboards. */
export const FETCH_METRIC_NAMES = {
  backendRequests: 'flyte_secrets_backend_requests_total',
  backendDuration: 'flyte_secrets_backend_request_duration_seconds',
  cacheLookups: 'flyte_secrets_cache_lookups_total',
  budgetWaits: 'flyte_secrets_budget_waits_total',
  budgetWaitSeconds: 'flyte_secrets_budget_wait_seconds_total',
  throttled: 'flyte_secrets_backend_throttled_total',
  retries: 'flyte_secrets_backend_retries_total',
} as const;

/** Metrics that record nothing (the default when no registry is given). */
export const noopFetchMetrics: FetchMetrics = {
  backendCall: () => undefined,
  cacheLookup: () => undefined,
  budgetWait: () => undefined,
  throttled: () => undefined,
  retry: () => undefined,
};

function counter<L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[]): Counter<L> {
  const existing = registry.getSingleMetric(name);
  if (existing instanceof Counter) return existing;
  return new Counter<L>({ name, help, labelNames, registers: [registry] });
}

/**
 * Register the fetch metrics on `registry` (idempotent: a second call reuses the registered metrics) and return the
 * recorder the cache, budget and fetchers write to.
 *
 * @example
 * ```ts
 * const registry = new Registry();
 * const metrics = createFetchMetrics(registry);
 * const budget = createRequestBudget({ requestsPer10s: 4000, metrics });
 * ```
 */
export function createFetchMetrics(registry: Registry): FetchMetrics {
  const requests = counter(registry, FETCH_METRIC_NAMES.backendRequests, 'Secret backend calls (Key Vault GETs, …) by backend and outcome.', ['backend', 'outcome']);
  const existingHistogram = registry.getSingleMetric(FETCH_METRIC_NAMES.backendDuration);
  const duration =
    existingHistogram instanceof Histogram
      ? (existingHistogram as Histogram<'backend'>)
      : new Histogram<'backend'>({
          name: FETCH_METRIC_NAMES.backendDuration,
          help: 'Duration of secret backend calls, in seconds.',
          labelNames: ['backend'],
          buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
          registers: [registry],
        });
  const lookups = counter(registry, FETCH_METRIC_NAMES.cacheLookups, 'Secret cache lookups by result (hit, miss, negative_hit, coalesced, stale, bypass).', ['result']);
  const waits = counter(registry, FETCH_METRIC_NAMES.budgetWaits, 'Calls that waited for the per-target request budget or a Retry-After pause.', ['target']);
  const waitSeconds = counter(registry, FETCH_METRIC_NAMES.budgetWaitSeconds, 'Total seconds spent waiting for the request budget.', ['target']);
  const throttled = counter(registry, FETCH_METRIC_NAMES.throttled, 'Backend answers "too many requests" (HTTP 429 or equivalent).', ['target']);
  const retries = counter(registry, FETCH_METRIC_NAMES.retries, 'Backend calls retried after a retryable failure.', ['target']);
  return {
    backendCall(backend, outcome, seconds) {
      requests.inc({ backend, outcome });
      duration.observe({ backend }, seconds);
    },
    cacheLookup(result) {
      lookups.inc({ result });
    },
    budgetWait(target, seconds) {
      waits.inc({ target });
      waitSeconds.inc({ target }, seconds);
    },
    throttled(target) {
      throttled.inc({ target });
    },
    retry(target) {
      retries.inc({ target });
    },
  };
}
