/**
 * The GCP Secret Manager fetcher of the Embedded manager (Flyte: `secret/embedded_secret_manager.go`): `AccessSecretVersion` of
 * `projects/<project>/secrets/<Flyte id>/versions/latest`; the payload is always returned as bytes (as Flyte does).
 *
 * The client uses the library's HTTP/JSON transport (`fallback: true`) so it works through plain HTTPS proxies and
 * against local stand-ins; its retries are off (the request budget owns retries). Needs
 * `secretmanager.versions.access` (credentials: Application Default Credentials).
 *
 * @module
 */
import { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { errorMessage } from '../errors.js';
import { encodeSecretName, type FlyteSecretId } from '../secret/flyte-id.js';
import { SecretValue } from '../secret/value.js';
import { SecretNil, SecretNotFound, SecretReadFailure, isNetworkError, parseRetryAfter, raceAbort, type SecretFetcher } from './fetcher.js';

type GcpClientOptions = NonNullable<ConstructorParameters<typeof SecretManagerServiceClient>[0]>;

/** What the fetcher needs from the client (tests may pass a stand-in). */
export interface GcpSecretsClient {
  accessSecretVersion(request: { name: string }, options?: object): Promise<unknown>;
}

/** Options of {@link createGcpFetcher}. */
export interface GcpFetcherOptions {
  /** GCP project of the secrets (config `webhook.embeddedSecretManagerConfig.gcpConfig.project`). */
  project: string;
  /** API host (default `secretmanager.googleapis.com`). */
  apiEndpoint?: string;
  port?: number;
  /** `https` (default) or `http` (local stand-ins only). */
  protocol?: 'http' | 'https';
  /** A google-auth-library client (tests pass a `PassThroughClient`); default ADC. */
  authClient?: GcpClientOptions['authClient'];
  /** A ready client (tests). */
  client?: GcpSecretsClient;
}

// gRPC status codes
const NOT_FOUND = 5;
const RESOURCE_EXHAUSTED = 8;
const RETRYABLE_GRPC = new Set([1 /* CANCELLED */, 4 /* DEADLINE_EXCEEDED */, 10 /* ABORTED */, 13 /* INTERNAL */, 14 /* UNAVAILABLE */]);

/**
 * Create the GCP fetcher.
 *
 * @example
 * ```ts
 * const fetcher = createGcpFetcher({ project: 'my-project' });
 * ```
 */
export function createGcpFetcher(options: GcpFetcherOptions): SecretFetcher {
  const client: GcpSecretsClient =
    options.client ??
    new SecretManagerServiceClient({
      fallback: true,
      ...(options.apiEndpoint ? { apiEndpoint: options.apiEndpoint } : {}),
      ...(options.port ? { port: options.port } : {}),
      ...(options.protocol ? { protocol: options.protocol } : {}),
      ...(options.authClient ? { authClient: options.authClient } : {}),
    });
  return {
    kind: 'gcp',
    budgetKey: `${options.apiEndpoint ?? 'secretmanager.googleapis.com'}${options.port ? `:${options.port}` : ''}`,
    async fetch(id: FlyteSecretId, signal?: AbortSignal): Promise<SecretValue> {
      const secretId = encodeSecretName(id);
      const name = `projects/${options.project}/secrets/${secretId}/versions/latest`;
      let response: unknown;
      try {
        const result = await raceAbort(client.accessSecretVersion({ name }, { retry: { retryCodes: [] }, maxRetries: 0 }), signal);
        response = Array.isArray(result) ? (result[0] as unknown) : result;
      } catch (err) {
        throw classify(secretId, err);
      }
      const payload = (response as { payload?: { data?: Uint8Array | string | null } | null } | undefined)?.payload;
      if (payload === undefined || payload === null) throw new SecretNil(secretId);
      const data = payload.data;
      if (typeof data === 'string') return SecretValue.fromBytes(Buffer.from(data, 'base64'));
      return SecretValue.fromBytes(data ?? new Uint8Array());
    },
  };
}

function numeric(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** The delay of a google.rpc.RetryInfo among a Google error's decoded details (how Google's APIs ask a client to wait). */
function retryInfoMs(details: unknown): number | undefined {
  if (!Array.isArray(details)) return undefined;
  for (const d of details as unknown[]) {
    const delay = (d as { retryDelay?: { seconds?: unknown; nanos?: unknown } } | null)?.retryDelay;
    if (delay === undefined || delay === null) continue;
    const seconds = Number(delay.seconds ?? 0);
    const nanos = Number(delay.nanos ?? 0);
    if (Number.isFinite(seconds) && Number.isFinite(nanos) && seconds >= 0 && nanos >= 0) return Math.round(seconds * 1000 + nanos / 1e6);
  }
  return undefined;
}

function classify(secretId: string, err: unknown): Error {
  const e = err as { code?: unknown; status?: unknown; httpStatusCode?: unknown; statusDetails?: unknown; response?: { status?: unknown; headers?: unknown } };
  // google-gax 5 (REST fallback) reports the HTTP status as httpStatusCode and no response; older versions a response.
  const httpStatus = numeric(e.response?.status) ?? numeric(e.status) ?? numeric(e.httpStatusCode);
  const code = numeric(e.code);
  const grpc = httpStatus === undefined && code !== undefined && code < 100 ? code : undefined;
  const status = httpStatus ?? (code !== undefined && code >= 100 ? code : undefined);
  const cause = new Error(errorMessage(err));
  const details = status === undefined ? {} : { status };
  if (status === 404 || grpc === NOT_FOUND) return new SecretNotFound(secretId, cause, details);
  if (status === 429 || grpc === RESOURCE_EXHAUSTED) {
    const headers = e.response?.headers;
    let retryAfter: string | undefined;
    const get = (headers as { get?: unknown } | undefined)?.get;
    if (typeof get === 'function') retryAfter = (get.call(headers, 'retry-after') as string | null | undefined) ?? undefined;
    else if (headers !== null && typeof headers === 'object') {
      const v = (headers as Record<string, unknown>)['retry-after'];
      if (typeof v === 'string') retryAfter = v;
    }
    const retryAfterMs = parseRetryAfter(retryAfter) ?? retryInfoMs(e.statusDetails);
    return new SecretReadFailure(secretId, cause, { ...details, retryable: true, throttled: true, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) });
  }
  const retryable = (status !== undefined && (status >= 500 || status === 408)) || (grpc !== undefined && RETRYABLE_GRPC.has(grpc)) || isNetworkError(err);
  return new SecretReadFailure(secretId, cause, { ...details, retryable });
}
