/**
 * Connecting to the Kubernetes API: a {@link KubeConfig} from an explicit file, `KUBECONFIG`, the in-cluster service
 * account, or `~/.kube/config` (in that order), plus helpers that turn the client's `ApiException` into our errors.
 *
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { isIPv6 } from 'node:net';
import type { KubeConfig } from '@kubernetes/client-node';
import { FlyteSecretsError, errorMessage } from '../errors.js';

/** Where the kubelet mounts a pod's service-account token, CA and namespace. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** Namespace used when neither `POD_NAMESPACE` nor `--namespace` gives one (Flyte's `init-certs` fallback). */
export const DEFAULT_NAMESPACE = 'flyte';

/** Where to find the cluster. Every field is optional. */
export interface KubeConfigSource {
  /** An explicit kubeconfig file (`--kubeconfig`); wins over everything else. */
  kubeconfig?: string | undefined;
  /** Environment to read `KUBECONFIG`, `KUBERNETES_SERVICE_HOST`/`_PORT` and `HOME` from. Default: `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Directory holding the service-account `token` and `ca.crt`. Default: {@link SERVICE_ACCOUNT_DIR}. */
  serviceAccountDir?: string;
}

/**
 * Build a {@link KubeConfig}: `source.kubeconfig`, else the files in `KUBECONFIG` (merged, first wins), else the
 * in-cluster service account when `KUBERNETES_SERVICE_HOST` is set and its token exists, else `~/.kube/config`.
 * Unlike `loadFromDefault`, it never falls back to `http://localhost:8080`: finding nothing is a clear error.
 * The in-cluster token is re-read from its file as the kubelet rotates it. Async only because the client library
 * is loaded on first use (it is heavy, and commands that need no cluster should not pay for it).
 *
 * @example
 * ```ts
 * const kc = await loadKubeConfig({ kubeconfig: opts.kubeconfig });
 * const core = kc.makeApiClient(CoreV1Api);
 * ```
 */
export async function loadKubeConfig(source: KubeConfigSource = {}): Promise<KubeConfig> {
  const env = source.env ?? process.env;
  const { KubeConfig: KubeConfigClass } = await import('@kubernetes/client-node');
  const kc = new KubeConfigClass();
  if (source.kubeconfig !== undefined && source.kubeconfig !== '') {
    loadFile(kc, source.kubeconfig, '--kubeconfig');
    return checked(kc, source.kubeconfig);
  }
  const fromEnv = (env.KUBECONFIG ?? '').split(delimiter).filter((f) => f !== '');
  if (fromEnv.length > 0) {
    loadFile(kc, fromEnv[0] as string, 'KUBECONFIG');
    for (const file of fromEnv.slice(1)) {
      const more = new KubeConfigClass();
      loadFile(more, file, 'KUBECONFIG');
      kc.mergeConfig(more, true);
    }
    return checked(kc, `KUBECONFIG=${env.KUBECONFIG ?? ''}`);
  }
  const saDir = source.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  const host = env.KUBERNETES_SERVICE_HOST;
  if (host !== undefined && host !== '' && existsSync(join(saDir, 'token'))) {
    const port = env.KUBERNETES_SERVICE_PORT ?? '443';
    const server = `https://${isIPv6(host) ? `[${host}]` : host}:${port}`;
    const nsFile = join(saDir, 'namespace');
    const namespace = existsSync(nsFile) ? readFileSync(nsFile, 'utf8').trim() : undefined;
    kc.loadFromOptions({
      clusters: [{ name: 'in-cluster', server, caFile: join(saDir, 'ca.crt'), skipTLSVerify: false }],
      users: [{ name: 'in-cluster', authProvider: { name: 'tokenFile', config: { tokenFile: join(saDir, 'token') } } }],
      contexts: [{ name: 'in-cluster', cluster: 'in-cluster', user: 'in-cluster', ...(namespace ? { namespace } : {}) }],
      currentContext: 'in-cluster',
    });
    return kc;
  }
  const home = env.HOME ?? homedir();
  const fallback = join(home, '.kube', 'config');
  if (home !== '' && existsSync(fallback)) {
    loadFile(kc, fallback, '~/.kube/config');
    return checked(kc, fallback);
  }
  throw new FlyteSecretsError(
    'KubernetesApi',
    'no Kubernetes API configuration found: pass --kubeconfig FILE, set KUBECONFIG, or run in a pod with a service account',
  );
}

function loadFile(kc: KubeConfig, file: string, origin: string): void {
  if (!existsSync(file)) {
    throw new FlyteSecretsError('KubernetesApi', `cannot read kubeconfig ${file} (from ${origin}): no such file`);
  }
  try {
    kc.loadFromFile(file);
  } catch (err) {
    throw new FlyteSecretsError('KubernetesApi', `cannot load kubeconfig ${file} (from ${origin}): ${firstLine(errorMessage(err))}`, { cause: err });
  }
}

function checked(kc: KubeConfig, origin: string): KubeConfig {
  if (kc.getCurrentCluster() === null) {
    throw new FlyteSecretsError('KubernetesApi', `kubeconfig ${origin} has no current context with a cluster: set current-context`);
  }
  return kc;
}

/**
 * The namespace the webhook lives in: `POD_NAMESPACE`, else `flag` (`--namespace`), else «flyte» — the order of
 * Flyte's `init-certs`.
 */
export function webhookNamespace(env: NodeJS.ProcessEnv = process.env, flag?: string): string {
  const fromEnv = env.POD_NAMESPACE;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  if (flag !== undefined && flag !== '') return flag;
  return DEFAULT_NAMESPACE;
}

/** What the API server said about a failed call (a `Status` object), or the bare HTTP code. */
export interface KubeStatus {
  /** HTTP status code (404, 409, …). */
  code: number;
  /** `Status.reason`: `NotFound`, `AlreadyExists`, `Conflict`, `Forbidden`, `Invalid`, … ('' when absent). */
  reason: string;
  /** `Status.message` ('' when absent). */
  message: string;
}

/**
 * The Kubernetes `Status` carried by a client error, or `undefined` when `err` is not an HTTP error (for example a
 * refused connection).
 */
export function kubeStatusOf(err: unknown): KubeStatus | undefined {
  // The client's ApiException: an Error with a numeric HTTP `code`, a `body` and `headers` (checked by shape, so
  // this module does not load the client library; system errors have string codes such as 'ECONNREFUSED').
  if (!(err instanceof Error) || typeof (err as { code?: unknown }).code !== 'number' || !('body' in err) || !('headers' in err)) return undefined;
  const e = err as unknown as { code: number; body: unknown };
  let body: unknown = e.body;
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body) as unknown;
    } catch {
      body = undefined;
    }
  }
  const obj = body !== null && typeof body === 'object' ? (body as Record<string, unknown>) : {};
  return {
    code: e.code,
    reason: typeof obj.reason === 'string' ? obj.reason : '',
    message: typeof obj.message === 'string' ? obj.message : '',
  };
}

/** True when `err` is an API error with this HTTP code (and, if given, this `Status.reason`). */
export function isKubeStatus(err: unknown, code: number, reason?: string): boolean {
  const s = kubeStatusOf(err);
  return s !== undefined && s.code === code && (reason === undefined || s.reason === reason);
}

/**
 * Wrap a client error as a {@link FlyteSecretsError} (code `KubernetesApi`) whose message says what we were doing and
 * what the API server answered, without the request body (which may hold keys) or a stack.
 *
 * @example
 * ```ts
 * try { await core.readNamespacedSecret({ name, namespace }) } catch (e) { throw kubeApiError(e, `read Secret ${namespace}/${name}`) }
 * ```
 */
export function kubeApiError(err: unknown, action: string): FlyteSecretsError {
  if (err instanceof FlyteSecretsError) return err;
  const status = kubeStatusOf(err);
  if (status !== undefined) {
    const what = [status.code, status.reason].filter((x) => x !== '').join(' ');
    const hint = status.code === 401 ? ' (check the credentials in the kubeconfig)' : status.code === 403 ? ' (check the RBAC rules of the service account)' : '';
    return new FlyteSecretsError('KubernetesApi', `failed to ${action}: ${what}${status.message !== '' ? `: ${status.message}` : ''}${hint}`, { cause: err });
  }
  return new FlyteSecretsError('KubernetesApi', `failed to ${action}: ${firstLine(networkErrorMessage(err))}`, { cause: err });
}

/** undici's fetch rejects with a bare «fetch failed» and keeps what happened (ECONNREFUSED, a TLS error) in its cause. */
function networkErrorMessage(err: unknown): string {
  const message = errorMessage(err);
  const cause = err instanceof Error ? err.cause : undefined;
  if (message === 'fetch failed' && cause instanceof Error) return `${message}: ${networkErrorMessage(cause)}`;
  return message;
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? text;
}
