/**
 * Fault injection and throttling for the Key Vault emulator: a sliding-window rate limiter (Key Vault answers
 * `429 Throttled` with `Retry-After`), runtime-adjustable faults (fail the next N requests or a ratio of them with a
 * 5xx, drop connections, add latency) and per-operation request counters. No I/O here: the server asks
 * {@link FaultController.decide} what to do with each vault request and acts on the answer.
 *
 * @module
 */
import { FlyteSecretsError } from '../errors.js';

/** Requests per window Key Vault allows per vault for GETs and other non-create transactions. */
export const DEFAULT_RATE_LIMIT = 4000;
/** Key Vault's throttling window. */
export const DEFAULT_RATE_LIMIT_WINDOW_MS = 10_000;

/**
 * Faults that can be changed at runtime (admin endpoint `POST /_admin/faults`, or {@link FaultController.setFaults}).
 * Every field is optional; a field left out is off. Faults apply to authenticated vault requests only (not to the
 * bearer challenge, not to the Entra token endpoint), after the rate limiter.
 */
export interface FaultSettings {
  /** Answer the next N vault requests with `failStatus`. */
  failNext?: number;
  /** Answer this fraction (0..1) of vault requests with `failStatus` (after `failNext` is used up). */
  failRatio?: number;
  /** Status of injected failures: 500 or 503. Default 503. */
  failStatus?: 500 | 503;
  /** Destroy the socket of the next N vault requests without answering. */
  dropNext?: number;
  /** Destroy the socket of this fraction (0..1) of vault requests. */
  dropRatio?: number;
  /** Extra latency (ms) added to every vault request, on top of the start-up `latencyMs`. */
  latencyMs?: number;
  /** Restrict `fail*`/`drop*` to these operations (e.g. `["get"]`). Default: all vault operations. */
  operations?: string[];
}

/** The rate limit, changeable at runtime with the faults. */
export interface RateLimitSettings {
  /** Requests allowed per window; beyond it `429 Throttled`. `0` disables throttling. */
  rateLimit: number;
  /** Window length in ms. Default 10 000 (Key Vault's). */
  rateLimitWindowMs: number;
}

/** What to do with a vault request. */
export type FaultDecision =
  | { action: 'pass' }
  | { action: 'throttle'; retryAfterSeconds: number }
  | { action: 'fail'; status: 500 | 503 }
  | { action: 'drop' };

/** Request counters by operation (`get`, `set`, `list`, …, `token`, `challenge`, `throttled`, `faulted`, `dropped`). */
export type EmulatorStats = Record<string, number>;

const FAULT_KEYS = new Set(['failNext', 'failRatio', 'failStatus', 'dropNext', 'dropRatio', 'latencyMs', 'operations', 'rateLimit', 'rateLimitWindowMs']);

function invalid(message: string): FlyteSecretsError {
  return new FlyteSecretsError('InvalidInput', message);
}

function count(v: unknown, key: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw invalid(`faults: "${key}" must be a non-negative integer`);
  return v;
}

function ratio(v: unknown, key: string): number {
  if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw invalid(`faults: "${key}" must be a number from 0 to 1`);
  return v;
}

/**
 * Validate a faults object (as sent to `POST /_admin/faults`). Returns the faults and, when present, new rate-limit
 * settings. Unknown keys are an error, so a typo does not silently do nothing.
 */
export function parseFaultSettings(input: unknown): { faults: FaultSettings; rateLimit?: Partial<RateLimitSettings> } {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) throw invalid('faults: expected a JSON object');
  const o = input as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!FAULT_KEYS.has(k)) throw invalid(`faults: unknown key "${k}" (known: ${[...FAULT_KEYS].join(', ')})`);
  }
  const faults: FaultSettings = {};
  if (o.failNext !== undefined) faults.failNext = count(o.failNext, 'failNext');
  if (o.failRatio !== undefined) faults.failRatio = ratio(o.failRatio, 'failRatio');
  if (o.failStatus !== undefined) {
    if (o.failStatus !== 500 && o.failStatus !== 503) throw invalid('faults: "failStatus" must be 500 or 503');
    faults.failStatus = o.failStatus;
  }
  if (o.dropNext !== undefined) faults.dropNext = count(o.dropNext, 'dropNext');
  if (o.dropRatio !== undefined) faults.dropRatio = ratio(o.dropRatio, 'dropRatio');
  if (o.latencyMs !== undefined) faults.latencyMs = count(o.latencyMs, 'latencyMs');
  if (o.operations !== undefined) {
    if (!Array.isArray(o.operations) || !o.operations.every((x) => typeof x === 'string')) {
      throw invalid('faults: "operations" must be a list of operation names');
    }
    faults.operations = [...o.operations];
  }
  const rateLimit: Partial<RateLimitSettings> = {};
  if (o.rateLimit !== undefined) rateLimit.rateLimit = count(o.rateLimit, 'rateLimit');
  if (o.rateLimitWindowMs !== undefined) {
    const w = count(o.rateLimitWindowMs, 'rateLimitWindowMs');
    if (w === 0) throw invalid('faults: "rateLimitWindowMs" must be at least 1');
    rateLimit.rateLimitWindowMs = w;
  }
  return Object.keys(rateLimit).length > 0 ? { faults, rateLimit } : { faults };
}

/**
 * A sliding-window limiter: at most `limit` accepted requests in any `windowMs`. Rejected requests do not count
 * (as with Key Vault). Memory is bounded by `limit` timestamps.
 */
export class SlidingWindowLimiter {
  #limit: number;
  #windowMs: number;
  #times: number[] = [];
  #head = 0;

  constructor(limit: number, windowMs: number) {
    this.#limit = limit;
    this.#windowMs = windowMs;
  }

  /** Current settings. */
  get settings(): RateLimitSettings {
    return { rateLimit: this.#limit, rateLimitWindowMs: this.#windowMs };
  }

  /** Change the limit or window; the requests already accepted stay counted. */
  configure(s: Partial<RateLimitSettings>): void {
    if (s.rateLimit !== undefined) this.#limit = s.rateLimit;
    if (s.rateLimitWindowMs !== undefined) this.#windowMs = s.rateLimitWindowMs;
  }

  /** Accept (and count) a request at `now`, or say how many whole seconds until one would be accepted. */
  take(now: number): { ok: true } | { ok: false; retryAfterSeconds: number } {
    if (this.#limit <= 0) return { ok: true };
    while (this.#head < this.#times.length && (this.#times[this.#head] ?? 0) <= now - this.#windowMs) this.#head++;
    if (this.#head > 1024 && this.#head * 2 > this.#times.length) {
      this.#times = this.#times.slice(this.#head);
      this.#head = 0;
    }
    const inWindow = this.#times.length - this.#head;
    if (inWindow < this.#limit) {
      this.#times.push(now);
      return { ok: true };
    }
    // The oldest request that must leave the window before one more fits.
    const oldest = this.#times[this.#times.length - this.#limit] ?? now;
    const waitMs = Math.max(0, oldest + this.#windowMs - now);
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) };
  }
}

/** Options of {@link FaultController}. */
export interface FaultControllerOptions {
  rateLimit?: number;
  rateLimitWindowMs?: number;
  /** Random source for the ratio faults, for tests. Default `Math.random`. */
  random?: () => number;
}

/**
 * Holds the current faults, the rate limiter and the counters. One per emulator.
 *
 * @example
 * ```ts
 * const fc = new FaultController({ rateLimit: 100 });
 * fc.setFaults({ failNext: 2, failStatus: 500 });
 * fc.decide('get', Date.now()); // { action: 'throttle' | 'fail' | 'drop' | 'pass', … }
 * ```
 */
export class FaultController {
  readonly #limiter: SlidingWindowLimiter;
  readonly #random: () => number;
  #faults: FaultSettings = {};
  #stats = new Map<string, number>();

  constructor(options: FaultControllerOptions = {}) {
    this.#limiter = new SlidingWindowLimiter(options.rateLimit ?? DEFAULT_RATE_LIMIT, options.rateLimitWindowMs ?? DEFAULT_RATE_LIMIT_WINDOW_MS);
    this.#random = options.random ?? Math.random;
  }

  /** Replace the runtime faults (fields left out are off); change the rate limit when given. */
  setFaults(faults: FaultSettings, rateLimit?: Partial<RateLimitSettings>): void {
    this.#faults = { ...faults };
    if (rateLimit) this.#limiter.configure(rateLimit);
  }

  /** The current faults and rate limit (the counters `failNext`/`dropNext` show what is left). */
  get faults(): FaultSettings & RateLimitSettings {
    return { ...this.#faults, ...this.#limiter.settings };
  }

  /** Extra latency from the runtime faults (ms). */
  get extraLatencyMs(): number {
    return this.#faults.latencyMs ?? 0;
  }

  /** Add one to counter `name`. */
  count(name: string, n = 1): void {
    this.#stats.set(name, (this.#stats.get(name) ?? 0) + n);
  }

  /** A snapshot of the counters. */
  stats(): EmulatorStats {
    return Object.fromEntries([...this.#stats.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }

  /** Zero every counter. */
  resetStats(): void {
    this.#stats.clear();
  }

  /**
   * Decide the fate of an authenticated vault request for operation `op` at time `now` (ms), and count it under
   * `throttled`, `faulted` or `dropped` when it does not pass. Throttling comes first and throttled requests do not
   * consume faults.
   */
  decide(op: string, now: number): FaultDecision {
    const t = this.#limiter.take(now);
    if (!t.ok) {
      this.count('throttled');
      return { action: 'throttle', retryAfterSeconds: t.retryAfterSeconds };
    }
    const f = this.#faults;
    if (f.operations && !f.operations.includes(op)) return { action: 'pass' };
    if ((f.dropNext ?? 0) > 0) {
      f.dropNext = (f.dropNext ?? 0) - 1;
      this.count('dropped');
      return { action: 'drop' };
    }
    if ((f.dropRatio ?? 0) > 0 && this.#random() < (f.dropRatio ?? 0)) {
      this.count('dropped');
      return { action: 'drop' };
    }
    const status = f.failStatus ?? 503;
    if ((f.failNext ?? 0) > 0) {
      f.failNext = (f.failNext ?? 0) - 1;
      this.count('faulted');
      return { action: 'fail', status };
    }
    if ((f.failRatio ?? 0) > 0 && this.#random() < (f.failRatio ?? 0)) {
      this.count('faulted');
      return { action: 'fail', status };
    }
    return { action: 'pass' };
  }
}
