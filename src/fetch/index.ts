/**
 * The fetch layer: the backend fetchers (Azure Key Vault, AWS, GCP, Kubernetes), the request budget (rate, retries,
 * time bounds), the cache, and {@link createBackendFetcher}, which picks the backend named by
 * `webhook.embeddedSecretManagerConfig.type`. It knows nothing of pods or injectors: `src/assemble` puts it inside the
 * Embedded injector.
 *
 * @example
 * ```ts
 * const fetcher = budgetedFetcher(await createBackendFetcher(config), createRequestBudget({ … }));
 * ```
 *
 * @module
 */
import type { TokenCredential } from '@azure/core-auth';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Registry } from 'prom-client';
import type { Config } from '../config/schema.js';
import { FlyteSecretsError } from '../errors.js';
import type { AwsFetcherOptions } from './aws.js';
import type { RequestBudget } from './budget.js';
import type { SecretCache } from './cache.js';
import type { SecretFetcher } from './fetcher.js';
import type { GcpFetcherOptions } from './gcp.js';
import type { KubeSecretsApi } from './k8s.js';

export * from './fetcher.js';
export { createSecretCache, uncachedSecretCache, parseCacheSize, type SecretCache, type CachedValue, type SecretCacheOptions, type LoadContext } from './cache.js';
export { startDeadline, timeoutReason, withDeadline, type Deadline } from './deadline.js';
export { createRequestBudget, budgetedFetcher, BudgetExhausted, type RequestBudget, type RequestBudgetOptions, type BoundedFetcher, type CallBounds } from './budget.js';
export { createFetchMetrics, noopFetchMetrics, FETCH_METRIC_NAMES, type FetchMetrics } from './metrics.js';
export type { AzureFetcherOptions } from './azure.js';
// The shared (Redis) tier loads the Redis client: imported only when `cache.type` is Redis.
export type { RedisSecretCache, RedisSecretCacheOptions } from './redis-cache.js';
export { parseCacheKeys, CACHE_KEY_ENV, type CacheKeyRing } from './cache-crypto.js';
export type { AwsFetcherOptions } from './aws.js';
export type { GcpFetcherOptions } from './gcp.js';
// The Kubernetes backend (./k8s.js) loads @kubernetes/client-node (~1 s): it is imported only when used.
export type { ImagePullSecretStore, KubeSecretsApi } from './k8s.js';

/** What `createEmbeddedSecretManager` (src/assemble) and {@link createBackendFetcher} may be given besides the config. All optional. */
export interface EmbeddedDeps {
  /** prom-client registry (the webhook server's) to register the fetch metrics on. */
  registry?: Registry;
  /** Environment (default `process.env`): `POD_NAMESPACE` names the image-pull reference namespace. */
  env?: NodeJS.ProcessEnv;
  /** Namespace holding reference image-pull secrets (default `POD_NAMESPACE`, else `k8sConfig.namespace`). */
  referenceNamespace?: string;
  /** Kubernetes access (default: in-cluster or `$KUBECONFIG`). Used by the K8s backend and image-pull mirroring. */
  kubeConfig?: KubeConfig;
  kubeconfigPath?: string;
  kubeApi?: KubeSecretsApi;
  /** Azure: credential (default `DefaultAzureCredential`) and an extra CA (PEM) for the vault. */
  azure?: { credential?: TokenCredential; ca?: string };
  /** AWS: endpoint override and credentials (tests, VPC endpoints). */
  aws?: Omit<AwsFetcherOptions, 'region'>;
  /** GCP: endpoint override and auth client (tests). */
  gcp?: Omit<GcpFetcherOptions, 'project'>;
  /** Use this backend instead of the one the config names (tests, benchmarks). */
  fetcher?: SecretFetcher;
  /** `'none'`: no cache and no single-flight (every lookup reaches the backend). Or a ready cache. */
  cache?: 'none' | SecretCache;
  /** A shared request budget (default: one built from `flyteSecrets.fetch`). */
  budget?: RequestBudget;
  /** The broker as pods reach it (`flyteSecrets.embedded.delivery: agent`); default from `webhook.*` and `<certDir>/ca.crt`. */
  broker?: { url: string; caPem: () => string };
}

/**
 * The backend fetcher named by `webhook.embeddedSecretManagerConfig.type` (one call per fetch, no retries). The
 * backend's SDK is imported only when chosen. Throws `InvalidConfig` when the backend's required setting is missing.
 */
export async function createBackendFetcher(config: Config, deps: EmbeddedDeps = {}): Promise<SecretFetcher> {
  const e = config.webhook.embeddedSecretManagerConfig;
  switch (e.type) {
    case 'Azure': {
      if (e.azureConfig.vaultURI === '') {
        throw new FlyteSecretsError('InvalidConfig', 'failed to start secret manager service: webhook.embeddedSecretManagerConfig.azureConfig.vaultURI is empty; set it to your Key Vault URL (e.g. https://myvault.vault.azure.net/)');
      }
      const { createAzureFetcher } = await import('./azure.js');
      return createAzureFetcher({
        vaultUrl: e.azureConfig.vaultURI,
        plainValues: config.flyteSecrets.azure.plainValues,
        ...(config.flyteSecrets.azure.disableChallengeResourceVerification ? { disableChallengeResourceVerification: true } : {}),
        ...(deps.azure?.credential ? { credential: deps.azure.credential } : {}),
        ...(deps.azure?.ca ? { ca: deps.azure.ca } : {}),
      });
    }
    case 'AWS': {
      const { createAwsFetcher } = await import('./aws.js');
      return createAwsFetcher({ ...(deps.aws ?? {}), region: e.awsConfig.region });
    }
    case 'GCP': {
      if (e.gcpConfig.project === '') {
        throw new FlyteSecretsError('InvalidConfig', 'failed to start secret manager service: webhook.embeddedSecretManagerConfig.gcpConfig.project is empty; set it to the GCP project holding the secrets');
      }
      const { createGcpFetcher } = await import('./gcp.js');
      return createGcpFetcher({ ...(deps.gcp ?? {}), project: e.gcpConfig.project });
    }
    case 'K8s': {
      const { createK8sFetcher } = await import('./k8s.js');
      return createK8sFetcher({ namespace: e.k8sConfig.namespace, api: await kubeApiOf(deps) });
    }
  }
}

/** The Kubernetes Secrets API of `deps`: the one given, else one from `kubeConfig`, `kubeconfigPath` or the default kubeconfig. */
export async function kubeApiOf(deps: EmbeddedDeps): Promise<KubeSecretsApi> {
  if (deps.kubeApi !== undefined) return deps.kubeApi;
  const { createKubeSecretsApi } = await import('./k8s.js');
  return createKubeSecretsApi({ ...(deps.kubeConfig ? { kubeConfig: deps.kubeConfig } : {}), ...(deps.kubeconfigPath ? { kubeconfigPath: deps.kubeconfigPath } : {}) });
}
