/**
 * `flyte-secrets annotate --secret 'group=G,key=K,…' [--secret-json '{…}'] -f POD|- [-o yaml|json]`: add secret
 * requests to a Pod the way the Flyte executor does (`flyte.secrets/s<i>` annotations + the
 * `inject-flyte-secrets: "true"` label) and print it. The i-th secret given, in command-line order across both
 * options, becomes `flyte.secrets/s<i>`.
 *
 * Exit codes: 0 printed, 1 bad pod file or a secret Flyte would refuse, 2 usage (bad `--secret`/`--secret-json`).
 *
 * @module
 */
import { Option, type Command } from 'commander';
import { annotatePod } from '../../secret/annotations.js';
import { makeSecret, parseMountRequirement, type Secret } from '../../secret/model.js';
import { CliError, readInput } from '../io.js';

/** The keys `--secret` accepts (`mountRequirement` is an alias of `mount`). */
const SPEC_KEYS = ['group', 'groupVersion', 'key', 'mount', 'mountRequirement', 'envVar'] as const;
type SpecKey = (typeof SPEC_KEYS)[number];

function isSpecKey(k: string): k is SpecKey {
  return (SPEC_KEYS as readonly string[]).includes(k);
}

function buildSecret(fields: Partial<Record<SpecKey, string>>, where: string): Secret {
  if (fields.mount !== undefined && fields.mountRequirement !== undefined) {
    throw new CliError(`${where}: give mount or mountRequirement, not both`, 2);
  }
  const mountText = fields.mount ?? fields.mountRequirement;
  let mountRequirement = 0;
  if (mountText !== undefined) {
    const parsed = parseMountRequirement(mountText);
    if (parsed === undefined) throw new CliError(`${where}: unknown mount ${JSON.stringify(mountText)}; use FILE, ENV_VAR or ANY`, 2);
    mountRequirement = parsed;
  }
  const secret = makeSecret({
    group: fields.group ?? '',
    groupVersion: fields.groupVersion ?? '',
    key: fields.key ?? '',
    envVar: fields.envVar ?? '',
    mountRequirement,
  });
  if (secret.group === '' && secret.key === '') throw new CliError(`${where}: a secret needs a group or a key`, 2);
  return secret;
}

/**
 * Parse a `--secret` value: comma-separated `name=value` pairs with names `group`, `groupVersion`, `key`,
 * `mount` (`FILE`, `ENV_VAR` or `ANY`, case-insensitive) and `envVar`. A value runs to the next comma, so values
 * containing commas need `--secret-json`. Throws a usage {@link CliError} (exit 2) naming the problem.
 *
 * @example
 * ```ts
 * parseSecretSpec('group=db-creds,key=password,mount=ENV_VAR,envVar=DB_PASSWORD')
 * ```
 */
export function parseSecretSpec(text: string): Secret {
  const where = `--secret ${JSON.stringify(text)}`;
  const fields: Partial<Record<SpecKey, string>> = {};
  if (text.trim() === '') throw new CliError(`${where}: empty; expected name=value pairs such as group=G,key=K`, 2);
  for (const item of text.split(',')) {
    const eq = item.indexOf('=');
    if (eq < 0) throw new CliError(`${where}: ${JSON.stringify(item)} is not name=value`, 2);
    const name = item.slice(0, eq).trim();
    const value = item.slice(eq + 1);
    if (!isSpecKey(name)) {
      throw new CliError(`${where}: unknown field ${JSON.stringify(name)}; use group, groupVersion, key, mount, envVar`, 2);
    }
    if (fields[name] !== undefined) throw new CliError(`${where}: ${name} is given twice`, 2);
    fields[name] = value;
  }
  return buildSecret(fields, where);
}

/**
 * Parse a `--secret-json` value: an object with optional string fields `group`, `groupVersion`, `key`, `mount`
 * (or `mountRequirement`: `FILE`, `ENV_VAR`, `ANY`) and `envVar`. Throws a usage {@link CliError} (exit 2).
 *
 * @example
 * ```ts
 * parseSecretJson('{"group":"https://v.vault.azure.net/secrets/a,b","mount":"FILE"}')
 * ```
 */
export function parseSecretJson(text: string): Secret {
  const where = `--secret-json ${JSON.stringify(text)}`;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new CliError(`${where}: not valid JSON (${err instanceof Error ? err.message : 'parse error'})`, 2);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new CliError(`${where}: expected a JSON object`, 2);
  const fields: Partial<Record<SpecKey, string>> = {};
  for (const [name, v] of Object.entries(value)) {
    if (!isSpecKey(name)) {
      throw new CliError(`${where}: unknown field ${JSON.stringify(name)}; use group, groupVersion, key, mount, envVar`, 2);
    }
    if (typeof v !== 'string') throw new CliError(`${where}: ${name} must be a string`, 2);
    fields[name] = v;
  }
  return buildSecret(fields, where);
}

/** One secret option as given on the command line. */
interface SecretArg {
  option: 'secret' | 'secret-json';
  text: string;
}

export function register(program: Command): void {
  // Both options append to one list, so the order across them is the command-line order.
  const secretArgs: SecretArg[] = [];
  const collect =
    (option: SecretArg['option']) =>
    (text: string): SecretArg[] => {
      secretArgs.push({ option, text });
      return secretArgs;
    };
  program
    .command('annotate')
    .description('Add Flyte secret requests to a Pod (flyte.secrets/s<i> annotations + the inject-flyte-secrets label) and print it')
    .addOption(
      new Option('--secret <spec>', "a secret as 'group=G,key=K,groupVersion=V,mount=FILE|ENV_VAR|ANY,envVar=E' (repeatable)").argParser(
        collect('secret'),
      ),
    )
    .addOption(
      new Option('--secret-json <json>', 'a secret as JSON {"group","groupVersion","key","mount","envVar"} (repeatable)').argParser(
        collect('secret-json'),
      ),
    )
    .requiredOption('-f, --file <pod>', 'Pod manifest (YAML or JSON), or - for stdin')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['yaml', 'json']).default('yaml'))
    .addHelpText(
      'after',
      [
        '',
        'The i-th secret given (in command-line order across --secret and --secret-json) becomes flyte.secrets/s<i>;',
        'existing annotations and labels are kept. Fields left out are empty (mount defaults to ANY).',
        '',
        'Examples:',
        "  $ flyte-secrets annotate -f pod.yaml --secret 'group=db-creds,key=password,mount=ENV_VAR,envVar=DB_PASSWORD'",
        "  $ flyte-secrets annotate -f - -o json --secret 'key=openai-key,mount=ENV_VAR' \\",
        '      --secret-json \'{"group":"https://myvault.vault.azure.net/secrets/db-password","groupVersion":"4f1a","mount":"FILE"}\' < pod.yaml',
      ].join('\n'),
    )
    .action(async (opts: { file: string; output: 'yaml' | 'json' }) => {
      if (secretArgs.length === 0) throw new CliError('give at least one --secret or --secret-json', 2);
      const secrets = secretArgs.map((a) => (a.option === 'secret' ? parseSecretSpec(a.text) : parseSecretJson(a.text)));
      const source = opts.file === '-' ? '(stdin)' : opts.file;
      const { parsePodText, toYaml } = await import('../pod-text.js');
      const pod = parsePodText((await readInput(opts.file)).toString('utf8'), source);
      const out = annotatePod(pod, secrets);
      process.stdout.write(opts.output === 'json' ? `${JSON.stringify(out, null, 2)}\n` : toYaml(out));
    });
}
