/**
 * `flyte-secrets certs init` (alias `init-certs`, Flyte's name) and `flyte-secrets certs generate`.
 *
 * @module
 */
import type { Command } from 'commander';
import { parseDuration } from '../../config/duration.js';
import { CliError, printLine, readConfigFile } from '../io.js';

interface InitOptions {
  config?: string;
  namespace?: string;
  kubeconfig?: string;
}

interface GenerateOptions {
  out: string;
  serviceName: string;
  namespace: string;
  validity: string;
  dns: string[];
  ip: string[];
}

/** Commander argument parser for a repeatable option: collects every value. */
function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

async function runInit(opts: InitOptions): Promise<void> {
  const [{ CoreV1Api }, { defaultConfig }, { loadKubeConfig, webhookNamespace }, { initCertificates, describeInitCertificates }] = await Promise.all([
    import('@kubernetes/client-node'),
    import('../../config/load.js'),
    import('../../webhook/kube.js'),
    import('../../webhook/certs.js'),
  ]);
  const config = opts.config !== undefined ? await readConfigFile(opts.config) : defaultConfig();
  const namespace = webhookNamespace(process.env, opts.namespace);
  const kc = await loadKubeConfig({ kubeconfig: opts.kubeconfig });
  const result = await initCertificates(config, { core: kc.makeApiClient(CoreV1Api), namespace });
  printLine(describeInitCertificates(result));
}

async function runGenerate(opts: GenerateOptions): Promise<void> {
  const validityMs = parseDuration(opts.validity);
  if (validityMs === undefined || validityMs <= 0) {
    throw new CliError(`--validity "${opts.validity}" is not a positive duration: write it like "8760h" or "720h"`, 2);
  }
  const { generateCertificates, writeCertificateFiles, certificateExpiry } = await import('../../webhook/certs.js');
  const bundle = await generateCertificates({ serviceName: opts.serviceName, namespace: opts.namespace, validityMs, extraDnsNames: opts.dns, ipAddresses: opts.ip });
  writeCertificateFiles(opts.out, bundle);
  const extra = [...opts.dns, ...opts.ip];
  printLine(
    `wrote ca.crt, tls.crt, tls.key for ${opts.serviceName}.${opts.namespace}.svc${extra.length > 0 ? ` and ${extra.join(', ')}` : ''} to ${opts.out}: serving certificate expires ${certificateExpiry(bundle.tlsCert).toISOString()}`,
  );
}

function addInitOptions(cmd: Command): Command {
  return cmd
    .option('-c, --config <file>', 'config file (webhook.secretName, serviceName, certDir, localCert; flyteSecrets.certs)')
    .option('-n, --namespace <ns>', 'webhook namespace when POD_NAMESPACE is not set (default "flyte")')
    .option('--kubeconfig <file>', 'kubeconfig file (default: KUBECONFIG, the in-cluster service account, ~/.kube/config)');
}

const INIT_DESCRIPTION =
  'Make the webhook CA and serving certificate and store them in the webhook Secret, only when absent, not matching, or near expiry ' +
  '(safe with several replicas); with webhook.localCert also write them into webhook.certDir';

const INIT_HELP = `
The Secret <webhook.secretName> in the webhook namespace gets data keys ca.crt, tls.crt, tls.key (and ca.key, so the serving
certificate can be renewed under the same CA). Prints one line: created, kept or renewed, and the expiry date.
Needs get/create/update on secrets in the webhook namespace.

Examples:
  $ flyte-secrets certs init --config /etc/flyte/config.yaml
  $ POD_NAMESPACE=flyte flyte-secrets init-certs -c config.yaml --kubeconfig ~/.kube/config`;

export function register(program: Command): void {
  const certs = program
    .command('certs')
    .description('Webhook TLS certificates: create, keep or renew them')
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  $ flyte-secrets certs init --config config.yaml                       # in the cluster: the webhook Secret',
        '  $ flyte-secrets certs generate --out ./certs --dns localhost --ip 127.0.0.1   # local files, for serve outside a cluster',
      ].join('\n'),
    );
  addInitOptions(certs.command('init').alias('init-certs').description(INIT_DESCRIPTION))
    .addHelpText('after', INIT_HELP)
    .action((opts: InitOptions) => runInit(opts));
  certs
    .command('generate')
    .description('Write a new CA and serving certificate into a local directory (no cluster needed; for development and tests)')
    .requiredOption('-o, --out <dir>', 'directory to write ca.crt, tls.crt (0644) and tls.key (0600) into')
    .option('--service-name <name>', 'webhook Service name', 'flyte-pod-webhook')
    .option('-n, --namespace <ns>', 'webhook namespace', 'flyte')
    .option('--validity <duration>', 'serving certificate lifetime', '8760h')
    .option('--dns <name>', 'one more DNS name for the serving certificate, e.g. localhost (repeatable)', collect, [])
    .option('--ip <address>', 'an IP address for the serving certificate, e.g. 127.0.0.1 or ::1 (repeatable)', collect, [])
    .addHelpText(
      'after',
      [
        '',
        'The serving certificate is for the Service’s cluster names (<svc>, <svc>.<ns>, <svc>.<ns>.svc,',
        '<svc>.<ns>.svc.cluster.local). To run `serve` outside the cluster and call it by another name or address,',
        'add them with --dns and --ip; a client then trusts ca.crt (e.g. `dev send --ca certs/ca.crt`).',
        '',
        'Examples:',
        '  $ flyte-secrets certs generate --out ./certs --service-name flyte-pod-webhook --namespace flyte',
        '  $ flyte-secrets certs generate --out ./certs --dns localhost --ip 127.0.0.1 --ip ::1',
      ].join('\n'),
    )
    .action((opts: GenerateOptions) => runGenerate(opts));
  // Flyte's command name, kept as a top-level alias of `certs init`.
  addInitOptions(program.command('init-certs', { hidden: true }).description(`Same as \`certs init\`: ${INIT_DESCRIPTION}`))
    .addHelpText('after', INIT_HELP)
    .action((opts: InitOptions) => runInit(opts));
}
