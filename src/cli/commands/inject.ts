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
import type { Pod } from 'kubernetes-types/core/v1.js';
import { parseAllDocuments, stringify } from 'yaml';
import { isRecord, podShapeProblem } from '../../webhook/pod-shape.js';
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
 * Read a bare Pod from YAML or JSON text. Refuses several documents, non-objects, other kinds and AdmissionReviews
 * with a message saying what to pass instead.
 */
export function parsePodText(text: string, source: string): Pod {
  const docs = parseAllDocuments(text, { uniqueKeys: true });
  const nonEmpty = docs.filter((d) => d.contents !== null || d.errors.length > 0);
  if (nonEmpty.length === 0) throw new CliError(`${source}: empty input; pass a Pod manifest (YAML or JSON)`);
  if (nonEmpty.length > 1) throw new CliError(`${source}: holds ${nonEmpty.length} documents; pass exactly one Pod`);
  const doc = nonEmpty[0];
  if (doc === undefined) throw new CliError(`${source}: empty input`);
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const where = e?.linePos ? ` (line ${e.linePos[0].line}, column ${e.linePos[0].col})` : '';
    throw new CliError(`${source}: not valid YAML or JSON${where}: ${(e?.message ?? '').split('\n')[0] ?? ''}`);
  }
  let pod: unknown;
  try {
    // toJS resolves aliases: an unresolved one or an alias bomb throws the YAML library's own error.
    pod = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new CliError(`${source}: not a usable YAML document: ${err instanceof Error ? (err.message.split('\n')[0] ?? '') : String(err)}`, 1, { cause: err });
  }
  if (!isRecord(pod)) throw new CliError(`${source}: expected a Pod object, got ${Array.isArray(pod) ? 'a list' : pod === null ? 'null' : typeof pod}`);
  if (pod['kind'] === 'AdmissionReview') throw new CliError(`${source}: this is an AdmissionReview; pass the bare Pod (its request.object) instead`);
  if (pod['kind'] !== undefined && pod['kind'] !== 'Pod') throw new CliError(`${source}: expected kind Pod, got ${JSON.stringify(pod['kind'])}`);
  if (pod['apiVersion'] !== undefined && pod['apiVersion'] !== 'v1') throw new CliError(`${source}: expected apiVersion v1 for a Pod, got ${JSON.stringify(pod['apiVersion'])}`);
  for (const key of ['metadata', 'spec'] as const) {
    if (pod[key] !== undefined && !isRecord(pod[key])) throw new CliError(`${source}: the Pod's ${key} is not an object`);
  }
  const problem = podShapeProblem(pod);
  if (problem !== undefined) throw new CliError(`${source}: ${problem}`);
  return pod;
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
  process.stdout.write(options.output === 'json' ? `${JSON.stringify(mutated, null, 2)}\n` : stringify(mutated, { lineWidth: 0 }));
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
