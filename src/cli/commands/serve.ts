/**
 * `flyte-secrets serve --config FILE [--port P] [--cert-dir D] [--invalidation-port P]`: run the admission webhook
 * (HTTPS, `webhook.listenPort`) and Flyte's cache-invalidation server (HTTP, `webhook.cacheInvalidationPort`).
 *
 * SIGTERM or SIGINT: `/readyz` turns 503, the server stops accepting connections, requests in flight finish (up to
 * `flyteSecrets.server.shutdownGrace`), then the command returns and the process exits 0.
 *
 * With `webhook.localCert` and a reachable Kubernetes API, the certificates are checked and renewed in-process
 * (`startCertificateRenewal`, src/webhook/certs.ts) and reloaded by the TLS watcher, without a restart.
 *
 * Also exports {@link createInjectorsFromConfig}, the one place that turns a config into the injector chain (with the
 * Embedded injector's fetcher, budget and cache), so `serve` and `inject` run the same mutation.
 *
 * @module
 */
import { accessSync, constants as fsConstants } from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import type { Registry } from 'prom-client';
import type { Config, SecretManagerType } from '../../config/schema.js';
import type { EmbeddedDeps } from '../../fetch/index.js';
import type { EmbeddedInjector } from '../../inject/embedded.js';
import type { SecretInjector } from '../../inject/injector.js';
import type { Broker } from '../../webhook/broker.js';
import type { PodMutator } from '../../inject/mutator.js';
import type { CertificateRenewal } from '../../webhook/certs.js';
import type { Logger } from '../../webhook/logger.js';

/** Options of {@link createInjectorsFromConfig}. */
export interface RuntimeInjectorOptions {
  /** Environment of the Global provider and `POD_NAMESPACE` (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** Registry to put the Embedded fetcher's metrics on (the webhook's `/metrics`). */
  registry?: Registry;
  /** More for the Embedded manager (e.g. `azure: { credential, ca }` for a local vault); see `EmbeddedDeps`. */
  embedded?: Omit<EmbeddedDeps, 'env' | 'registry'>;
}

/** The injector chain and the mutator over it. */
export interface RuntimeInjectors {
  injectors: Map<SecretManagerType, SecretInjector>;
  mutator: PodMutator;
}

/**
 * Build the injector chain of `config` and the mutator over it: `buildInjectors` + `createMutator`, plus, when
 * `Embedded` is enabled, the Embedded injector from `createEmbeddedSecretManager` (src/fetch/index.ts: the fetcher
 * chosen by `embeddedSecretManagerConfig.type`, the request budget and the cache). Modules are loaded lazily.
 *
 * @example
 * ```ts
 * const { injectors, mutator } = await createInjectorsFromConfig(loadConfigFile('config.yaml'));
 * ```
 */
export async function createInjectorsFromConfig(config: Config, options: RuntimeInjectorOptions = {}): Promise<RuntimeInjectors> {
  const env = options.env ?? process.env;
  const [{ enabledManagers }, { buildInjectors, createMutator }] = await Promise.all([import('../../config/schema.js'), import('../../inject/mutator.js')]);
  let embedded: SecretInjector | undefined;
  if (enabledManagers(config.webhook).includes('Embedded')) {
    // Engineer G's assembly: backend fetcher → request budget → cache → Embedded injector.
    const { createEmbeddedSecretManager } = await import('../../fetch/index.js');
    embedded = await createEmbeddedSecretManager(config, { ...options.embedded, env, ...(options.registry === undefined ? {} : { registry: options.registry }) });
  }
  const injectors = buildInjectors(config, { env, ...(embedded === undefined ? {} : { embedded }) });
  return { injectors, mutator: createMutator(config, injectors) };
}

function parsePort(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 65535) throw new InvalidArgumentError('expected a port number 0-65535');
  return Number(value);
}

/**
 * With `webhook.localCert`, renew the certificates in-process ({@link startCertificateRenewal}): the same check as
 * `certs init`, against the cluster it uses (`loadKubeConfig`: KUBECONFIG, the in-cluster service account,
 * ~/.kube/config), writing renewed files into the cert directory that the TLS watcher reloads. When the CA changes,
 * the webhook configuration is registered again. Off (logged once) without a cluster or with a read-only cert
 * directory.
 */
async function startServeRenewal(config: Config, certDirOverride: string | undefined, logger: Logger): Promise<CertificateRenewal | undefined> {
  if (!config.webhook.localCert) return undefined;
  const effective: Config = certDirOverride === undefined ? config : { ...config, webhook: { ...config.webhook, certDir: certDirOverride } };
  const certDir = effective.webhook.certDir;
  const [{ AdmissionregistrationV1Api, CoreV1Api }, { loadKubeConfig, webhookNamespace }, { certificateRenewalIntervalMs, startCertificateRenewal }, { describeRegisterWebhook, registerWebhook }, { errorMessage }] =
    await Promise.all([
      import('@kubernetes/client-node'),
      import('../../webhook/kube.js'),
      import('../../webhook/certs.js'),
      import('../../webhook/register.js'),
      import('../../errors.js'),
    ]);
  try {
    accessSync(certDir, fsConstants.W_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    logger.info({ event: 'certs_renewal_off', certDir, reason: code }, 'certificate renewal in the server is off: the cert directory is not writable (renewal then needs a restart, which runs certs init)');
    return undefined;
  }
  let kc;
  try {
    kc = await loadKubeConfig();
  } catch (err) {
    logger.info({ event: 'certs_renewal_off', reason: errorMessage(err) }, 'certificate renewal in the server is off: no Kubernetes API configuration');
    return undefined;
  }
  const namespace = webhookNamespace(process.env);
  const core = kc.makeApiClient(CoreV1Api);
  const admission = kc.makeApiClient(AdmissionregistrationV1Api);
  const intervalMs = certificateRenewalIntervalMs(effective.flyteSecrets.certs);
  const renewal = startCertificateRenewal(effective, {
    core,
    namespace,
    intervalMs,
    logger,
    onCaChanged: async () => {
      const r = await registerWebhook(effective, { core, admission, namespace });
      logger.info({ event: 'registered' }, describeRegisterWebhook(r, effective, namespace));
    },
  });
  logger.info({ event: 'certs_renewal_on', namespace, secret: effective.webhook.secretName, certDir, intervalMs }, 'certificates are checked and renewed in the server');
  return renewal;
}

/**
 * With `flyteSecrets.embedded.delivery: agent`, the broker on the same HTTPS port: TokenReviews and pod reads
 * through the cluster `loadKubeConfig` finds (in-cluster: the webhook's service account).
 */
async function startBroker(config: Config, injectors: Map<SecretManagerType, SecretInjector>, logger: Logger, registry: Registry): Promise<Broker | undefined> {
  const embedded = injectors.get('Embedded') as EmbeddedInjector | undefined;
  if (config.flyteSecrets.embedded.delivery !== 'agent' || embedded === undefined) return undefined;
  const [{ loadKubeConfig }, { createKubeBrokerApi }, { createBroker }] = await Promise.all([import('../../webhook/kube.js'), import('../../webhook/broker-kube.js'), import('../../webhook/broker.js')]);
  const kube = await createKubeBrokerApi(await loadKubeConfig());
  logger.info({ event: 'broker_on', path: config.flyteSecrets.broker.path, audience: config.flyteSecrets.broker.audience }, 'the broker serves Embedded secrets to agent init containers');
  return createBroker({ config, kube, embedded, logger, registry });
}

/** Options of the `serve` command. */
export interface ServeOptions {
  config: string;
  port?: number;
  certDir?: string;
  invalidationPort?: number;
}

/**
 * Run the webhook until SIGTERM/SIGINT, then shut down gracefully and resolve.
 *
 * @example
 * ```ts
 * await runServe({ config: '/etc/flyte/config.yaml' });
 * ```
 */
export async function runServe(options: ServeOptions): Promise<void> {
  const [{ startWebhookServer }, { createLogger }, { createWebhookMetrics }, { readConfigFile }] = await Promise.all([
    import('../../webhook/server.js'),
    import('../../webhook/logger.js'),
    import('../../webhook/metrics.js'),
    import('../io.js'),
  ]);
  const config = await readConfigFile(options.config);
  const logger = createLogger({ level: config.flyteSecrets.server.logLevel });
  const metrics = createWebhookMetrics();
  const forInjectors: Config = options.certDir === undefined ? config : { ...config, webhook: { ...config.webhook, certDir: options.certDir } };
  const { injectors, mutator } = await createInjectorsFromConfig(forInjectors, { registry: metrics.registry });
  const broker = await startBroker(config, injectors, logger, metrics.registry);
  const server = await startWebhookServer({
    config,
    mutator,
    injectors,
    logger,
    metrics,
    ...(broker === undefined ? {} : { broker }),
    ...(options.certDir === undefined ? {} : { certDir: options.certDir }),
    ...(options.port === undefined ? {} : { port: options.port }),
    ...(options.invalidationPort === undefined ? {} : { invalidationPort: options.invalidationPort }),
  });
  const renewal = await startServeRenewal(config, options.certDir, logger);
  logger.info(
    { event: 'started', port: server.port, invalidationPort: server.invalidationPort ?? null, managers: mutator.managers, certDir: options.certDir ?? config.webhook.certDir },
    'flyte-secrets webhook started',
  );

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    const onSignal = (s: NodeJS.Signals): void => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      resolve(s);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  const started = Date.now();
  renewal?.stop();
  server.setReady(false);
  // close() stops accepting at once (synchronously), then waits for the requests in flight.
  const closed = server.close();
  logger.info({ event: 'stopping', signal, graceMs: config.flyteSecrets.server.shutdownGrace }, 'shutting down: not ready, no new connections, finishing requests in flight');
  await closed;
  logger.info({ event: 'stopped', signal, durationMs: Date.now() - started }, 'flyte-secrets webhook stopped');
}

export function register(program: Command): void {
  program
    .command('serve')
    .description('Run the mutating admission webhook (HTTPS) and the cache-invalidation server (HTTP)')
    .requiredOption('-c, --config <file>', 'config file (YAML or JSON)')
    .option('-p, --port <port>', 'HTTPS port (default: webhook.listenPort, 9443; 0 = any free port)', parsePort)
    .option('--cert-dir <dir>', 'directory holding tls.crt and tls.key (default: webhook.certDir)')
    .option('--invalidation-port <port>', 'cache-invalidation port (default: webhook.cacheInvalidationPort, 9444; 0 = off)', parsePort)
    .addHelpText(
      'after',
      [
        '',
        'Endpoints: POST /mutate--v1-pod, GET /healthz, GET /readyz, GET /metrics; POST /invalidate-secret on the',
        'invalidation port. TLS files are reloaded when they change. Logs are JSON lines on stdout.',
        'SIGTERM/SIGINT: /readyz turns 503, requests in flight finish (flyteSecrets.server.shutdownGrace), exit 0.',
        'With webhook.localCert and a Kubernetes API (in-cluster, KUBECONFIG or ~/.kube/config), the certificates are',
        'also checked every renewBefore/4 (at most 12 h) and renewed in place, as `certs init` does.',
        '',
        'Example:',
        '  $ flyte-secrets serve --config /etc/flyte/config.yaml',
      ].join('\n'),
    )
    .action(async (opts: ServeOptions) => {
      await runServe(opts);
    });
}
