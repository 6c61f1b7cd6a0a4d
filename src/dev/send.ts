/**
 * Send a Pod through a running webhook the way the API server does (an AdmissionReview v1 for a pod CREATE over
 * HTTPS), apply the JSON patch it answers with, and describe what was injected in a few readable lines. Used by
 * `flyte-secrets dev send`; works against any flyte-secrets (or Flyte) webhook the caller can reach.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import { request } from 'node:https';
import type { Container, EnvVar, Pod, Volume } from 'kubernetes-types/core/v1.js';
import { FlyteSecretsError, errorMessage } from '../errors.js';
import { applyPatch, type JsonPatchOp } from '../inject/patch.js';
import { ENV_SECRETS_DEFAULT_DIR, ENV_SECRETS_ENV_PREFIX, ENV_SECRETS_FILE_PREFIX, SECRETS_MOUNT_ROOT } from '../secret/paths.js';
import { describeTlsProblem } from '../tls-problem.js';

/** The webhook's admission path, appended to a URL that has no path. */
export const MUTATE_POD_PATH = '/mutate--v1-pod';

/** Options of {@link sendPodForAdmission}. */
export interface SendPodOptions {
  /** The webhook: `https://host:port` (the admission path is added) or the full admission URL. */
  url: string;
  /** CA certificate(s) (PEM) to trust for the webhook, e.g. `flyte-secrets dev`'s `ca.crt`. Default: system CAs. */
  ca?: string;
  /** Namespace of the admission. Default: the pod's `metadata.namespace`, else `default`. */
  namespace?: string;
  /** Give up after this long. Default 15 s. */
  timeoutMs?: number;
}

/** The webhook's answer, with the patch applied. */
export interface SendPodResult {
  /** The pod sent. */
  before: Pod;
  /** The pod with the patch applied (the pod sent when nothing changed or the pod was denied). */
  after: Pod;
  allowed: boolean;
  /** The denial message, when denied. */
  message?: string;
  warnings: string[];
  patch: JsonPatchOp[];
  namespace: string;
}

/** The admission URL for `url`: the path {@link MUTATE_POD_PATH} is added when `url` has none. */
export function admissionUrl(url: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch (err) {
    throw new FlyteSecretsError('InvalidInput', `--url ${JSON.stringify(url)} is not a URL; write it like https://127.0.0.1:9443`, { cause: err });
  }
  if (u.protocol !== 'https:') throw new FlyteSecretsError('InvalidInput', `--url ${JSON.stringify(url)} must use https (admission webhooks are HTTPS only)`);
  if (u.pathname === '' || u.pathname === '/') u.pathname = MUTATE_POD_PATH;
  return u;
}

function connectionProblem(err: unknown, url: URL, caGiven: boolean): string {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  if (code === 'ECONNREFUSED') return `nothing listens at ${url.origin} (is \`flyte-secrets dev\` running, on that port?)`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `cannot resolve ${url.hostname}`;
  if (code === 'ETIMEDOUT' || code === 'ESOCKETTIMEDOUT') return `${url.origin} did not answer in time`;
  const tls = describeTlsProblem(err, { host: url.hostname.replace(/^\[|\]$/g, ''), server: 'the webhook', caOption: '--ca (flyte-secrets dev prints it)', caGiven });
  if (tls !== undefined) return tls;
  return `${code !== '' ? `${code}: ` : ''}${errorMessage(err)}`;
}

function post(url: URL, body: string, options: SendPodOptions): Promise<{ status: number; text: string }> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        ...(options.ca !== undefined ? { ca: options.ca } : {}),
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', (err) => reject(new FlyteSecretsError('InvalidInput', `cannot send the pod to ${url.href}: ${connectionProblem(err, url, options.ca !== undefined)}`, { cause: err })));
    req.end(body);
  });
}

interface ReviewResponse {
  allowed?: boolean;
  patch?: string;
  patchType?: string;
  warnings?: string[];
  status?: { message?: string };
}

/**
 * POST `pod` to the webhook as an AdmissionReview v1 for a CREATE (not a dry run, as the API server sends it), and
 * apply the answered patch. Throws `FlyteSecretsError` `InvalidInput` when the webhook cannot be reached, its
 * certificate is not trusted, or its answer is not an AdmissionReview; a denial is a result, not an error.
 *
 * @example
 * ```ts
 * const r = await sendPodForAdmission(pod, { url: 'https://127.0.0.1:9443', ca: readFileSync('ca.crt', 'utf8') });
 * console.log(describeAdmission(r).join('\n'));
 * ```
 */
export async function sendPodForAdmission(pod: Pod, options: SendPodOptions): Promise<SendPodResult> {
  const url = admissionUrl(options.url);
  const namespace = options.namespace ?? (pod.metadata?.namespace !== undefined && pod.metadata.namespace !== '' ? pod.metadata.namespace : 'default');
  const uid = randomUUID();
  const review = {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      requestResource: { group: '', version: 'v1', resource: 'pods' },
      ...(pod.metadata?.name !== undefined ? { name: pod.metadata.name } : {}),
      namespace,
      operation: 'CREATE',
      userInfo: { username: 'flyte-secrets-dev-send' },
      object: { ...pod, metadata: { ...pod.metadata, namespace } },
      dryRun: false,
    },
  };
  const { status, text } = await post(url, JSON.stringify(review), options);
  let answer: { response?: ReviewResponse; message?: string };
  try {
    answer = JSON.parse(text) as typeof answer;
  } catch (err) {
    throw new FlyteSecretsError('InvalidInput', `${url.href} answered HTTP ${status} with something that is not JSON; is this an admission webhook?`, { cause: err });
  }
  const response = answer.response;
  if (status !== 200 || response === undefined || typeof response.allowed !== 'boolean') {
    const why = typeof answer.message === 'string' ? `: ${answer.message}` : '';
    throw new FlyteSecretsError('InvalidInput', `${url.href} answered HTTP ${status} without an AdmissionReview response${why}`);
  }
  const warnings = Array.isArray(response.warnings) ? response.warnings.filter((w): w is string => typeof w === 'string') : [];
  if (!response.allowed) {
    return { before: pod, after: pod, allowed: false, message: response.status?.message ?? 'no reason given', warnings, patch: [], namespace };
  }
  let patch: JsonPatchOp[] = [];
  if (response.patch !== undefined && response.patch !== '') {
    try {
      patch = JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) as JsonPatchOp[];
    } catch (err) {
      throw new FlyteSecretsError('InvalidInput', `${url.href} answered a patch that is not base64 JSON`, { cause: err });
    }
  }
  const after = patch.length > 0 ? applyPatch(pod, patch) : pod;
  return { before: pod, after, allowed: true, warnings, patch, namespace };
}

/** Options of {@link describeAdmission}. */
export interface DescribeOptions {
  /** Print secret values (env values, file contents). Default false: only their size is shown. */
  showValues?: boolean;
}

/** Env vars whose values are never secret: shown even without `showValues`. */
const PLAIN_ENV = new Set([ENV_SECRETS_DEFAULT_DIR, ENV_SECRETS_FILE_PREFIX, ENV_SECRETS_ENV_PREFIX, 'FLYTE_SECRET_ID', 'FLYTE_SECRET_PATH']);

function shown(name: string, value: string, showValues: boolean): string {
  if (value === '') return '""';
  if (showValues || PLAIN_ENV.has(name)) return bytesShown(Buffer.from(value, 'utf8'), true);
  return `<${Buffer.byteLength(value, 'utf8')} bytes, hidden; --show-values prints it>`;
}

function bytesShown(bytes: Buffer, showValues: boolean): string {
  if (!showValues) return `<${bytes.length} bytes, hidden; --show-values prints it>`;
  const text = bytes.toString('utf8');
  if (!Buffer.from(text, 'utf8').equals(bytes)) return `base64:${bytes.toString('base64')}`;
  // One line per value: text with control characters (newlines included) is shown JSON-quoted.
  return [...text].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f) ? JSON.stringify(text) : text;
}

function envLine(e: EnvVar, showValues: boolean): string {
  if (e.value !== undefined) return `env ${e.name}=${shown(e.name, e.value, showValues)}`;
  const ref = e.valueFrom?.secretKeyRef;
  if (ref !== undefined) return `env ${e.name} from Secret ${ref.name ?? ''} key ${ref.key}`;
  return `env ${e.name} (valueFrom)`;
}

function addedEnv(before: Container | undefined, after: Container): EnvVar[] {
  const old = new Map((before?.env ?? []).map((e) => [e.name, JSON.stringify(e)]));
  return (after.env ?? []).filter((e) => old.get(e.name) !== JSON.stringify(e));
}

function addedMounts(before: Container | undefined, after: Container): string[] {
  const old = new Set((before?.volumeMounts ?? []).map((m) => `${m.name}@${m.mountPath}`));
  return (after.volumeMounts ?? [])
    .filter((m) => !old.has(`${m.name}@${m.mountPath}`))
    .map((m) => `mounts volume ${m.name} at ${m.mountPath}${m.subPath ? ` (subPath ${m.subPath})` : ''}${m.readOnly === true ? ', read-only' : ''}`);
}

/** What an init container added by an injector does, read from its env: Embedded's SECRETS, Azure's FLYTE_SECRET_*. */
function initContainerLines(c: Container, showValues: boolean): string[] {
  const lines: string[] = [];
  const env = c.env ?? [];
  const rest: EnvVar[] = [];
  for (const e of env) {
    if (e.name === 'SECRETS' && e.value !== undefined) {
      for (const line of e.value.split('\n')) {
        const eq = line.indexOf('=');
        if (eq <= 0) continue;
        const bytes = Buffer.from(line.slice(eq + 1), 'base64');
        lines.push(`writes ${SECRETS_MOUNT_ROOT}/${line.slice(0, eq)}: ${bytesShown(bytes, showValues)}`);
      }
    } else if (e.name === 'FLYTE_SECRET_ID' && e.value !== undefined) {
      lines.push(`fetches ${e.value}`);
    } else if (e.name === 'FLYTE_SECRET_PATH' && e.value !== undefined) {
      lines.push(`writes ${e.value}`);
    } else {
      rest.push(e);
    }
  }
  for (const e of rest) lines.push(envLine(e, showValues));
  return lines;
}

function volumeLine(v: Volume): string {
  if (v.emptyDir !== undefined) return `volume ${v.name}: emptyDir${v.emptyDir.medium ? ` (${v.emptyDir.medium})` : ''}`;
  if (v.secret !== undefined) return `volume ${v.name}: Secret ${v.secret.secretName ?? ''}`;
  const kind = Object.keys(v).find((k) => k !== 'name') ?? 'unknown';
  return `volume ${v.name}: ${kind}`;
}

/**
 * Describe an admission result in readable lines: the outcome, warnings, the init containers added (and what they
 * write), the env vars and mounts added to each container, the volumes and image-pull secrets added. Secret values
 * are replaced by their size unless `showValues`.
 *
 * @example
 * ```ts
 * describeAdmission(result, { showValues: true })
 * // ['pod flytesnacks-development/example-embedded: mutated (7 patch operations)', '  container main:', '    env API_TOKEN=…', …]
 * ```
 */
export function describeAdmission(result: SendPodResult, options: DescribeOptions = {}): string[] {
  const showValues = options.showValues ?? false;
  const name = result.before.metadata?.name ?? result.before.metadata?.generateName ?? '(unnamed)';
  const head = `pod ${result.namespace}/${name}`;
  const lines: string[] = [];
  if (!result.allowed) {
    lines.push(`${head}: DENIED`, `  ${result.message ?? ''}`);
    for (const w of result.warnings) lines.push(`  warning: ${w}`);
    return lines;
  }
  lines.push(result.patch.length === 0 ? `${head}: admitted unchanged (no secrets requested, or already injected)` : `${head}: mutated (${result.patch.length} patch operations)`);
  for (const w of result.warnings) lines.push(`  warning: ${w}`);
  const beforeInit = new Map((result.before.spec?.initContainers ?? []).map((c) => [c.name, c]));
  const beforeMain = new Map((result.before.spec?.containers ?? []).map((c) => [c.name, c]));
  for (const c of result.after.spec?.initContainers ?? []) {
    const old = beforeInit.get(c.name);
    if (old === undefined) {
      lines.push(`  init container ${c.name} (image ${c.image ?? '?'}), added:`);
      for (const l of [...initContainerLines(c, showValues), ...addedMounts(undefined, c)]) lines.push(`    ${l}`);
      continue;
    }
    const changes = [...addedEnv(old, c).map((e) => envLine(e, showValues)), ...addedMounts(old, c)];
    if (changes.length > 0) lines.push(`  init container ${c.name}:`, ...changes.map((l) => `    ${l}`));
  }
  for (const c of result.after.spec?.containers ?? []) {
    const old = beforeMain.get(c.name);
    const changes = [...addedEnv(old, c).map((e) => envLine(e, showValues)), ...addedMounts(old, c)];
    if (changes.length > 0) lines.push(`  container ${c.name}${old === undefined ? ' (added)' : ''}:`, ...changes.map((l) => `    ${l}`));
  }
  const oldVolumes = new Set((result.before.spec?.volumes ?? []).map((v) => v.name));
  for (const v of result.after.spec?.volumes ?? []) if (!oldVolumes.has(v.name)) lines.push(`  ${volumeLine(v)}`);
  const oldPull = new Set((result.before.spec?.imagePullSecrets ?? []).map((s) => s.name));
  for (const s of result.after.spec?.imagePullSecrets ?? []) if (!oldPull.has(s.name)) lines.push(`  image pull secret ${s.name ?? ''}`);
  return lines;
}
