/**
 * `flyte-secrets decode-annotations -f POD|-`: print the secret requests a Pod carries in its `flyte.secrets/s<i>`
 * annotations, as a JSON array in annotation-index order (s0, s1, …, s10).
 *
 * Exit codes: 0 printed (`[]` when there are none), 1 bad pod file or an annotation the webhook would reject (the
 * message is the webhook's), 2 usage.
 *
 * @module
 */
import type { Command } from 'commander';
import { decodeSecretAnnotations, type DecodedSecret } from '../../secret/annotations.js';
import { mountRequirementName } from '../../secret/model.js';
import { CliError, readInput } from '../io.js';

/** One printed secret: absent fields are empty strings; the mount requirement is its name (or the number, as text). */
export interface DecodedSecretJson {
  group: string;
  groupVersion: string;
  key: string;
  mountRequirement: string;
  envVar: string;
}

/**
 * The printed form of decoded secrets.
 *
 * @example
 * ```ts
 * toDecodedJson(decodeSecretAnnotations(pod.metadata?.annotations))
 * ```
 */
export function toDecodedJson(decoded: readonly DecodedSecret[]): DecodedSecretJson[] {
  return decoded.map(({ secret }) => ({
    group: secret.group,
    groupVersion: secret.groupVersion,
    key: secret.key,
    mountRequirement: mountRequirementName(secret.mountRequirement),
    envVar: secret.envVar,
  }));
}

export function register(program: Command): void {
  program
    .command('decode-annotations')
    .description('Print the secret requests in a Pod’s flyte.secrets/s<i> annotations as JSON, in annotation-index order')
    .requiredOption('-f, --file <pod>', 'Pod manifest (YAML or JSON), or - for stdin')
    .addHelpText(
      'after',
      [
        '',
        'Prints [{"group","groupVersion","key","mountRequirement","envVar"}, …]; absent fields are "" and the mount',
        'requirement is ANY, ENV_VAR, FILE (or the number, for a value Flyte does not know). An annotation the webhook',
        'could not decode is an error with the webhook’s message.',
        '',
        'Examples:',
        '  $ flyte-secrets decode-annotations -f pod.yaml',
        '  $ kubectl get pod my-pod -o json | flyte-secrets decode-annotations -f -',
      ].join('\n'),
    )
    .action(async (opts: { file: string }) => {
      const source = opts.file === '-' ? '(stdin)' : opts.file;
      const { parsePodText } = await import('../pod-text.js');
      const pod = parsePodText((await readInput(opts.file)).toString('utf8'), source);
      const annotations: unknown = pod.metadata?.annotations;
      if (annotations !== undefined && annotations !== null) {
        if (typeof annotations !== 'object' || Array.isArray(annotations)) throw new CliError(`${source}: metadata.annotations is not a map`);
        for (const [k, v] of Object.entries(annotations)) {
          if (typeof v !== 'string') throw new CliError(`${source}: annotation ${JSON.stringify(k)} is not a string`);
        }
      }
      const decoded = decodeSecretAnnotations((annotations ?? undefined) as Record<string, string> | undefined);
      process.stdout.write(`${JSON.stringify(toDecodedJson(decoded), null, 2)}\n`);
    });
}
