/**
 * `flyte-secrets inject --config FILE -f POD|- [-o yaml|json|patch] [--namespace NS]`: the offline dry run. It runs
 * exactly what the webhook runs for a pod CREATE (the same injector chain, mutator and admission handler, with
 * `dryRun: true`) and prints the mutated pod, or the RFC 6902 patch.
 *
 * Exit codes: 0 admitted (mutated or unchanged), 1 bad input or config, 2 usage, 3 the webhook would deny the pod
 * (the reason is printed on stderr). Warnings go to stderr as `warning: …`.
 *
 * @module
 */
import { Option, type Command } from 'commander';
import { CliError, readConfigFile, readInput } from '../io.js';

/** Exit code when the webhook would deny the pod. */
export const DENIED_EXIT_CODE = 3;

/** Output formats of `inject`. */
export type InjectOutputFormat = 'yaml' | 'json' | 'patch';

/** Options of the `inject` command. */
export interface InjectOptions {
  config: string;
  file: string;
  output: InjectOutputFormat;
  namespace?: string;
}

/**
 * Run the `inject` command: print the result on stdout, warnings on stderr; throws a {@link CliError} with exit
 * code {@link DENIED_EXIT_CODE} when the webhook would deny the pod.
 */
export async function runInject(options: InjectOptions): Promise<void> {
  const [{ createAdmissionHandler }, { applyPatch }, { createInjectorsFromConfig }] = await Promise.all([
    import('../../webhook/handler.js'),
    import('../../inject/patch.js'),
    import('../../assemble/index.js'),
  ]);
  const { parsePodText, toYaml } = await import('../pod-text.js');
  const config = await readConfigFile(options.config);
  const source = options.file === '-' ? '(stdin)' : options.file;
  const pod = parsePodText((await readInput(options.file)).toString('utf8'), source);
  const namespace = options.namespace ?? (pod.metadata?.namespace !== undefined && pod.metadata.namespace !== '' ? pod.metadata.namespace : 'default');

  const { mutator } = await createInjectorsFromConfig(config);
  // The same handler the server runs, fed the review the API server would send for a dry-run CREATE.
  const handle = createAdmissionHandler({ mutator });
  const review = {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: 'flyte-secrets-inject',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      namespace,
      operation: 'CREATE',
      object: pod,
      dryRun: true,
    },
  };
  const result = await handle(Buffer.from(JSON.stringify(review)));
  const response = (result.body as { response?: { allowed: boolean; patch?: string; warnings?: string[]; status?: { message?: string } } }).response;
  if (result.status !== 200 || response === undefined) {
    throw new CliError(`${source}: ${(result.body as { message?: string }).message ?? 'the pod could not be admitted'}`);
  }
  for (const w of response.warnings ?? []) process.stderr.write(`warning: ${w}\n`);
  if (!response.allowed) {
    throw new CliError(`the webhook would deny this pod: ${response.status?.message ?? 'no reason given'}`, DENIED_EXIT_CODE);
  }
  const patch = response.patch === undefined ? [] : (JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) as Parameters<typeof applyPatch>[1]);
  if (options.output === 'patch') {
    process.stdout.write(`${JSON.stringify(patch, null, 2)}\n`);
    return;
  }
  const mutated = patch.length > 0 ? applyPatch(pod, patch) : pod;
  process.stdout.write(options.output === 'json' ? `${JSON.stringify(mutated, null, 2)}\n` : toYaml(mutated));
}

export function register(program: Command): void {
  program
    .command('inject')
    .description('Run the webhook’s mutation on a Pod offline (a dry run) and print the mutated Pod or the JSON patch')
    .requiredOption('-c, --config <file>', 'config file (YAML or JSON), as given to `serve`')
    .requiredOption('-f, --file <pod>', 'Pod manifest (YAML or JSON), or - for stdin; a bare Pod, not an AdmissionReview')
    .addOption(new Option('-o, --output <format>', 'what to print').choices(['yaml', 'json', 'patch']).default('yaml'))
    .option('-n, --namespace <ns>', 'namespace of the admission (default: the Pod’s metadata.namespace, else "default")')
    .addHelpText(
      'after',
      [
        '',
        'The mutation is exactly the webhook’s (same injectors, mutator and admission handler), run as a dry run:',
        'Embedded secrets are fetched, but no image-pull secret is mirrored. Warnings are printed on stderr.',
        '',
        'Exit codes: 0 admitted (mutated or unchanged), 1 bad input or config, 2 usage error,',
        `            ${DENIED_EXIT_CODE} the webhook would deny the pod (the reason is printed on stderr).`,
        '',
        'Examples:',
        '  $ flyte-secrets inject --config config.yaml -f pod.yaml',
        '  $ kubectl get pod my-pod -o json | flyte-secrets inject --config config.yaml -f - -o patch',
      ].join('\n'),
    )
    .action(async (opts: InjectOptions) => {
      await runInject(opts);
    });
}
