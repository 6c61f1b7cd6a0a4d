/**
 * Kubernetes access of the Embedded manager, through `@kubernetes/client-node`:
 *
 * - the **K8s fetcher** (Flyte: `secret/utils.go`): Flyte-native secrets live in Secret `md5hex(<Flyte id>)` in
 *   `embeddedSecretManagerConfig.k8sConfig.namespace`, data key `<Flyte id>`; a direct API GET (no informer);
 *   the value is always returned as bytes. Needs `get` on secrets in that namespace.
 * - the **image-pull secret store** (Flyte: `secret/imagepull_kubernetes_utils.go`): read the reference Secret in the webhook's namespace, check for and
 *   create its mirror in the pod's namespace. Needs `get` on secrets in both, `create` in pod namespaces.
 *
 * @module
 */
import { CoreV1Api, KubeConfig, Observable, type RequestContext, type ResponseContext, type V1Secret } from '@kubernetes/client-node';
import { FlyteSecretsError, errorMessage } from '../errors.js';
import { encodeSecretName, md5Hex, type FlyteSecretId } from '../secret/flyte-id.js';
import { SecretValue } from '../secret/value.js';
import { SecretNil, SecretNotFound, SecretReadFailure, isNetworkError, parseRetryAfter, raceAbort, type SecretFetcher } from './fetcher.js';

/** The Secret calls we make (a subset of `CoreV1Api`, so tests can pass a stand-in). */
export interface KubeSecretsApi {
  readNamespacedSecret(param: { name: string; namespace: string }, options?: object): Promise<V1Secret>;
  createNamespacedSecret(param: { namespace: string; body: V1Secret }, options?: object): Promise<V1Secret>;
}

/**
 * A Secrets API client from a kubeconfig: in-cluster when running in a pod, else `$KUBECONFIG` / `~/.kube/config`
 * (or the given file).
 *
 * @example
 * ```ts
 * const api = createKubeSecretsApi({ kubeconfigPath: '/tmp/kubeconfig' });
 * ```
 */
export function createKubeSecretsApi(options: { kubeconfigPath?: string; kubeConfig?: KubeConfig } = {}): KubeSecretsApi {
  let kc = options.kubeConfig;
  if (kc === undefined) {
    kc = new KubeConfig();
    if (options.kubeconfigPath !== undefined) kc.loadFromFile(options.kubeconfigPath);
    else kc.loadFromDefault();
  }
  return kc.makeApiClient(CoreV1Api);
}

/** Per-request options that make the client honour an AbortSignal (client-node's object API takes observable middleware). */
function withSignal(signal: AbortSignal | undefined): object | undefined {
  if (signal === undefined) return undefined;
  return {
    middleware: [
      {
        pre: (ctx: RequestContext) => {
          ctx.setSignal(signal);
          return new Observable(Promise.resolve(ctx));
        },
        post: (res: ResponseContext) => new Observable(Promise.resolve(res)),
      },
    ],
    middlewareMergeStrategy: 'append',
  };
}

/** HTTP status of a client-node error, when it has one. */
export function kubeErrorStatus(err: unknown): number | undefined {
  if (err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError')) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' && code >= 100 ? code : undefined;
}

/** The API server's own message (`secrets "x" not found`), not client-node's multi-line dump with headers. */
export function kubeErrorMessage(err: unknown): string {
  const body = (err as { body?: unknown }).body;
  let parsed: unknown = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      parsed = undefined;
    }
  }
  const message = (parsed as { message?: unknown } | undefined)?.message;
  if (typeof message === 'string' && message !== '') return message;
  const status = kubeErrorStatus(err);
  if (status !== undefined) return `the Kubernetes API answered HTTP ${status}`;
  return errorMessage(err).split('\n')[0] ?? 'Kubernetes API error';
}

/** Options of {@link createK8sFetcher}. */
export interface K8sFetcherOptions {
  /** Namespace holding Flyte-native secrets (config `k8sConfig.namespace`, default `flyte`). */
  namespace: string;
  api: KubeSecretsApi;
  /** Budget key (default `kubernetes`). */
  budgetKey?: string;
}

/**
 * Create the K8s fetcher.
 *
 * @example
 * ```ts
 * const fetcher = createK8sFetcher({ namespace: 'flyte', api: createKubeSecretsApi() });
 * ```
 */
export function createK8sFetcher(options: K8sFetcherOptions): SecretFetcher {
  return {
    kind: 'k8s',
    budgetKey: options.budgetKey ?? 'kubernetes',
    nameOf: (id) => `Kubernetes Secret ${options.namespace}/${md5Hex(encodeSecretName(id))}`,
    async fetch(id: FlyteSecretId, signal?: AbortSignal): Promise<SecretValue> {
      const secretId = encodeSecretName(id);
      let secret: V1Secret;
      try {
        secret = await raceAbort(options.api.readNamespacedSecret({ name: md5Hex(secretId), namespace: options.namespace }, withSignal(signal)), signal);
      } catch (err) {
        const status = kubeErrorStatus(err);
        const cause = new Error(kubeErrorMessage(err));
        const details = status === undefined ? {} : { status };
        if (status === 404) throw new SecretNotFound(secretId, cause, details);
        if (status === 429) {
          const headers = (err as { headers?: Record<string, string> }).headers;
          const retryAfterMs = parseRetryAfter(headers?.['retry-after']);
          throw new SecretReadFailure(secretId, cause, { ...details, retryable: true, throttled: true, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) });
        }
        const retryable = (status !== undefined && status >= 500) || isNetworkError(err);
        throw new SecretReadFailure(secretId, cause, { ...details, retryable });
      }
      const data = secret.data?.[secretId];
      if (data === undefined || data === null) throw new SecretNil(secretId, new Error('secret data is nil'));
      return SecretValue.fromBytes(Buffer.from(data, 'base64'));
    },
  };
}

/**
 * Mirrors image-pull secrets into pod namespaces (Flyte: `secret/imagepull_kubernetes_utils.go`). One instance per webhook.
 */
export interface ImagePullSecretStore {
  /**
   * Make Secret `name` (a reference in the webhook's namespace) available in `namespace`: returns false when the
   * reference does not exist (the secret is not an image-pull secret), true when the mirror exists or was created.
   * In `dryRun` nothing is created. Errors carry Flyte's texts.
   */
  mirror(name: string, namespace: string, options: { dryRun: boolean; signal?: AbortSignal }): Promise<boolean>;
}

/** Options of {@link createImagePullSecretStore}. */
export interface ImagePullSecretStoreOptions {
  api: KubeSecretsApi;
  /** The webhook's namespace (env `POD_NAMESPACE`), where reference image-pull secrets live. */
  referenceNamespace: string;
}

/**
 * Create the image-pull mirror over the Kubernetes API. An existing mirror is never updated (as in Flyte).
 *
 * @example
 * ```ts
 * const store = createImagePullSecretStore({ api, referenceNamespace: process.env.POD_NAMESPACE ?? 'flyte' });
 * ```
 */
export function createImagePullSecretStore(options: ImagePullSecretStoreOptions): ImagePullSecretStore {
  const { api, referenceNamespace } = options;
  return {
    async mirror(name, namespace, { dryRun, signal }) {
      let reference: V1Secret;
      try {
        reference = await raceAbort(api.readNamespacedSecret({ name, namespace: referenceNamespace }, withSignal(signal)), signal);
      } catch (err) {
        if (kubeErrorStatus(err) === 404) return false;
        throw new FlyteSecretsError('SecretReadFailure', `failed to get reference secret [${name}]: ${kubeErrorMessage(err)}`, { cause: err });
      }
      try {
        await raceAbort(api.readNamespacedSecret({ name, namespace }, withSignal(signal)), signal);
        return true;
      } catch (err) {
        if (kubeErrorStatus(err) !== 404) {
          throw new FlyteSecretsError('SecretReadFailure', `failed to check for mirrored secret [${name}] in namespace [${namespace}]: ${kubeErrorMessage(err)}`, { cause: err });
        }
      }
      if (dryRun) return true;
      const body: V1Secret = {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: {
          name,
          namespace,
          ...(reference.metadata?.labels ? { labels: { ...reference.metadata.labels } } : {}),
          ...(reference.metadata?.annotations ? { annotations: { ...reference.metadata.annotations } } : {}),
        },
        ...(reference.type ? { type: reference.type } : {}),
        ...(reference.data ? { data: { ...reference.data } } : {}),
        ...(reference.stringData ? { stringData: { ...reference.stringData } } : {}),
      };
      try {
        await raceAbort(api.createNamespacedSecret({ namespace, body }, withSignal(signal)), signal);
      } catch (err) {
        // Another admission created it first: fine.
        if (kubeErrorStatus(err) === 409) return true;
        throw new FlyteSecretsError('SecretReadFailure', `failed to create mirrored secret [${name}] in namespace [${namespace}]: ${kubeErrorMessage(err)}`, { cause: err });
      }
      return true;
    },
  };
}
