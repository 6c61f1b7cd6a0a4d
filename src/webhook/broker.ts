/**
 * The broker: the webhook's HTTPS endpoint that serves a pod's Embedded secrets to its agent init container
 * (`flyteSecrets.embedded.delivery: agent`), so no value is ever written into the pod spec.
 *
 * One request (wire format in src/broker/protocol.ts) goes through:
 * 1. the bearer token: present and shaped like a JWT;
 * 2. a TokenReview with audience `flyteSecrets.broker.audience` (signature, expiry, audience and the bound pod are
 *    the API server's checks), whose user must be a service account and whose `user.extra` names the pod
 *    (`authentication.kubernetes.io/pod-name`, `pod-uid`: Kubernetes 1.30+);
 * 3. the per-pod request limit of this replica (`maxRequestsPerPod`, counts kept for `trackedPods` pods);
 * 4. the pod, read from the API server: same uid, same namespace and service account as the token, not being
 *    deleted, and none of its main containers started;
 * 5. every source asked for is a `flyte.secrets/s<i>` annotation of that pod that its agent container lists;
 * 6. each secret resolved by the Embedded manager exactly as at admission (scope labels, namespace check, cascade,
 *    through the cache).
 *
 * Any replica serves any pod: the only state is the cache and the request counts. Every answer counts in
 * `flyte_secrets_broker_requests_total{outcome}` and writes one log line without values or tokens.
 *
 * @module
 */
import { performance } from 'node:perf_hooks';
import type { Container, Pod } from 'kubernetes-types/core/v1.js';
import { Counter, Histogram, type Registry } from 'prom-client';
import {
  BROKER_REFUSAL_STATUS,
  parseBrokerRequest,
  parseEmbeddedSource,
  type BrokerErrorBody,
  type BrokerRefusalCode,
  type BrokerSecret,
} from '../broker/protocol.js';
import type { Config } from '../config/schema.js';
import { errorMessage, isFlyteSecretsError } from '../errors.js';
import { AGENT_CONTAINER_NAME } from '../inject/agent.js';
import type { EmbeddedInjector } from '../inject/embedded.js';
import { SECRET_ANNOTATION_PREFIX, decodeSecretAnnotation } from '../secret/annotations.js';
import type { Secret } from '../secret/model.js';
import { errorShape, silentLogger, type Logger } from './logger.js';

/** `TokenReview.status` as the API server answers it. */
export interface TokenReviewStatus {
  authenticated?: boolean;
  user?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[] | undefined> };
  audiences?: string[];
  error?: string;
}

/** The two API calls the broker makes (RBAC: create tokenreviews, get pods). */
export interface BrokerKube {
  /** Create a TokenReview of `token` for `audiences`; answer its status. Throws on API or network failure. */
  reviewToken(token: string, audiences: string[], signal?: AbortSignal): Promise<TokenReviewStatus>;
  /** The pod, or undefined when the API server answers 404. Throws on other failures. */
  readPod(namespace: string, name: string, signal?: AbortSignal): Promise<Pod | undefined>;
}

/** Who a reviewed token says the caller is. */
export interface PodClaims {
  namespace: string;
  serviceAccount: string;
  podName: string;
  podUid: string;
}

/** A refusal: code (status follows from it) and a value-free message. */
export interface Refusal {
  code: BrokerRefusalCode;
  message: string;
}

const POD_NAME_EXTRA = 'authentication.kubernetes.io/pod-name';
const POD_UID_EXTRA = 'authentication.kubernetes.io/pod-uid';
const SA_PREFIX = 'system:serviceaccount:';
const MAX_TOKEN_LENGTH = 8 * 1024;
const JWT_RE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/**
 * The bearer token of an `Authorization` header, or the refusal.
 *
 * @example
 * ```ts
 * bearerToken('Bearer eyJ…') // { token: 'eyJ…' }
 * bearerToken(undefined) // { code: 'TokenMissing', … }
 * ```
 */
export function bearerToken(header: string | undefined): { token: string } | Refusal {
  if (header === undefined || header === '') {
    return { code: 'TokenMissing', message: 'no Authorization header: send "Authorization: Bearer <token>" with the pod\'s projected service-account token' };
  }
  const m = /^Bearer +(\S+)$/i.exec(header);
  if (m === null) return { code: 'TokenMalformed', message: 'the Authorization header is not "Bearer <token>"' };
  const token = m[1] as string;
  if (token.length > MAX_TOKEN_LENGTH || !JWT_RE.test(token)) return { code: 'TokenMalformed', message: 'the bearer token is not a JWT (three base64url parts separated by dots)' };
  return { token };
}

/**
 * The pod claims of a TokenReview status, or the refusal: the review must have authenticated the token for
 * `audience`, as a service account, with one pod name and uid in `user.extra`.
 */
export function podClaims(status: TokenReviewStatus, audience: string): { claims: PodClaims } | Refusal {
  if (status.authenticated !== true) {
    const why = (status.error ?? '').slice(0, 300);
    return { code: 'TokenRejected', message: `the API server did not authenticate the token${why === '' ? '' : `: ${why}`} (it must be the pod's own projected token for audience ${JSON.stringify(audience)}, not expired, its pod still there)` };
  }
  if (status.audiences !== undefined && !status.audiences.includes(audience)) {
    return { code: 'TokenRejected', message: `the token is not valid for audience ${JSON.stringify(audience)}` };
  }
  const username = status.user?.username ?? '';
  const parts = username.startsWith(SA_PREFIX) ? username.slice(SA_PREFIX.length).split(':') : [];
  if (parts.length !== 2 || parts[0] === '' || parts[1] === '') {
    return { code: 'NotAPodToken', message: 'the token is not a service-account token: use the projected token volume the webhook adds to the agent' };
  }
  const extra = status.user?.extra ?? {};
  const name = extra[POD_NAME_EXTRA];
  const uid = extra[POD_UID_EXTRA];
  if (name?.length !== 1 || uid?.length !== 1 || name[0] === '' || uid[0] === '') {
    return {
      code: 'NotAPodToken',
      message: `the token is not bound to a pod (no ${POD_NAME_EXTRA} and ${POD_UID_EXTRA} in the TokenReview): use the projected token the webhook adds to the agent; pod claims in TokenReview need Kubernetes 1.30 or later`,
    };
  }
  return { claims: { namespace: parts[0] as string, serviceAccount: parts[1] as string, podName: name[0] as string, podUid: uid[0] as string } };
}

/** True when a container status shows the container has run (running now, or terminated). */
function hasStarted(status: { state?: { running?: unknown; terminated?: unknown } } | undefined): boolean {
  return status?.state?.running !== undefined || status?.state?.terminated !== undefined;
}

/**
 * Why `pod` (read from the API server) may not receive secrets for a token with `claims`, or undefined: same uid,
 * namespace and service account, not being deleted, no main container started (phase still Pending).
 */
export function podProblem(pod: Pod, claims: PodClaims): Refusal | undefined {
  const meta = pod.metadata ?? {};
  const where = `pod ${claims.namespace}/${claims.podName}`;
  if (meta.uid !== claims.podUid) {
    return { code: 'PodUidMismatch', message: `${where} has uid ${JSON.stringify(meta.uid ?? '')}, not the uid ${JSON.stringify(claims.podUid)} the token is bound to: the pod was replaced` };
  }
  if ((meta.namespace ?? '') !== claims.namespace) {
    return { code: 'PodNamespaceMismatch', message: `${where} is in namespace ${JSON.stringify(meta.namespace ?? '')}, not the token's namespace` };
  }
  const sa = pod.spec?.serviceAccountName ?? pod.spec?.serviceAccount ?? 'default';
  if (sa !== claims.serviceAccount) {
    return { code: 'ServiceAccountMismatch', message: `${where} runs as service account ${JSON.stringify(sa)}, but the token is for ${JSON.stringify(claims.serviceAccount)}` };
  }
  if (meta.deletionTimestamp !== undefined) return { code: 'PodNotFound', message: `${where} is being deleted` };
  const phase = pod.status?.phase ?? 'Pending';
  const started = (pod.status?.containerStatuses ?? []).find((s) => hasStarted(s));
  if (phase !== 'Pending' || started !== undefined) {
    return {
      code: 'PodStarted',
      message: `${where} has started its main containers${started === undefined ? ` (phase ${phase})` : ` (container ${JSON.stringify(started.name)})`}: secrets are served only before they start, to the agent init container`,
    };
  }
  return undefined;
}

/** The agent init container of a pod, if any. */
function agentContainer(pod: Pod): Container | undefined {
  return (pod.spec?.initContainers ?? []).find((c) => c.name === AGENT_CONTAINER_NAME);
}

/** True when the agent's args deliver `source` (`--file SOURCE=PATH`, `--env SOURCE=KEY`, or `--file=SOURCE=PATH`). */
export function agentListsSource(agent: Container | undefined, source: string): boolean {
  const prefix = `${source}=`;
  for (const arg of agent?.args ?? []) {
    if (arg.startsWith(prefix) || arg.startsWith(`--file=${prefix}`) || arg.startsWith(`--env=${prefix}`)) return true;
  }
  return false;
}

/**
 * The secret requests behind `sources` in `pod`, or the refusal: each must be a `flyte.secrets/s<i>` annotation of
 * the pod that decodes, and the pod's agent container must list it.
 */
export function requestedSecrets(pod: Pod, sources: readonly string[]): { secrets: { source: string; secret: Secret }[] } | Refusal {
  const annotations = pod.metadata?.annotations ?? {};
  const agent = agentContainer(pod);
  const out: { source: string; secret: Secret }[] = [];
  for (const source of sources) {
    const index = parseEmbeddedSource(source) as number;
    const key = `${SECRET_ANNOTATION_PREFIX}${index}`;
    const raw = annotations[key];
    if (raw === undefined || !agentListsSource(agent, source)) {
      return { code: 'SecretNotRequested', message: `the pod did not ask for ${source}: it has no annotation ${key} delivered by its ${AGENT_CONTAINER_NAME} init container` };
    }
    try {
      out.push({ source, secret: decodeSecretAnnotation(key, raw) });
    } catch (err) {
      return { code: 'SecretNotRequested', message: `annotation ${key} of the pod does not decode: ${errorMessage(err)}` };
    }
  }
  return { secrets: out };
}

/** Counts requests per pod uid, for at most `maxPods` pods (the oldest forgotten first). */
export interface PodRequestLimiter {
  /** Count one request of `podUid`; false when it is over the limit. */
  take(podUid: string): boolean;
  readonly size: number;
}

/** Create a {@link PodRequestLimiter}: at most `max` requests per pod, counts kept for `maxPods` pods. */
export function createPodRequestLimiter(max: number, maxPods: number): PodRequestLimiter {
  const counts = new Map<string, number>();
  return {
    take(podUid: string): boolean {
      const n = (counts.get(podUid) ?? 0) + 1;
      counts.delete(podUid);
      counts.set(podUid, n); // most recent last
      if (counts.size > maxPods) {
        const oldest = counts.keys().next().value;
        if (oldest !== undefined) counts.delete(oldest);
      }
      return n <= max;
    },
    get size() {
      return counts.size;
    },
  };
}

/** A broker request as the server received it. */
export interface BrokerHttpRequest {
  method: string;
  authorization: string | undefined;
  contentType: string | undefined;
  body: Buffer;
}

/** The broker's answer. */
export interface BrokerAnswer {
  status: number;
  body: { secrets: BrokerSecret[] } | BrokerErrorBody;
  headers: Record<string, string>;
  /** `served` or the refusal code. */
  outcome: string;
}

/** Options of {@link createBroker}. */
export interface BrokerOptions {
  config: Config;
  kube: BrokerKube;
  embedded: EmbeddedInjector;
  logger?: Logger;
  /** Registry for the broker metrics (the webhook's). */
  registry?: Registry;
}

/** A broker: the request handler and its path. */
export interface Broker {
  readonly path: string;
  handle(request: BrokerHttpRequest): Promise<BrokerAnswer>;
}

const NO_STORE = { 'cache-control': 'no-store' };

function refusal(r: Refusal): BrokerAnswer {
  const headers: Record<string, string> = { ...NO_STORE };
  if (r.code === 'TooManyRequests' || r.code === 'KubernetesUnavailable' || r.code === 'SecretReadFailure' || r.code === 'InternalError') headers['retry-after'] = '1';
  if (r.code === 'MethodNotAllowed') headers['allow'] = 'POST';
  return { status: BROKER_REFUSAL_STATUS[r.code], body: { error: { code: r.code, message: r.message } }, headers, outcome: r.code };
}

/** The broker code of an Embedded resolution failure. */
function resolveCode(code: string): BrokerRefusalCode {
  if (code === 'SecretNotFoundAcrossAllScopes' || code === 'SecretNotFound') return 'SecretNotFound';
  if (code === 'SecretReadFailure') return 'SecretReadFailure';
  return 'SecretRefused';
}

/**
 * Create the broker.
 *
 * @example
 * ```ts
 * const broker = createBroker({ config, kube: await createKubeBrokerApi(kc), embedded });
 * await startWebhookServer({ config, mutator, broker });
 * ```
 */
export function createBroker(options: BrokerOptions): Broker {
  const { config, kube, embedded } = options;
  const settings = config.flyteSecrets.broker;
  // The Kubernetes client's timeout (Flyte's webhook.kubeClientConfig.timeout, 30 s), not the secret store's.
  const callTimeout = config.webhook.kubeClientConfig.timeout > 0 ? config.webhook.kubeClientConfig.timeout : 30_000;
  const logger = options.logger ?? silentLogger();
  const limiter = createPodRequestLimiter(settings.maxRequestsPerPod, settings.trackedPods);
  const registers = options.registry === undefined ? [] : [options.registry];
  const requests = new Counter({
    name: 'flyte_secrets_broker_requests_total',
    help: 'Broker requests answered, by outcome (served, or the refusal code).',
    labelNames: ['outcome'] as const,
    registers,
  });
  const duration = new Histogram({
    name: 'flyte_secrets_broker_duration_seconds',
    help: 'Time to answer a broker request once its body has arrived (TokenReview, pod read and secret lookups included).',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const served = new Counter({ name: 'flyte_secrets_broker_secrets_served_total', help: 'Secrets served by the broker.', registers });

  async function decide(req: BrokerHttpRequest, log: Record<string, unknown>): Promise<BrokerAnswer> {
    if (req.method !== 'POST') return refusal({ code: 'MethodNotAllowed', message: `method ${req.method} not allowed on ${settings.path}: use POST` });
    const bearer = bearerToken(req.authorization);
    if ('code' in bearer) return refusal(bearer);
    const ct = (req.contentType ?? '').split(';')[0]?.trim().toLowerCase();
    if (ct !== 'application/json') return refusal({ code: 'UnsupportedMediaType', message: 'send the request as application/json' });
    const parsed = parseBrokerRequest(req.body);
    if ('problem' in parsed) return refusal({ code: 'BadRequest', message: parsed.problem });
    log['secrets'] = parsed.sources.length;

    let status: TokenReviewStatus;
    try {
      status = await kube.reviewToken(bearer.token, [settings.audience], AbortSignal.timeout(callTimeout));
    } catch (err) {
      logger.warn({ event: 'broker_kube_error', call: 'tokenreview', ...errorShape(err), ...(isFlyteSecretsError(err) ? { message: err.message } : {}) }, 'TokenReview failed');
      return refusal({ code: 'KubernetesUnavailable', message: 'the TokenReview failed (the API server did not answer, or denied create tokenreviews to the webhook); retry' });
    }
    const claimed = podClaims(status, settings.audience);
    if ('code' in claimed) return refusal(claimed);
    const { claims } = claimed;
    log['namespace'] = claims.namespace;
    log['pod'] = claims.podName;
    log['podUid'] = claims.podUid;
    if (!limiter.take(claims.podUid)) {
      return refusal({ code: 'TooManyRequests', message: `pod ${claims.namespace}/${claims.podName} made more than ${settings.maxRequestsPerPod} broker requests to this replica (flyteSecrets.broker.maxRequestsPerPod)` });
    }
    let pod: Pod | undefined;
    try {
      pod = await kube.readPod(claims.namespace, claims.podName, AbortSignal.timeout(callTimeout));
    } catch (err) {
      logger.warn({ event: 'broker_kube_error', call: 'get pod', ...errorShape(err), ...(isFlyteSecretsError(err) ? { message: err.message } : {}) }, 'pod read failed');
      return refusal({ code: 'KubernetesUnavailable', message: `reading pod ${claims.namespace}/${claims.podName} failed (the API server did not answer, or denied get pods to the webhook); retry` });
    }
    if (pod === undefined) return refusal({ code: 'PodNotFound', message: `pod ${claims.namespace}/${claims.podName} is gone` });
    const problem = podProblem(pod, claims);
    if (problem !== undefined) return refusal(problem);
    const wanted = requestedSecrets(pod, parsed.sources);
    if ('code' in wanted) return refusal(wanted);

    const deadline = Date.now() + config.flyteSecrets.fetch.admissionBudget;
    const results = await Promise.all(wanted.secrets.map(({ secret }) => embedded.resolve(secret, pod, claims.namespace, { deadline })));
    const out: BrokerSecret[] = [];
    for (let i = 0; i < results.length; i++) {
      const r = results[i]!;
      const source = wanted.secrets[i]!.source;
      if (!('value' in r)) {
        const key = wanted.secrets[i]!.secret.key;
        return refusal({ code: resolveCode(r.code), message: `${source} (key ${JSON.stringify(key)}): ${r.reason}` });
      }
      out.push({ source, kind: r.value.kind, value: Buffer.from(r.value.bytes()).toString('base64') });
    }
    served.inc(out.length);
    return { status: 200, body: { secrets: out }, headers: { ...NO_STORE }, outcome: 'served' };
  }

  return {
    path: settings.path,
    async handle(req: BrokerHttpRequest): Promise<BrokerAnswer> {
      const started = performance.now();
      const log: Record<string, unknown> = { event: 'broker' };
      let answer: BrokerAnswer;
      try {
        answer = await decide(req, log);
      } catch (err) {
        logger.error({ event: 'broker_error', ...errorShape(err) }, 'unexpected error while serving a broker request');
        answer = refusal({ code: 'InternalError', message: 'internal error while serving secrets; see the webhook logs; retry' });
      }
      const seconds = (performance.now() - started) / 1000;
      requests.inc({ outcome: answer.outcome });
      duration.observe(seconds);
      log['outcome'] = answer.outcome;
      log['status'] = answer.status;
      log['durationMs'] = Math.round(seconds * 1e6) / 1000;
      if ('error' in answer.body) {
        log['message'] = answer.body.error.message;
        logger.warn(log, 'broker refused');
      } else {
        logger.info(log, 'broker served');
      }
      return answer;
    },
  };
}
