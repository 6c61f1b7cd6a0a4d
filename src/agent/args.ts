/**
 * The in-pod agent's command line (`flyte-secrets agent …`), parsed without commander so the agent starts fast.
 *
 * Everything the agent needs is in its arguments (the webhook writes them into the init container):
 *
 * - `--file SOURCE=PATH` (repeatable): write the secret SOURCE at the absolute PATH;
 * - `--env SOURCE=KEY` (repeatable): put the secret SOURCE under KEY in the env file;
 * - `--env-file PATH`: where the env file is written (needed with any `--env`);
 * - `--deadline DURATION`: overall deadline, retries included (Go duration, default {@link DEFAULT_AGENT_DEADLINE});
 * - `--broker URL`, `--token-file PATH`: where `embedded:<i>` sources are fetched (an `https://` URL) and the
 *   projected service-account token sent with the request; the broker's CA comes from the env
 *   `FLYTE_SECRETS_BROKER_CA`.
 *
 * A leading `--` is skipped: the webhook writes `agent -- …`, because Node reads a `--env-file` argument as its own
 * option, even after the script name, unless `--` comes first (nodejs/node#54232).
 *
 * Each `SOURCE=TARGET` is split at the first `=`. SOURCE is a Key Vault secret URI
 * `https://<vault host>/secrets/<name>[/<version>]`, or `embedded:<i>`: the Embedded secret of the pod's annotation
 * `flyte.secrets/s<i>`, served by a broker. New options are one more `case` in {@link parseAgentArgs}.
 *
 * Pure: no I/O. Throws {@link FlyteSecretsError} code `Usage` naming the bad argument.
 *
 * @module
 */
import { parseDuration } from '../config/duration.js';
import { FlyteSecretsError } from '../errors.js';

/** Deadline used when `--deadline` is not given. */
export const DEFAULT_AGENT_DEADLINE = '2m';

/** Where a secret comes from. */
export type AgentSource =
  /** A Key Vault secret: `uri` as given, `vaultUrl` = `https://<host>[:port]`, `version` `''` for the latest. */
  | { kind: 'keyvault'; uri: string; vaultUrl: string; name: string; version: string }
  /** The Embedded secret of annotation `flyte.secrets/s<index>` (fetched from the broker). */
  | { kind: 'embedded'; uri: string; index: number };

/** One `--file` item. */
export interface AgentFileItem {
  source: AgentSource;
  /** Absolute path of the file. */
  path: string;
}

/** One `--env` item. */
export interface AgentEnvItem {
  source: AgentSource;
  /** Key in the env file. */
  key: string;
}

/** The parsed command line. */
export interface AgentArgs {
  files: AgentFileItem[];
  envs: AgentEnvItem[];
  /** `--env-file`, absent when not given. */
  envFile?: string;
  /** `--deadline` in milliseconds. */
  deadlineMs: number;
  /** `--broker`: the broker's URL (for `embedded:<i>` sources). */
  broker?: string;
  /** `--token-file`: the projected token sent to the broker. */
  tokenFile?: string;
  /** `--help` was given. */
  help: boolean;
}

/** The usage text of `flyte-secrets agent --help`. */
export const AGENT_USAGE = `Usage: flyte-secrets agent [options]

Runs inside a pod as its init container: fetches every listed secret in
parallel, then writes them all (or none).

Options:
  --file SOURCE=PATH     write secret SOURCE at PATH (repeatable)
  --env SOURCE=KEY       put secret SOURCE under KEY in the env file
                         (repeatable)
  --env-file PATH        where the env file is written (needed with --env)
  --deadline DURATION    overall deadline, retries included
                         (default ${DEFAULT_AGENT_DEADLINE})
  --broker URL           the broker that serves embedded:<i> sources
                         (its CA in FLYTE_SECRETS_BROKER_CA)
  --token-file PATH      the projected service-account token sent to the
                         broker
  -h, --help             show this help

SOURCE is a Key Vault secret URI,
https://<vault>.vault.azure.net/secrets/<name>[/<version>], read with the
pod's workload identity, or embedded:<i>, the Embedded secret of annotation
flyte.secrets/s<i>, served by the broker. The webhook writes these arguments
(after "agent --", because Node reads a script's --env-file as its own).

Examples:
  $ flyte-secrets agent -- --file https://myvault.vault.azure.net/secrets/db-password=/etc/flyte/secrets/db-password
  $ flyte-secrets agent -- --env https://myvault.vault.azure.net/secrets/api-key=API_KEY --env-file /var/run/flyte-secrets/env/secrets.env --deadline 1m
`;

const NAME = /^[0-9A-Za-z-]{1,127}$/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
/** Env-file keys the kubelet reads back: printable ASCII, no space, `=` or quote, not starting with `#`. */
const ENV_KEY = /^[\x21-\x22\x24-\x26\x28-\x3c\x3e-\x7e][\x21-\x26\x28-\x3c\x3e-\x7e]*$/;

function usage(message: string): FlyteSecretsError {
  return new FlyteSecretsError('Usage', `${message} (run flyte-secrets agent --help for usage)`);
}

/**
 * Parse a SOURCE: a Key Vault secret URI or `embedded:<i>`.
 *
 * @example
 * ```ts
 * parseAgentSource('https://v.vault.azure.net/secrets/db') // { kind: 'keyvault', vaultUrl: 'https://v.vault.azure.net', name: 'db', version: '', … }
 * parseAgentSource('embedded:3') // { kind: 'embedded', index: 3, uri: 'embedded:3' }
 * ```
 */
export function parseAgentSource(text: string): AgentSource {
  if (text.startsWith('embedded:')) {
    const i = text.slice('embedded:'.length);
    if (!/^(0|[1-9]\d{0,8})$/.test(i)) throw usage(`the source ${JSON.stringify(text)} is not embedded:<i> with <i> the index of a flyte.secrets/s<i> annotation`);
    return { kind: 'embedded', uri: text, index: Number(i) };
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw usage(`the source ${JSON.stringify(text)} is neither a Key Vault secret URI (https://<vault>.vault.azure.net/secrets/<name>[/<version>]) nor embedded:<i>`);
  }
  const parts = url.pathname.split('/');
  const shaped = parts.length >= 3 && parts.length <= 4 && parts[0] === '' && parts[1] === 'secrets';
  const name = parts[2] ?? '';
  const version = parts[3] ?? '';
  if (url.protocol !== 'https:' || url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '' || !shaped || !NAME.test(name) || (parts.length === 4 && !NAME.test(version))) {
    throw usage(`the source ${JSON.stringify(text)} is not a Key Vault secret URI: expected https://<vault>.vault.azure.net/secrets/<name>[/<version>] (name and version: letters, digits and "-")`);
  }
  return { kind: 'keyvault', uri: text, vaultUrl: url.origin, name, version };
}

function splitItem(flag: string, value: string | undefined): [string, string] {
  if (value === undefined) throw usage(`${flag} needs a value SOURCE=${flag === '--file' ? 'PATH' : 'KEY'}`);
  const eq = value.indexOf('=');
  if (eq <= 0 || eq === value.length - 1) throw usage(`${flag} ${JSON.stringify(value)} is not SOURCE=${flag === '--file' ? 'PATH' : 'KEY'}`);
  return [value.slice(0, eq), value.slice(eq + 1)];
}

function checkPath(flag: string, path: string): string {
  if (!path.startsWith('/') || CONTROL.test(path) || path.split('/').some((p, i) => (i > 0 && p === '') || p === '.' || p === '..') || path.endsWith('/')) {
    throw usage(`${flag} path ${JSON.stringify(path)} must be an absolute path without "." or ".." parts, empty parts or control characters`);
  }
  return path;
}

function overlap(a: string, b: string): boolean {
  return a === b || a.startsWith(`${b}/`) || b.startsWith(`${a}/`);
}

/**
 * Parse the arguments after the word `agent`.
 *
 * @example
 * ```ts
 * parseAgentArgs(['--file', 'https://v.vault.azure.net/secrets/db=/etc/flyte/secrets/db', '--deadline', '30s'])
 * ```
 */
export function parseAgentArgs(argv: readonly string[]): AgentArgs {
  const out: AgentArgs = { files: [], envs: [], deadlineMs: parseDuration(DEFAULT_AGENT_DEADLINE) ?? 120_000, help: false };
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i] ?? '';
    const eq = raw.startsWith('--') ? raw.indexOf('=') : -1;
    const flag = eq > 0 ? raw.slice(0, eq) : raw;
    const value = (): string | undefined => (eq > 0 ? raw.slice(eq + 1) : argv[++i]);
    switch (flag) {
      case '--':
        // Written by the webhook so that Node does not read the agent's --env-file as its own option.
        if (i === 0) break;
        throw usage('"--" is allowed only first');
      case '-h':
      case '--help':
        out.help = true;
        break;
      case '--file': {
        const [source, path] = splitItem(flag, value());
        out.files.push({ source: parseAgentSource(source), path: checkPath(flag, path) });
        break;
      }
      case '--env': {
        const [source, key] = splitItem(flag, value());
        if (!ENV_KEY.test(key)) throw usage(`--env key ${JSON.stringify(key)} cannot be an env-file key: use printable ASCII without spaces, "=", "'" or a leading "#"`);
        out.envs.push({ source: parseAgentSource(source), key });
        break;
      }
      case '--env-file': {
        const v = value();
        if (v === undefined) throw usage('--env-file needs a PATH');
        out.envFile = checkPath(flag, v);
        break;
      }
      case '--broker': {
        const v = value() ?? '';
        let url: URL | undefined;
        try {
          url = new URL(v);
        } catch {
          url = undefined;
        }
        if (url?.protocol !== 'https:' || url.username !== '' || url.password !== '') throw usage(`--broker needs an https:// URL, got ${JSON.stringify(v)}`);
        out.broker = v;
        break;
      }
      case '--token-file': {
        const v = value();
        if (v === undefined) throw usage('--token-file needs a PATH');
        out.tokenFile = checkPath(flag, v);
        break;
      }
      case '--deadline': {
        const v = value();
        const ms = v === undefined ? undefined : parseDuration(v);
        if (ms === undefined || ms <= 0) throw usage(`--deadline needs a positive duration such as "30s" or "2m", got ${JSON.stringify(v ?? '')}`);
        out.deadlineMs = ms;
        break;
      }
      default:
        throw usage(`unknown argument ${JSON.stringify(raw)}`);
    }
  }
  if (out.help) return out;
  if (out.files.length === 0 && out.envs.length === 0) throw usage('nothing to deliver: give at least one --file or --env');
  if (out.envs.length > 0 && out.envFile === undefined) throw usage('--env needs --env-file PATH (where the env file is written)');
  const paths = out.envFile === undefined ? out.files.map((f) => f.path) : [...out.files.map((f) => f.path), out.envFile];
  for (let a = 0; a < paths.length; a++) {
    for (let b = a + 1; b < paths.length; b++) {
      if (overlap(paths[a] ?? '', paths[b] ?? '')) throw usage(`the paths ${JSON.stringify(paths[a])} and ${JSON.stringify(paths[b])} collide (the same file, or one inside the other)`);
    }
  }
  const keys = new Map<string, string>();
  for (const e of out.envs) {
    const seen = keys.get(e.key);
    if (seen !== undefined && seen !== e.source.uri) throw usage(`the env-file key ${JSON.stringify(e.key)} is given for two different sources`);
    keys.set(e.key, e.source.uri);
  }
  return out;
}
