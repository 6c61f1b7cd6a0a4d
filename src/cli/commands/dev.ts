/**
 * `flyte-secrets dev [--port 9443] [--emulator-port 0] [--seed FILE] [--config FILE] [--state-dir DIR] [--host H] [--json]`:
 * the local loop behind `npm start` (src/dev/index.ts): the Key Vault emulator with example secrets, a local CA, and
 * the webhook on HTTPS with `[Azure, Embedded]` against that emulator. Prints a banner (or, with `--json`, one JSON
 * line) once ready, logs admissions on stderr, and stops everything on Ctrl-C (SIGINT) or SIGTERM, exiting 0.
 *
 * `flyte-secrets dev send POD… --url URL [--ca FILE] [--show-values] [-o text|yaml]`: send pods through a running
 * webhook as the API server does and show what was injected (src/dev/send.ts). Exit 3 when a pod is denied.
 *
 * @module
 */
import { Option, type Command } from 'commander';
import { CliError, printLine, readInput } from '../io.js';
import { untilStopSignal } from '../signals.js';
import { DENIED_EXIT_CODE } from './inject.js';

function portOption(flag: string): (value: string) => number {
  return (value: string) => {
    if (!/^\d+$/.test(value.trim()) || Number(value) > 65535) throw new CliError(`${flag} must be a port number from 0 to 65535 (0 = any free port), got "${value}"`, 2);
    return Number(value);
  };
}

/** Options of the `dev` command, as commander parses them. */
interface DevCliOptions {
  port: number;
  emulatorPort: number;
  host: string;
  seed?: string;
  config?: string;
  stateDir?: string;
  json?: boolean;
}

/** Options of `dev send`. */
interface SendCliOptions {
  url: string;
  ca?: string;
  namespace?: string;
  showValues?: boolean;
  output: 'text' | 'yaml';
}


async function runDev(opts: DevCliOptions): Promise<void> {
  const [{ startDevEnvironment, devBanner, devSendCommand, devPathCommand }, { createDevLogger }] = await Promise.all([import('../../dev/index.js'), import('../../dev/log.js')]);
  // Listen for Ctrl-C from the start, so an early one still stops cleanly (and skips the banner).
  let stopping = false;
  const stop = untilStopSignal('flyte-secrets dev').then((s) => {
    stopping = true;
    return s;
  });
  const logger = createDevLogger();
  const env = await startDevEnvironment({
    port: opts.port,
    emulatorPort: opts.emulatorPort,
    host: opts.host,
    logger,
    ...(opts.seed === undefined ? {} : { seedFile: opts.seed }),
    ...(opts.config === undefined ? {} : { configFile: opts.config }),
    ...(opts.stateDir === undefined ? {} : { stateDir: opts.stateDir }),
  });
  // Paths in the printed command are relative to where the user typed `npm start` (npm runs scripts elsewhere).
  const commandOptions = { cwd: process.env.INIT_CWD ?? process.cwd(), ...(process.argv[1] !== undefined ? { bin: process.argv[1] } : {}) };
  if (stopping) {
    // Stopped while starting: nothing to announce.
  } else if (opts.json === true) {
    printLine(
      JSON.stringify({
        webhookUrl: env.webhookUrl,
        vaultUrl: env.vaultUrl,
        caFile: env.caFile,
        emulatorCaFile: env.emulatorCaFile,
        stateDir: env.stateDir,
        configFile: env.configFile,
        effectiveConfigFile: env.effectiveConfigFile,
        invalidationUrl: env.invalidationUrl ?? null,
        managers: env.managers,
        pathCommand: devPathCommand(commandOptions) ?? null,
        sendCommand: devSendCommand(env, commandOptions),
      }),
    );
  } else {
    process.stdout.write(devBanner(env, commandOptions));
  }
  const signal = await stop;
  process.stderr.write(`flyte-secrets dev: ${signal}, stopping the webhook and the emulator\n`);
  await env.close();
}

async function runSend(files: string[], opts: SendCliOptions): Promise<void> {
  const [{ sendPodForAdmission, describeAdmission }, { parsePodText, toYaml }] = await Promise.all([import('../../dev/send.js'), import('../pod-text.js')]);
  const ca = opts.ca === undefined ? undefined : (await readInput(opts.ca)).toString('utf8');
  const pods = await Promise.all(files.map(async (f) => ({ file: f, pod: parsePodText((await readInput(f)).toString('utf8'), f === '-' ? '(stdin)' : f) })));
  let denied = 0;
  const out: string[] = [];
  for (const { pod } of pods) {
    const result = await sendPodForAdmission(pod, { url: opts.url, ...(ca === undefined ? {} : { ca }), ...(opts.namespace === undefined ? {} : { namespace: opts.namespace }) });
    if (!result.allowed) denied += 1;
    if (opts.output === 'yaml') {
      for (const w of result.warnings) process.stderr.write(`warning: ${w}\n`);
      if (!result.allowed) process.stderr.write(`denied: ${result.message ?? ''}\n`);
      out.push(toYaml(result.after));
    } else {
      out.push(`${describeAdmission(result, { showValues: opts.showValues === true }).join('\n')}\n`);
    }
  }
  process.stdout.write(opts.output === 'yaml' ? out.join('---\n') : out.join('\n'));
  if (denied > 0) throw new CliError(`the webhook denied ${denied} of ${pods.length} pod${pods.length === 1 ? '' : 's'} (see above)`, DENIED_EXIT_CODE);
}

const DEV_HELP = `
What runs (all in this process, nothing else to install):
  - the Key Vault emulator on 127.0.0.1 (--emulator-port), seeded from --seed: Flyte-native secrets for project
    flytesnacks, domain development (project, domain and org scope) and one plain Key Vault secret;
  - a local CA and a serving certificate for 127.0.0.1, ::1 and localhost, kept in --state-dir (the CA is reused);
  - the webhook on https://<host>:<port>/mutate--v1-pod with the secret managers of --config ([Azure, Embedded]:
    Key Vault URIs go to the Azure sidecar manager, Flyte-native names to Embedded, which reads the emulator).
It prints where everything is and a command that sends the example pods (examples/pod.yaml, examples/pod-azure.yaml)
through the webhook. Ctrl-C (or SIGTERM) stops everything; the exit code is then 0.
With --json it prints one JSON line instead of the banner:
  {"webhookUrl","vaultUrl","caFile","emulatorCaFile","stateDir","configFile","effectiveConfigFile","invalidationUrl","managers","pathCommand","sendCommand"}

Examples:
  $ npm start                                   # = flyte-secrets dev
  $ flyte-secrets dev --port 9555 --seed my-secrets.yaml
  $ flyte-secrets dev send examples/pod.yaml --url https://127.0.0.1:9443 --ca /tmp/flyte-secrets-dev-$USER/webhook/ca.crt --show-values`;

const SEND_HELP = `
Each pod is sent as an AdmissionReview v1 for a CREATE (as the API server sends it, not a dry run); the JSON patch
answered is applied, and what was injected is listed: init containers (and the files they write), env vars and
mounts per container, volumes. Secret values are shown only with --show-values.

Exit codes: 0 every pod admitted, 1 cannot reach the webhook or bad input, 2 usage, ${DENIED_EXIT_CODE} a pod was denied.

Example (the command \`flyte-secrets dev\` prints):
  $ flyte-secrets dev send examples/pod.yaml examples/pod-azure.yaml --url https://127.0.0.1:9443 \\
      --ca /tmp/flyte-secrets-dev-$USER/webhook/ca.crt --show-values`;

export function register(program: Command): void {
  const dev = program
    .command('dev')
    .description('Run the webhook locally with a seeded Key Vault emulator and a local CA (what `npm start` runs)')
    .option('-p, --port <port>', 'webhook HTTPS port (0 = any free port)', portOption('--port'), 9443)
    .option('--emulator-port <port>', 'Key Vault emulator port (0 = any free port)', portOption('--emulator-port'), 0)
    .option('--host <address>', 'address the webhook listens on (the emulator stays on 127.0.0.1)', '127.0.0.1')
    .option('--seed <file>', 'emulator seed file, JSON or YAML (default: examples/seed.yaml of this package)')
    .option('-c, --config <file>', 'base webhook config (default: examples/dev-config.yaml of this package)')
    .option('--state-dir <dir>', 'where the CA, certificates and the effective config are kept (default: <tmp>/flyte-secrets-dev-<user>)')
    .option('--json', 'print one JSON line instead of the banner once ready')
    .addHelpText('after', DEV_HELP)
    .action(async (opts: DevCliOptions) => {
      await runDev(opts);
    });
  dev
    .command('send')
    .description('Send pods through a running webhook as the API server would, and show what was injected')
    .argument('<pods...>', 'Pod manifests (YAML or JSON), one Pod per file; - reads standard input')
    .option('--url <url>', 'the webhook', 'https://127.0.0.1:9443')
    .option('--ca <file>', "CA certificate (PEM) to trust for the webhook (flyte-secrets dev prints its own)")
    .option('-n, --namespace <ns>', 'namespace of the admission (default: the Pod’s metadata.namespace, else "default")')
    .option('--show-values', 'print secret values (env values, file contents) instead of their size')
    .addOption(new Option('-o, --output <format>', 'text: what was injected; yaml: the mutated pods').choices(['text', 'yaml']).default('text'))
    .addHelpText('after', SEND_HELP)
    .action(async (files: string[], opts: SendCliOptions) => {
      await runSend(files, opts);
    });
}
