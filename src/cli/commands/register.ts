/**
 * `flyte-secrets register`: create or update the webhook's MutatingWebhookConfiguration.
 *
 * @module
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { printLine, readConfigFile } from '../io.js';

interface RegisterOptions {
  config?: string;
  namespace?: string;
  kubeconfig?: string;
  caFile?: string;
  print?: boolean;
}

async function runRegister(opts: RegisterOptions): Promise<void> {
  const [{ defaultConfig }, { loadKubeConfig, webhookNamespace }, reg] = await Promise.all([
    import('../../config/load.js'),
    import('../../webhook/kube.js'),
    import('../../webhook/register.js'),
  ]);
  const config = opts.config !== undefined ? await readConfigFile(opts.config) : defaultConfig();
  const namespace = webhookNamespace(process.env, opts.namespace);

  if (opts.print === true) {
    // Print only: a cluster is needed only when the CA must come from the Secret.
    const needsCluster = (opts.caFile === undefined || opts.caFile === '') && !existsSync(join(config.webhook.certDir, 'ca.crt'));
    const secret = needsCluster
      ? { core: (await loadKubeConfig({ kubeconfig: opts.kubeconfig })).makeApiClient((await import('@kubernetes/client-node')).CoreV1Api), namespace, name: config.webhook.secretName }
      : undefined;
    const ca = await reg.resolveCaBundle({ caFile: opts.caFile, certDir: config.webhook.certDir, ...(secret ? { secret } : {}) });
    const { stringify } = await import('yaml');
    process.stdout.write(stringify(reg.buildMutatingWebhookConfiguration(config, { namespace, caBundle: ca.pem }), { lineWidth: 0 }));
    return;
  }
  if (config.webhook.disableCreateMutatingWebhookConfig) {
    printLine(reg.describeRegisterWebhook({ action: 'disabled' }, config, namespace));
    return;
  }
  const kc = await loadKubeConfig({ kubeconfig: opts.kubeconfig });
  const { AdmissionregistrationV1Api, CoreV1Api } = await import('@kubernetes/client-node');
  const result = await reg.registerWebhook(config, {
    core: kc.makeApiClient(CoreV1Api),
    admission: kc.makeApiClient(AdmissionregistrationV1Api),
    namespace,
    caFile: opts.caFile,
  });
  printLine(reg.describeRegisterWebhook(result, config, namespace));
}

export function register(program: Command): void {
  program
    .command('register')
    .description('Create or update the MutatingWebhookConfiguration that sends labelled pods to the webhook')
    .option('-c, --config <file>', 'config file (webhook.serviceName, servicePort, certDir, webhookTimeout, namespaceSelector, …)')
    .option('-n, --namespace <ns>', 'webhook namespace when POD_NAMESPACE is not set (default "flyte")')
    .option('--kubeconfig <file>', 'kubeconfig file (default: KUBECONFIG, the in-cluster service account, ~/.kube/config)')
    .option('--ca-file <file>', 'CA bundle (PEM); default <certDir>/ca.crt, else the webhook Secret\'s ca.crt')
    .option('--print', 'print the configuration as YAML instead of applying it')
    .addHelpText(
      'after',
      `
Honours webhook.disableCreateMutatingWebhookConfig (prints that it is disabled and exits 0). With POD_NAME and
POD_NAMESPACE set, the webhook pod's ownerReferences are copied. Needs create/get/update on
mutatingwebhookconfigurations, get on secrets (CA from the Secret) and get on pods (ownerReferences).

Examples:
  $ flyte-secrets register --config /etc/flyte/config.yaml
  $ flyte-secrets register -c config.yaml --ca-file ./certs/ca.crt --print`,
    )
    .action((opts: RegisterOptions) => runRegister(opts));
}
