/**
 * `flyte-secrets serve --config FILE [--port P] [--cert-dir D] [--invalidation-port P]`: run the admission webhook
 * (HTTPS, `webhook.listenPort`) and Flyte's cache-invalidation server (HTTP, `webhook.cacheInvalidationPort`).
 *
 * SIGTERM or SIGINT: `/readyz` turns 503, the server stops accepting connections, requests in flight finish (up to
 * `flyteSecrets.server.shutdownGrace`), then the command returns and the process exits 0.
 *
 * Also exports {@link createInjectorsFromConfig}, the one place that turns a config into the injector chain (with the
 * Embedded injector's fetcher, budget and cache), so `serve` and `inject` run the same mutation.
 *
 * @module
 */
import { InvalidArgumentError, type Command } from 'commander';
import type { Registry } from 'prom-client';
import type { Config, SecretManagerType } from '../../config/schema.js';
import type { SecretInjector } from '../../inject/injector.js';
import type { PodMutator } from '../../inject/mutator.js';

/** Options of {@link createInjectorsFromConfig}. */
export interface RuntimeInjectorOptions {
  /** Environment of the Global provider and `POD_NAMESPACE` (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** Registry to put the Embedded fetcher's metrics on (the webhook's `/metrics`). */
  registry?: Registry;
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
    embedded = await createEmbeddedSecretManager(config, { env, ...(options.registry === undefined ? {} : { registry: options.registry }) });
  }
  const injectors = buildInjectors(config, { env, ...(embedded === undefined ? {} : { embedded }) });
  return { injectors, mutator: createMutator(config, injectors) };
}

function parsePort(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 65535) throw new InvalidArgumentError('expected a port number 0-65535');
  return Number(value);
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
  const [{ loadConfigFile }, { startWebhookServer }, { createLogger }, { createWebhookMetrics }] = await Promise.all([
    import('../../config/load.js'),
    import('../../webhook/server.js'),
    import('../../webhook/logger.js'),
    import('../../webhook/metrics.js'),
  ]);
  const config = loadConfigFile(options.config);
  const logger = createLogger({ level: config.flyteSecrets.server.logLevel });
  const metrics = createWebhookMetrics();
  const { injectors, mutator } = await createInjectorsFromConfig(config, { registry: metrics.registry });
  const server = await startWebhookServer({
    config,
    mutator,
    injectors,
    logger,
    metrics,
    ...(options.certDir === undefined ? {} : { certDir: options.certDir }),
    ...(options.port === undefined ? {} : { port: options.port }),
    ...(options.invalidationPort === undefined ? {} : { invalidationPort: options.invalidationPort }),
  });
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
        '',
        'Example:',
        '  $ flyte-secrets serve --config /etc/flyte/config.yaml',
      ].join('\n'),
    )
    .action(async (opts: ServeOptions) => {
      await runServe(opts);
    });
}
