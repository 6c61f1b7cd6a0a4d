/**
 * The broker's wire format, shared by the webhook (server side) and the agent (client side). Pure: no I/O.
 *
 * The agent of a pod whose Embedded secrets are delivered in agent mode (`flyteSecrets.embedded.delivery: agent`)
 * asks the webhook for them once, at pod start:
 *
 * ```
 * POST <flyteSecrets.broker.path>            (default /broker/v1/secrets), over the webhook's HTTPS port
 * authorization: Bearer <projected service-account token, audience flyteSecrets.broker.audience>
 * content-type: application/json
 *
 * {"secrets":["embedded:0","embedded:2"]}
 * ```
 *
 * `embedded:<i>` names the pod's annotation `flyte.secrets/s<i>`. The answer is
 * `200 {"secrets":[{"source":"embedded:0","kind":"string","value":"<base64 of the bytes>"}, …]}` (every source asked
 * for, in the order asked), or an error status with `{"error":{"code":"<BrokerRefusalCode>","message":"…"}}`. Messages
 * name secrets by their key and annotation, never by value. Answers carry `cache-control: no-store`.
 *
 * @module
 */

/** Prefix of an agent source served by the broker: `embedded:<i>`, `<i>` the index of `flyte.secrets/s<i>`. */
export const EMBEDDED_SOURCE_PREFIX = 'embedded:';

/** Env var of the agent container holding the PEM of the CA that signed the webhook's serving certificate. */
export const BROKER_CA_ENV = 'FLYTE_SECRETS_BROKER_CA';

/** Name of the projected service-account token volume only the agent mounts. */
export const BROKER_TOKEN_VOLUME = 'flyte-secrets-broker-token';

/** Where the agent mounts that volume, and the token file in it. */
export const BROKER_TOKEN_DIR = '/var/run/secrets/flyte-secrets/broker';
export const BROKER_TOKEN_FILE = 'token';

/** Lifetime of the agent's projected token: 600 s, the shortest Kubernetes allows for `expirationSeconds`. */
export const BROKER_TOKEN_EXPIRATION_SECONDS = 600;

/** Most sources one request may name (a pod has at most that many secret annotations in practice). */
export const MAX_SOURCES_PER_REQUEST = 1000;

/** Largest request body the broker reads, in bytes. */
export const MAX_BROKER_REQUEST_BYTES = 64 * 1024;

/**
 * Why the broker refused a request (the `error.code` of its answer), with the HTTP status it goes with:
 * - 400 `BadRequest`: the body is not `{"secrets":[…]}` with `embedded:<i>` sources.
 * - 401 `TokenMissing`, `TokenMalformed`: no `Authorization: Bearer`, or a bearer that is not a JWT.
 * - 401 `TokenRejected`: the TokenReview did not authenticate it (bad signature, expired, another audience, its pod
 *   gone or replaced); the message carries the API server's reason.
 * - 401 `NotAPodToken`: authenticated, but not a service account token bound to a pod.
 * - 403 `PodNotFound`, `PodUidMismatch`, `PodNamespaceMismatch`, `ServiceAccountMismatch`, `PodStarted`,
 *   `SecretNotRequested`, `SecretRefused` (the admission rules refuse it now: scope labels, namespace scope).
 * - 404 `SecretNotFound`: not found across all scopes (the admission message).
 * - 405 `MethodNotAllowed`, 413 `TooLarge`, 415 `UnsupportedMediaType`.
 * - 429 `TooManyRequests`: the pod made `flyteSecrets.broker.maxRequestsPerPod` requests to this replica already.
 * - 502 `SecretReadFailure`: the secret store failed (retry).
 * - 503 `KubernetesUnavailable`: the TokenReview or the pod read failed (retry).
 * - 503 `InternalError`: an unexpected failure in the webhook (details in its log; retry).
 */
export type BrokerRefusalCode =
  | 'BadRequest'
  | 'TokenMissing'
  | 'TokenMalformed'
  | 'TokenRejected'
  | 'NotAPodToken'
  | 'PodNotFound'
  | 'PodUidMismatch'
  | 'PodNamespaceMismatch'
  | 'ServiceAccountMismatch'
  | 'PodStarted'
  | 'SecretNotRequested'
  | 'SecretRefused'
  | 'SecretNotFound'
  | 'MethodNotAllowed'
  | 'TooLarge'
  | 'UnsupportedMediaType'
  | 'TooManyRequests'
  | 'SecretReadFailure'
  | 'KubernetesUnavailable'
  | 'InternalError';

/** HTTP status of each refusal. */
export const BROKER_REFUSAL_STATUS: Readonly<Record<BrokerRefusalCode, number>> = {
  BadRequest: 400,
  TokenMissing: 401,
  TokenMalformed: 401,
  TokenRejected: 401,
  NotAPodToken: 401,
  PodNotFound: 403,
  PodUidMismatch: 403,
  PodNamespaceMismatch: 403,
  ServiceAccountMismatch: 403,
  PodStarted: 403,
  SecretNotRequested: 403,
  SecretRefused: 403,
  SecretNotFound: 404,
  MethodNotAllowed: 405,
  TooLarge: 413,
  UnsupportedMediaType: 415,
  TooManyRequests: 429,
  SecretReadFailure: 502,
  KubernetesUnavailable: 503,
  InternalError: 503,
};

/** One delivered secret. */
export interface BrokerSecret {
  source: string;
  /** `string` (the agent may put it in an env file) or `binary`. */
  kind: 'string' | 'binary';
  /** Standard base64 of the bytes. */
  value: string;
}

/** A refusal as sent on the wire. */
export interface BrokerErrorBody {
  error: { code: BrokerRefusalCode; message: string };
}

/** `embedded:<i>` for annotation index `i`. */
export function embeddedSource(index: number): string {
  return `${EMBEDDED_SOURCE_PREFIX}${index}`;
}

/**
 * The annotation index of an `embedded:<i>` source, or undefined when `source` is not one (`<i>` is decimal digits
 * without a leading zero, at most 9 of them).
 *
 * @example
 * ```ts
 * parseEmbeddedSource('embedded:3') // 3
 * parseEmbeddedSource('embedded:03') // undefined
 * ```
 */
export function parseEmbeddedSource(source: string): number | undefined {
  if (!source.startsWith(EMBEDDED_SOURCE_PREFIX)) return undefined;
  const digits = source.slice(EMBEDDED_SOURCE_PREFIX.length);
  if (!/^(0|[1-9][0-9]{0,8})$/.test(digits)) return undefined;
  return Number(digits);
}

/** The body of a broker request. */
export function encodeBrokerRequest(sources: readonly string[]): string {
  return JSON.stringify({ secrets: [...sources] });
}

/**
 * Parse a broker request body: `{"secrets":[<embedded:i>, …]}`, 1 to {@link MAX_SOURCES_PER_REQUEST} distinct
 * sources. Returns the sources, or a problem sentence.
 */
export function parseBrokerRequest(body: Buffer | string): { sources: string[] } | { problem: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof body === 'string' ? body : body.toString('utf8')) as unknown;
  } catch {
    return { problem: 'the request body is not JSON: send {"secrets":["embedded:<i>", …]}' };
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return { problem: 'the request body must be a JSON object {"secrets":[…]}' };
  const list = (parsed as { secrets?: unknown }).secrets;
  if (!Array.isArray(list) || list.length === 0) return { problem: '"secrets" must be a non-empty array of "embedded:<i>" sources' };
  if (list.length > MAX_SOURCES_PER_REQUEST) return { problem: `"secrets" names ${list.length} sources; at most ${MAX_SOURCES_PER_REQUEST} are allowed` };
  const seen = new Set<string>();
  for (const item of list) {
    if (typeof item !== 'string' || parseEmbeddedSource(item) === undefined) {
      return { problem: `${JSON.stringify(typeof item === 'string' ? item.slice(0, 40) : item)} is not a source of the form "embedded:<i>"` };
    }
    if (seen.has(item)) return { problem: `source ${item} is named twice` };
    seen.add(item);
  }
  return { sources: [...seen] };
}

/**
 * Parse a broker answer (status 200 body) into source → bytes, checking that every source asked for is there.
 * Throws an Error naming the problem (never a value).
 */
export function parseBrokerSecrets(body: string, asked: readonly string[]): Map<string, { kind: 'string' | 'binary'; bytes: Buffer }> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body) as unknown;
  } catch {
    throw new Error('the broker answered 200 with a body that is not JSON');
  }
  const list = (parsed as { secrets?: unknown } | null)?.secrets;
  if (!Array.isArray(list)) throw new Error('the broker answered 200 without a "secrets" array');
  const out = new Map<string, { kind: 'string' | 'binary'; bytes: Buffer }>();
  for (const item of list as unknown[]) {
    const s = item as Partial<BrokerSecret> | null;
    if (s === null || typeof s !== 'object' || typeof s.source !== 'string' || typeof s.value !== 'string' || (s.kind !== 'string' && s.kind !== 'binary')) {
      throw new Error('the broker answered an entry that is not {source, kind, value}');
    }
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s.value) || s.value.length % 4 !== 0) throw new Error(`the broker answered ${s.source} with a value that is not base64`);
    out.set(s.source, { kind: s.kind, bytes: Buffer.from(s.value, 'base64') });
  }
  for (const source of asked) if (!out.has(source)) throw new Error(`the broker did not serve ${source}`);
  return out;
}

/**
 * Parse a refusal body into its code and message, or undefined when it is not one.
 */
export function parseBrokerError(body: string): { code: string; message: string } | undefined {
  try {
    const e = (JSON.parse(body) as { error?: { code?: unknown; message?: unknown } } | null)?.error;
    if (e !== undefined && typeof e.code === 'string' && typeof e.message === 'string') return { code: e.code, message: e.message };
  } catch {
    // not JSON
  }
  return undefined;
}

/**
 * The broker's URL as the agent reaches it through the webhook's Service:
 * `https://<webhook.serviceName>.<namespace>.svc:<webhook.servicePort><flyteSecrets.broker.path>`.
 *
 * @example
 * ```ts
 * brokerUrl({ serviceName: 'flyte-pod-webhook', servicePort: 443, path: '/broker/v1/secrets' }, 'flyte')
 * // 'https://flyte-pod-webhook.flyte.svc:443/broker/v1/secrets'
 * ```
 */
export function brokerUrl(service: { serviceName: string; servicePort: number; path: string }, namespace: string): string {
  return `https://${service.serviceName}.${namespace}.svc:${service.servicePort}${service.path}`;
}
