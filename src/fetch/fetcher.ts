/**
 * The fetching seam of the Embedded secret manager (Flyte: `secret/embedded_secret_manager.go`): one small interface, one implementation per backend
 * (`azure.ts`, `k8s.ts`, `aws.ts`, `gcp.ts`), and the three errors every fetcher raises, with Flyte's texts
 * («[SecretNotFound] secret <id> not found in the secret manager, caused by: <cause>», …).
 *
 * A fetcher makes exactly one backend call per `fetch` and classifies its failure: not found (the scope cascade moves
 * on), or a read failure that is `retryable` (throttling, 5xx, network, timeout) or not. Retries, the request budget
 * and caching live around fetchers (`budget.ts`, `cache.ts`), never inside them.
 *
 * Messages never contain a secret value: causes are backend error texts about names and statuses only.
 *
 * @module
 */
import { FlyteSecretsError, errorMessage, type ErrorCode } from '../errors.js';
import type { FlyteSecretId } from '../secret/flyte-id.js';
import type { SecretValue } from '../secret/value.js';

/**
 * Reads Flyte-native secrets (by full scope id) from one backend.
 *
 * @example
 * ```ts
 * const value = await fetcher.fetch({ org: 'flyte', domain: 'development', project: '', name: 'db' }, signal);
 * ```
 */
export interface SecretFetcher {
  /** Backend name for logs and metrics: `azure`, `k8s`, `aws`, `gcp`. */
  readonly kind: string;
  /** The request-budget bucket this fetcher's calls count against (the vault host, the API server, …). */
  readonly budgetKey?: string;
  /**
   * Read the secret with exactly this scope id (no cascade). Throws {@link SecretNotFound}, {@link SecretNil} or
   * {@link SecretReadFailure}; honours `signal` (an aborted call is a retryable read failure).
   */
  fetch(id: FlyteSecretId, signal?: AbortSignal): Promise<SecretValue>;
  /**
   * The backend's own name for `id` (a Key Vault secret name, …), for messages such as "not found at any scope";
   * absent when the backend has no name of its own beyond the Flyte id.
   */
  nameOf?(id: FlyteSecretId): string;
}

/** How a backend failure may be retried. */
export interface FailureDetails {
  /** True for throttling, 5xx, network errors and timeouts: the budget layer may retry. */
  retryable?: boolean;
  /** True when the backend answered "too many requests" (HTTP 429, AWS ThrottlingException, gRPC RESOURCE_EXHAUSTED). */
  throttled?: boolean;
  /** The backend's `Retry-After`, in milliseconds. */
  retryAfterMs?: number;
  /** HTTP status (or equivalent) when known; for logs and metrics. */
  status?: number;
}

/** Text of a cause as Go's `%v` would print it; `<nil>` when there is none (Flyte's SecretNil text). */
function causeText(cause: unknown): string {
  if (cause === undefined || cause === null) return '<nil>';
  return errorMessage(cause);
}

/**
 * Base class of the fetch errors. `message` is flytestdlib's «[<Code>] <msg>, caused by: <cause>».
 */
export class FetchError extends FlyteSecretsError {
  /** The scope id (Flyte id string) that was read. */
  readonly secretId: string;
  readonly retryable: boolean;
  readonly throttled: boolean;
  readonly retryAfterMs: number | undefined;
  readonly status: number | undefined;

  constructor(code: ErrorCode, secretId: string, text: string, cause: unknown, details: FailureDetails = {}) {
    super(code, `[${code}] ${text}, caused by: ${causeText(cause)}`, cause === undefined || cause === null ? {} : { cause });
    this.secretId = secretId;
    this.retryable = details.retryable ?? false;
    this.throttled = details.throttled ?? false;
    this.retryAfterMs = details.retryAfterMs;
    this.status = details.status;
  }
}

/**
 * The backend has no such secret (HTTP 404 and equivalents). The scope cascade moves on to the next scope.
 *
 * @example
 * ```ts
 * new SecretNotFound('u__org__flyte__domain____project____key__x', azureError).message
 * // '[SecretNotFound] secret u__org__flyte__domain____project____key__x not found in the secret manager, caused by: …'
 * ```
 */
export class SecretNotFound extends FetchError {
  constructor(secretId: string, cause?: unknown, details: FailureDetails = {}) {
    super('SecretNotFound', secretId, `secret ${secretId} not found in the secret manager`, cause, details);
  }
}

/** Any other failure to read (auth, throttling, 5xx, network, timeout, undecodable value). Stops the cascade. */
export class SecretReadFailure extends FetchError {
  constructor(secretId: string, cause?: unknown, details: FailureDetails = {}) {
    super('SecretReadFailure', secretId, `secret ${secretId} failed to be read from secret manager`, cause, details);
  }
}

/** The backend returned no value (Azure nil/empty, K8s data key absent, AWS neither string nor binary, GCP no payload). */
export class SecretNil extends FetchError {
  constructor(secretId: string, cause?: unknown) {
    super('SecretNil', secretId, `secret ${secretId} read as empty from the secret manager`, cause);
  }
}

/** True for a fetch error with the given code. */
export function isFetchError(err: unknown, code?: ErrorCode): err is FetchError {
  return err instanceof FetchError && (code === undefined || err.code === code);
}

/** True when `err` (or anything in its cause chain) is a not-found answer: Flyte moves to the next scope only then. */
export function isNotFound(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; depth < 8 && e !== undefined && e !== null; depth++) {
    if (e instanceof FlyteSecretsError && e.code === 'SecretNotFound') return true;
    e = e instanceof Error ? e.cause : undefined;
  }
  return false;
}

/**
 * Parse an HTTP `Retry-After` header (delta seconds or an HTTP date) into milliseconds; undefined when absent or
 * unreadable. Capped at one hour.
 *
 * @example
 * ```ts
 * parseRetryAfter('2') // 2000
 * ```
 */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (text === '') return undefined;
  let ms: number;
  if (/^\d+(\.\d+)?$/.test(text)) ms = Number(text) * 1000;
  else {
    const at = Date.parse(text);
    if (Number.isNaN(at)) return undefined;
    ms = Math.max(0, at - now);
  }
  return Math.min(ms, 3_600_000);
}

/** True for Node/undici network errors worth retrying (reset, refused, DNS hiccups, socket closed early). */
export function isNetworkError(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; depth < 6 && e !== undefined && e !== null; depth++) {
    const code = (e as { code?: unknown }).code;
    if (
      typeof code === 'string' &&
      ['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'REQUEST_SEND_ERROR', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE'].includes(code)
    ) {
      return true;
    }
    const name = (e as { name?: unknown }).name;
    if (name === 'AbortError' || name === 'TimeoutError') return true;
    e = e instanceof Error ? e.cause : undefined;
  }
  return false;
}

/** Reject with the signal's reason as soon as `signal` aborts; otherwise settle like `promise`. */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) {
    promise.catch(() => undefined);
    return Promise.reject(abortReason(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortReason(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e instanceof Error ? e : new Error(errorMessage(e)));
      },
    );
  });
}

/** The abort reason of a signal as an Error named `AbortError`/`TimeoutError`. */
export function abortReason(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  if (r instanceof Error) return r;
  const e = new Error(typeof r === 'string' ? r : 'the operation was aborted');
  e.name = 'AbortError';
  return e;
}

