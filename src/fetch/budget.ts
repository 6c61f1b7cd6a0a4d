/**
 * The request budget in front of every secret backend (Key Vault allows 4,000 GETs per 10 s per vault, answers 429
 * with `Retry-After` beyond it, and Microsoft asks clients to back off exponentially):
 *
 * - a **token bucket per target** (vault host, API server, …) sized from `flyteSecrets.fetch.requestsPer10s`
 *   (Key Vault: 4,000 GETs per 10 s per vault). The bucket holds one second's worth of tokens and refills with the
 *   rest, so no 10-second window ever sees more than `requestsPer10s` calls;
 * - **retries owned here**, not by the SDKs (they are configured with retries off): throttling (429) honours
 *   `Retry-After` — the whole target pauses, with a little jitter — and other retryable failures (5xx, network,
 *   timeouts) back off exponentially with full jitter, up to `maxAttempts` attempts;
 * - **time bounds**: every attempt is cut at `callTimeout` (an AbortSignal handed to the SDK), and the whole logical
 *   call never outlives the caller's deadline/signal (the admission budget, shorter than the webhook timeout).
 *   A wait that could not finish before the deadline fails at once instead of sleeping.
 *
 * @module
 */
import { setMaxListeners } from 'node:events';
import { FlyteSecretsError, errorMessage } from '../errors.js';
import { encodeSecretName, type FlyteSecretId } from '../secret/flyte-id.js';
import type { SecretValue } from '../secret/value.js';
import { FetchError, SecretReadFailure, abortReason, isFetchError, type SecretFetcher } from './fetcher.js';
import { noopFetchMetrics, type BackendOutcome, type FetchMetrics } from './metrics.js';

/** Options of {@link createRequestBudget}. */
export interface RequestBudgetOptions {
  /** Calls allowed per 10 s per target (config `flyteSecrets.fetch.requestsPer10s`, default 4,000). */
  requestsPer10s: number;
  /** Longest time one attempt may take, ms (config `callTimeout`, default 3 s). */
  callTimeoutMs: number;
  /** Most attempts per logical call, first one included (config `maxAttempts`, default 4). */
  maxAttempts: number;
  /** First back-off step, ms (default 100); doubles per attempt. */
  baseBackoffMs?: number;
  /** Largest back-off step, ms (default 2,000). */
  maxBackoffMs?: number;
  metrics?: FetchMetrics;
  /** Clock, for tests (default `Date.now`). */
  now?: () => number;
  /** Random source in [0, 1), for tests (default `Math.random`). */
  random?: () => number;
}

/** Per-call bounds. */
export interface CallBounds {
  /** Aborts the whole logical call (e.g. the admission ended). */
  signal?: AbortSignal;
  /** Epoch ms after which no attempt or wait may run (e.g. admission start + admissionBudget). */
  deadline?: number;
}

/** The shared per-target budget and retry policy. */
export interface RequestBudget {
  /**
   * Run `attempt` under the budget: take a token (waiting if needed), give it a signal bounded by `callTimeout`,
   * retry retryable {@link FetchError}s. Throws the last error, or a {@link BudgetExhausted} when the deadline leaves
   * no room for a wait or an attempt.
   */
  run<T>(target: string, attempt: (signal: AbortSignal) => Promise<T>, bounds?: CallBounds): Promise<T>;
  /** Tokens currently available for `target` (for tests and diagnostics). */
  available(target: string): number;
  /** When `target` is paused by a Retry-After, the epoch ms it resumes; else 0. */
  pausedUntil(target: string): number;
}

/** The deadline (or the caller's signal) leaves no time to wait for the budget or try again. */
export class BudgetExhausted extends FlyteSecretsError {
  readonly target: string;
  constructor(target: string, why: string, cause?: unknown) {
    super('SecretReadFailure', `request budget for ${target} exhausted: ${why}`, cause === undefined ? {} : { cause });
    this.target = target;
  }
}

/** Shortest time worth starting another attempt in, ms. */
const MIN_ATTEMPT_MS = 50;

interface Bucket {
  tokens: number;
  updatedAt: number;
  pausedUntil: number;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(abortReason(signal));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortReason(signal as AbortSignal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, Math.max(0, ms));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Create a request budget. One instance is shared by every admission of a webhook process.
 *
 * @example
 * ```ts
 * const budget = createRequestBudget({ requestsPer10s: 4000, callTimeoutMs: 3000, maxAttempts: 4 });
 * const value = await budget.run('myvault.vault.azure.net', (signal) => client.getSecret(name, { abortSignal: signal }),
 *   { deadline: Date.now() + 8000 });
 * ```
 */
export function createRequestBudget(options: RequestBudgetOptions): RequestBudget {
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const metrics = options.metrics ?? noopFetchMetrics;
  const base = options.baseBackoffMs ?? 100;
  const maxBackoff = options.maxBackoffMs ?? 2000;
  const limit = Math.max(1, options.requestsPer10s);
  const capacity = Math.max(1, Math.ceil(limit / 10));
  const ratePerMs = Math.max(limit - capacity, 1) / 10_000;
  const buckets = new Map<string, Bucket>();

  function bucket(target: string): Bucket {
    let b = buckets.get(target);
    if (b === undefined) {
      b = { tokens: capacity, updatedAt: now(), pausedUntil: 0 };
      buckets.set(target, b);
    }
    const t = now();
    if (t > b.updatedAt) {
      b.tokens = Math.min(capacity, b.tokens + (t - b.updatedAt) * ratePerMs);
      b.updatedAt = t;
    }
    return b;
  }

  function remaining(bounds: CallBounds): number {
    return bounds.deadline === undefined ? Number.POSITIVE_INFINITY : bounds.deadline - now();
  }

  async function waitFor(target: string, ms: number, bounds: CallBounds, why: string): Promise<void> {
    if (ms <= 0) return;
    if (ms > remaining(bounds)) throw new BudgetExhausted(target, `${why} needs ${Math.ceil(ms)} ms, more than the ${Math.max(0, Math.floor(remaining(bounds)))} ms left of the admission budget`);
    metrics.budgetWait(target, ms / 1000);
    try {
      await sleep(ms, bounds.signal);
    } catch (err) {
      throw new BudgetExhausted(target, `the caller gave up while waiting (${why})`, err);
    }
  }

  /** Take one token, waiting for pauses and refills. */
  async function acquire(target: string, bounds: CallBounds): Promise<void> {
    for (let spins = 0; spins < 1000; spins++) {
      if (bounds.signal?.aborted === true) throw new BudgetExhausted(target, 'the caller gave up', abortReason(bounds.signal));
      const b = bucket(target);
      const t = now();
      if (b.pausedUntil > t) {
        // Spread the resumption of waiting callers over a short window.
        await waitFor(target, b.pausedUntil - t + random() * Math.min(250, (b.pausedUntil - t) * 0.1 + 20), bounds, 'a Retry-After pause');
        continue;
      }
      if (b.tokens >= 1) {
        b.tokens -= 1;
        return;
      }
      await waitFor(target, (1 - b.tokens) / ratePerMs, bounds, `the ${limit}-per-10s request budget`);
    }
    throw new BudgetExhausted(target, 'could not obtain a request token');
  }

  /** The backend's last answer, noting why no further attempt is made (the cause text stays first). */
  function giveUp(err: Error, attempts: number, why: string): Error {
    if (!(err instanceof FetchError) || err.code !== 'SecretReadFailure') return err;
    const cause: unknown = err.cause;
    const text = cause === undefined ? '<nil>' : errorMessage(cause);
    return new SecretReadFailure(err.secretId, new Error(`${text} (gave up after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${why})`, { cause }), {
      throttled: err.throttled,
      ...(err.status === undefined ? {} : { status: err.status }),
      ...(err.retryAfterMs === undefined ? {} : { retryAfterMs: err.retryAfterMs }),
    });
  }

  /**
   * The signal of one attempt: it aborts when `callTimeout` has passed since the attempt began, at the deadline, or
   * with the caller's signal. The deadline is read again when reached, so a call shared by several admissions runs
   * until the latest of theirs. A timer and a controller held by this closure (not `AbortSignal.any` over a timeout
   * signal, which can be collected before it fires: nodejs/node#57736).
   */
  function attemptSignal(bounds: CallBounds): { signal: AbortSignal; dispose: () => void } {
    const controller = new AbortController();
    // The Azure SDK's pipeline adds several abort listeners per request; that is not a leak.
    setMaxListeners(64, controller.signal);
    const ends = now() + options.callTimeoutMs;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const dispose = (): void => {
      clearTimeout(timer);
      bounds.signal?.removeEventListener('abort', onAbort);
    };
    const stop = (reason: Error): void => {
      dispose();
      controller.abort(reason);
    };
    const onAbort = (): void => stop(abortReason(bounds.signal as AbortSignal));
    const arm = (): void => {
      const ms = Math.min(ends, bounds.deadline ?? Number.POSITIVE_INFINITY) - now();
      if (ms <= 0) stop(new DOMException('The operation was aborted due to timeout', 'TimeoutError'));
      else timer = setTimeout(arm, Math.max(1, ms));
    };
    if (bounds.signal?.aborted === true) onAbort();
    else {
      bounds.signal?.addEventListener('abort', onAbort, { once: true });
      arm();
    }
    return { signal: controller.signal, dispose };
  }

  async function run<T>(target: string, attempt: (signal: AbortSignal) => Promise<T>, bounds: CallBounds = {}): Promise<T> {
    let lastError: Error | undefined;
    const attempts = Math.max(1, options.maxAttempts);
    for (let n = 1; n <= attempts; n++) {
      try {
        await acquire(target, bounds);
      } catch (err) {
        // Out of time before an attempt could run: report the backend's last answer when there was one.
        if (lastError !== undefined) throw giveUp(lastError, n - 1, 'the admission time budget ran out');
        throw err instanceof Error ? err : new Error(String(err));
      }
      if (remaining(bounds) <= 0) throw lastError === undefined ? new BudgetExhausted(target, 'no time left for a call') : giveUp(lastError, n - 1, 'the admission time budget ran out');
      const bound = attemptSignal(bounds);
      try {
        return await attempt(bound.signal);
      } catch (err) {
        bound.dispose();
        lastError = err instanceof Error ? err : new Error(String(err));
        if (!isFetchError(err)) throw lastError;
        const b = bucket(target);
        if (err.throttled) {
          metrics.throttled(target);
          const pause = err.retryAfterMs ?? Math.min(maxBackoff, base * 2 ** (n - 1)) * (0.5 + random() / 2);
          b.pausedUntil = Math.max(b.pausedUntil, now() + pause);
        }
        if (!err.retryable || bounds.signal?.aborted === true) throw err;
        if (n === attempts) throw giveUp(err, n, `maxAttempts is ${attempts}`);
        // Throttled: acquire() waits for the target's pause (jittered) before the next attempt.
        const wait = err.throttled ? 0 : random() * Math.min(maxBackoff, base * 2 ** (n - 1));
        const needed = Math.max(wait, b.pausedUntil - now());
        const left = remaining(bounds);
        if (left <= MIN_ATTEMPT_MS) throw giveUp(err, n, 'the admission time budget ran out');
        if (needed + MIN_ATTEMPT_MS >= left) {
          throw giveUp(err, n, `the next attempt could start only in ${Math.ceil(needed)} ms, after the admission time budget ends`);
        }
        metrics.retry(target);
        try {
          await waitFor(target, wait, bounds, 'a retry back-off');
        } catch {
          throw giveUp(err, n, 'the admission time budget ran out');
        }
      } finally {
        bound.dispose();
      }
    }
    throw lastError ?? new BudgetExhausted(target, 'no attempt was made');
  }

  return {
    run,
    available: (target) => bucket(target).tokens,
    pausedUntil: (target) => {
      const p = bucket(target).pausedUntil;
      return p > now() ? p : 0;
    },
  };
}

/** Options of {@link budgetedFetcher}. */
export interface BudgetedFetcherOptions {
  /** Target key (default: the fetcher's `budgetKey`, else its `kind`). */
  target?: string;
  metrics?: FetchMetrics;
}

function outcomeOf(err: unknown): BackendOutcome {
  if (!(err instanceof FetchError)) return 'error';
  if (err.code === 'SecretNotFound') return 'not_found';
  if (err.code === 'SecretNil') return 'nil';
  if (err.throttled) return 'throttled';
  const cause: unknown = err.cause;
  if (cause instanceof Error && (cause.name === 'TimeoutError' || cause.name === 'AbortError')) return 'timeout';
  return 'error';
}

/** A fetcher whose calls go through `budget` (retries, rate, time bounds). The result is still a {@link SecretFetcher}. */
export interface BoundedFetcher extends SecretFetcher {
  /** Like `fetch`, with an admission deadline as well as a signal. */
  fetchWithin(id: FlyteSecretId, bounds: CallBounds): Promise<SecretValue>;
}

/**
 * Wrap a single-call fetcher with the budget: each `fetch` becomes one budgeted logical call, and every backend
 * attempt is counted in the metrics by outcome.
 *
 * @example
 * ```ts
 * const fetcher = budgetedFetcher(createAzureFetcher({ vaultUrl }), budget, { metrics });
 * await fetcher.fetchWithin(id, { deadline: Date.now() + 8000 });
 * ```
 */
export function budgetedFetcher(inner: SecretFetcher, budget: RequestBudget, options: BudgetedFetcherOptions = {}): BoundedFetcher {
  const target = options.target ?? inner.budgetKey ?? inner.kind;
  const metrics = options.metrics ?? noopFetchMetrics;
  const fetchWithin = async (id: FlyteSecretId, bounds: CallBounds): Promise<SecretValue> => {
    try {
      return await budget.run(
        target,
        async (signal) => {
          const started = performance.now();
          try {
            const value = await inner.fetch(id, signal);
            metrics.backendCall(inner.kind, 'ok', (performance.now() - started) / 1000);
            return value;
          } catch (err) {
            metrics.backendCall(inner.kind, outcomeOf(err), (performance.now() - started) / 1000);
            throw err;
          }
        },
        bounds,
      );
    } catch (err) {
      if (err instanceof FetchError) throw err;
      // Budget or deadline failures become Flyte's read failure for this id.
      throw new SecretReadFailure(encodeSecretName(id), err);
    }
  };
  return {
    kind: inner.kind,
    budgetKey: target,
    fetch: (id, signal) => fetchWithin(id, signal === undefined ? {} : { signal }),
    fetchWithin,
    ...(inner.nameOf === undefined ? {} : { nameOf: inner.nameOf.bind(inner) }),
  };
}

