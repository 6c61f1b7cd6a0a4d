/**
 * `flyte-secrets agent …`: the in-pod half. Runs as the pod's one init container `flyte-secrets-agent`, fetches every
 * secret its arguments list in parallel, and writes them all or none:
 *
 * - a FILE secret at its path with the bytes the Azure CLI init container writes (`az … -o tsv`: the value and one
 *   `\n`), atomically, mode `0444` (`0440` when the pod has an `fsGroup`);
 * - ENV secrets into one Kubernetes env file (`KEY='value'` lines, read by the kubelet for `fileKeyRef`), after
 *   checking that every value can be carried (no single quote, carriage return or NUL; lines within the kubelet's
 *   limit).
 *
 * Exit codes: 0 all delivered, 1 some secret could not be delivered (nothing written), 2 bad arguments. Messages go to
 * stderr, one line each, prefixed `flyte-secrets agent:`; they name secrets by URI, never a value.
 *
 * Start-up matters (this runs before the task, under the init container's CPU limit): this module loads only Node
 * built-ins and the small argument parser; the Azure SDK is imported only when a Key Vault secret is listed. The CLI
 * shim (`bin/flyte-secrets.js`) comes here directly for `agent`, without commander, zod or the config loader.
 *
 * @module
 */
import { isFlyteSecretsError } from '../errors.js';
import { AGENT_USAGE, parseAgentArgs, type AgentArgs, type AgentSource } from './args.js';
import { envFileValueProblem, formatEnvFile } from './envfile.js';
import type { EmbeddedOutcome } from './broker.js';
import type { FetchOutcome, KeyVaultTarget } from './keyvault.js';
import { writeAll, type PlannedFile } from './write.js';

/** Prefix of every line the agent prints. */
export const AGENT_LOG_PREFIX = 'flyte-secrets agent:';

/** The one line printed when a Key Vault secret is listed but the container has no Azure identity env. */
export const AGENT_NO_IDENTITY_MESSAGE =
  'no Azure workload identity in this container (AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_FEDERATED_TOKEN_FILE are not all set): label the pod azure.workload.identity/use: "true" and run it with a service account annotated azure.workload.identity/client-id';

/** What {@link runAgent} reads and writes besides the file system. */
export interface AgentIo {
  env: NodeJS.ProcessEnv;
  /** One line to stderr. */
  log: (line: string) => void;
}

function hasIdentity(env: NodeJS.ProcessEnv): boolean {
  const set = (k: string): boolean => (env[k] ?? '') !== '';
  return set('AZURE_CLIENT_ID') && set('AZURE_TENANT_ID') && (set('AZURE_FEDERATED_TOKEN_FILE') || set('AZURE_CLIENT_SECRET'));
}

function formatMs(ms: number): string {
  return ms % 60_000 === 0 ? `${ms / 60_000}m` : ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/**
 * Deliver what `args` lists. Returns the exit code; never throws for a failed secret.
 *
 * @example
 * ```ts
 * const code = await runAgent(parseAgentArgs(argv), { env: process.env, log: (l) => process.stderr.write(`${l}\n`) });
 * ```
 */
export async function runAgent(args: AgentArgs, io: AgentIo): Promise<number> {
  const started = Date.now();
  const deadlineAt = started + args.deadlineMs;
  const say = (line: string): void => io.log(`${AGENT_LOG_PREFIX} ${line}`);
  const sources = new Map<string, AgentSource>();
  for (const item of [...args.files, ...args.envs]) sources.set(item.source.uri, item.source);

  const embedded = [...sources.values()].filter((s) => s.kind === 'embedded');
  let fromBroker: Promise<EmbeddedOutcome> | undefined;
  if (embedded.length > 0) {
    if (args.broker === undefined || args.tokenFile === undefined) {
      for (const s of embedded) say(`${s.uri}: an Embedded secret needs a broker to fetch it, and this agent was given none (--broker and --token-file); nothing was written`);
      return 2;
    }
    // Started now, so it runs alongside the Key Vault fetches.
    const { fetchEmbedded } = await import('./broker.js');
    fromBroker = fetchEmbedded(
      embedded.map((s) => s.uri),
      { broker: args.broker, tokenFile: args.tokenFile, env: io.env, deadlineAt },
    );
  }
  const vault: KeyVaultTarget[] = [];
  for (const s of sources.values()) if (s.kind === 'keyvault') vault.push({ uri: s.uri, vaultUrl: s.vaultUrl, name: s.name, version: s.version });
  if (vault.length > 0 && !hasIdentity(io.env)) {
    say(`${AGENT_NO_IDENTITY_MESSAGE}; nothing was written`);
    return 1;
  }

  const values = new Map<string, string>();
  const failed = new Set<string>();
  if (vault.length > 0) {
    const { fetchKeyVaultSecrets } = await import('./keyvault.js');
    const outcomes: FetchOutcome[] = await fetchKeyVaultSecrets(vault, { deadlineAt, env: io.env });
    outcomes.forEach((o, i) => {
      const uri = vault[i]?.uri ?? '';
      if (o.ok) values.set(uri, o.value);
      else {
        failed.add(uri);
        say(`${uri}: ${o.text}`);
      }
    });
  }
  // Embedded values: files get the exact bytes (as Flyte's Embedded init container writes them), env entries the text.
  const exact = new Map<string, Uint8Array>();
  if (fromBroker !== undefined) {
    const r = await fromBroker;
    if ('failed' in r) {
      for (const s of embedded) failed.add(s.uri);
      for (const line of r.failed) say(line);
    } else {
      for (const [uri, v] of r.values) {
        exact.set(uri, v.bytes);
        try {
          values.set(uri, new TextDecoder('utf-8', { fatal: true }).decode(v.bytes));
        } catch {
          if (args.envs.some((e) => e.source.uri === uri)) {
            failed.add(uri);
            say(`${uri}: has a binary value that is not valid UTF-8, so it cannot be an environment variable; request it as a file (mount_requirement FILE)`);
          }
        }
      }
    }
  }
  // Every env value must survive the env file before anything is written.
  const envEntries: { key: string; value: string }[] = [];
  for (const e of args.envs) {
    const value = values.get(e.source.uri);
    if (value === undefined) continue;
    const problem = envFileValueProblem(e.key, value);
    if (problem !== undefined) {
      failed.add(e.source.uri);
      say(`${e.source.uri}: cannot be the environment variable ${e.key}: ${problem}; request this secret as a file instead (mount_requirement FILE)`);
    } else envEntries.push({ key: e.key, value });
  }
  if (failed.size > 0) {
    say(`failed: ${failed.size} of ${sources.size} secret${sources.size === 1 ? '' : 's'} could not be delivered (deadline ${formatMs(args.deadlineMs)}); nothing was written`);
    return 1;
  }
  const plan: PlannedFile[] = args.files.map((f) => ({ path: f.path, content: exact.get(f.source.uri) ?? `${values.get(f.source.uri) ?? ''}\n`, kind: 'secret' }));
  if (args.envFile !== undefined && args.envs.length > 0) plan.push({ path: args.envFile, content: formatEnvFile(envEntries), kind: 'envfile' });
  try {
    await writeAll(plan);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    say(`could not write the secrets (${e.code ?? e.name}${e.path === undefined ? '' : ` at ${e.path}`}): check that the volumes are mounted writable in this container; nothing was written`);
    return 1;
  }
  say(`delivered ${args.files.length} file${args.files.length === 1 ? '' : 's'} and ${args.envs.length} env var${args.envs.length === 1 ? '' : 's'} from ${sources.size} secret${sources.size === 1 ? '' : 's'} in ${Date.now() - started} ms`);
  return 0;
}

/**
 * Parse `argv` (the words after `agent`), run the agent, return the exit code. What the CLI shim and the `agent`
 * command call.
 *
 * @example
 * ```ts
 * process.exitCode = await runAgentCli(process.argv.slice(3));
 * ```
 */
export async function runAgentCli(argv: readonly string[], io: AgentIo = { env: process.env, log: (line) => process.stderr.write(`${line}\n`) }): Promise<number> {
  let args: AgentArgs;
  try {
    args = parseAgentArgs(argv);
  } catch (err) {
    if (isFlyteSecretsError(err)) {
      io.log(`${AGENT_LOG_PREFIX} ${err.message}`);
      return 2;
    }
    throw err;
  }
  if (args.help) {
    process.stdout.write(AGENT_USAGE);
    return 0;
  }
  return runAgent(args, io);
}
