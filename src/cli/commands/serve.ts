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
 * The injector chain comes from `createInjectorsFromConfig` (src/assemble), as for `inject` and `dev`.
 *
 * @module
 */
import { accessSync, constants as fsConstants } from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import type { Registry } from 'prom-client';
import type { Config, SecretManagerType } from '../../config/schema.js';
import type { EmbeddedInjector } from '../../inject/embedded.js';
import type { SecretInjector } from '../../inject/injector.js';
import type { Broker } from '../../webhook/broker.js';
import type { CertificateRenewal } from '../../webhook/certs.js';
import type { Logger } from '../../webhook/logger.js';
import { untilStopSignal } from '../signals.js';

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
  const [{ startWebhookServer }, { createLogger }, { createWebhookMetrics }, { readConfigFile }, { createInjectorsFromConfig }] = await Promise.all([
    import('../../webhook/server.js'),
    import('../../webhook/logger.js'),
    import('../../webhook/metrics.js'),
    import('../io.js'),
    import('../../assemble/index.js'),
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

  const signal = await untilStopSignal('flyte-secrets serve');
  const started = Date.now();
  renewal?.stop();
  server.setReady(false);
  // close() stops accepting at once (synchronously), then waits for the requests in flight.
  const closed = server.close();
  logger.info({ event: 'stopping', signal, graceMs: config.flyteSecrets.server.shutdownGrace }, 'shutting down: not ready, no new connections, finishing requests in flight');
  await closed;
  // The shared cache's Redis connections (cache.type: Redis), once no request needs them.
  await (injectors.get('Embedded') as { cache?: { close?: () => Promise<void> } } | undefined)?.cache?.close?.();
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
        'Credentials come from the environment, not the config: Key Vault through DefaultAzureCredential (workload',
        'identity in AKS; else AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET), a private CA through',
        'NODE_EXTRA_CA_CERTS (read at start-up). See "Credentials and trust" in docs/configuration.md.',
        '',
        'Example:',
        '  $ flyte-secrets serve --config /etc/flyte/config.yaml',
      ].join('\n'),
    )
    .action(async (opts: ServeOptions) => {
      await runServe(opts);
    });
}
