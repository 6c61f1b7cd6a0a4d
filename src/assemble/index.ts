/**
 * Assembly: config in, injector chain out. The one place that joins the fetch layer (`src/fetch`: backend fetcher,
 * request budget, cache) to the injectors (`src/inject`), so `serve`, `inject`, `dev`, the benchmarks and library
 * users all run the same mutation. `src/fetch` does not import `src/inject`; this module imports both.
 *
 * @example
 * ```ts
 * import { createInjectorsFromConfig, loadConfigFile } from 'flyte-secrets';
 * const { mutator } = await createInjectorsFromConfig(loadConfigFile('config.yaml'));
 * const outcome = await mutator.mutate(pod, { namespace: 'flytesnacks-development', dryRun: false });
 * ```
 *
 * @module
 */
import type { Registry } from 'prom-client';
import { enabledManagers, type Config, type SecretManagerType } from '../config/schema.js';
import { budgetedFetcher, createRequestBudget } from '../fetch/budget.js';
import { uncachedSecretCache } from '../fetch/cache.js';
import { createBackendFetcher, kubeApiOf, type EmbeddedDeps } from '../fetch/index.js';
import { createFetchMetrics, noopFetchMetrics, type FetchMetrics } from '../fetch/metrics.js';
import { createEmbeddedInjector, type EmbeddedInjector } from '../inject/embedded.js';
import type { SecretInjector } from '../inject/injector.js';
import { buildInjectors, createMutator, type PodMutator } from '../inject/mutator.js';

export type { EmbeddedDeps } from '../fetch/index.js';

/**
 * Build the Embedded injector from config: backend fetcher → request budget → cache → injector, with metrics on
 * `deps.registry` and image-pull mirroring through the Kubernetes API when enabled.
 *
 * @example
 * ```ts
 * const embedded = await createEmbeddedSecretManager(config, { registry: server.registry });
 * ```
 */
export async function createEmbeddedSecretManager(config: Config, deps: EmbeddedDeps = {}): Promise<EmbeddedInjector> {
  const metrics: FetchMetrics = deps.registry ? createFetchMetrics(deps.registry) : noopFetchMetrics;
  const f = config.flyteSecrets.fetch;
  const budget =
    deps.budget ??
    createRequestBudget({ requestsPer10s: f.requestsPer10s, callTimeoutMs: f.callTimeout, maxAttempts: f.maxAttempts, metrics });
  const fetcher = budgetedFetcher(deps.fetcher ?? (await createBackendFetcher(config, deps)), budget, { metrics });
  const e = config.webhook.embeddedSecretManagerConfig;
  const env = deps.env ?? process.env;
  const imagePull = e.imagePullSecrets.enabled
    ? (await import('../fetch/k8s.js')).createImagePullSecretStore({ api: await kubeApiOf(deps), referenceNamespace: deps.referenceNamespace ?? (env.POD_NAMESPACE || e.k8sConfig.namespace) })
    : undefined;
  let cache = deps.cache === 'none' ? uncachedSecretCache(metrics) : deps.cache;
  if (cache === undefined && config.cache.type === 'Redis') {
    // The shared tier: refuses to start without the encryption key; an unreachable Redis only logs and retries.
    const { createRedisCacheFromConfig } = await import('../fetch/redis-cache.js');
    cache = await createRedisCacheFromConfig(config, { env, metrics, ...(deps.registry ? { registry: deps.registry } : {}) });
  }
  const broker = config.flyteSecrets.embedded.delivery !== 'agent' ? undefined : (deps.broker ?? (await import('../webhook/broker-ca.js')).brokerEndpoint(config, env));
  return createEmbeddedInjector({
    ...(broker ? { broker } : {}),
    config,
    fetcher,
    metrics,
    ...(cache ? { cache } : {}),
    ...(imagePull ? { imagePull } : {}),
  });
}

/** Options of {@link createInjectorsFromConfig}. */
export interface RuntimeInjectorOptions {
  /** Environment of the Global provider and `POD_NAMESPACE` (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** Registry to put the Embedded fetcher's metrics on (the webhook's `/metrics`). */
  registry?: Registry;
  /** More for the Embedded manager (e.g. `azure: { credential, ca }` for a local vault); see {@link EmbeddedDeps}. */
  embedded?: Omit<EmbeddedDeps, 'env' | 'registry'>;
}

/** The injector chain and the mutator over it. */
export interface RuntimeInjectors {
  injectors: Map<SecretManagerType, SecretInjector>;
  mutator: PodMutator;
}

/**
 * Build the injector chain of `config` and the mutator over it: `buildInjectors` + `createMutator`, plus, when
 * `Embedded` is enabled, the Embedded injector from {@link createEmbeddedSecretManager} (the fetcher chosen by
 * `embeddedSecretManagerConfig.type`, the request budget and the cache). Backend SDKs are loaded only when chosen.
 *
 * @example
 * ```ts
 * const { injectors, mutator } = await createInjectorsFromConfig(loadConfigFile('config.yaml'));
 * ```
 */
export async function createInjectorsFromConfig(config: Config, options: RuntimeInjectorOptions = {}): Promise<RuntimeInjectors> {
  const env = options.env ?? process.env;
  let embedded: SecretInjector | undefined;
  if (enabledManagers(config.webhook).includes('Embedded')) {
    // Backend fetcher → request budget → cache → Embedded injector.
    embedded = await createEmbeddedSecretManager(config, { ...options.embedded, env, ...(options.registry === undefined ? {} : { registry: options.registry }) });
  }
  const injectors = buildInjectors(config, { env, ...(embedded === undefined ? {} : { embedded }) });
  return { injectors, mutator: createMutator(config, injectors) };
}
