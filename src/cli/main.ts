/**
 * The CLI entry point: one command table, and the only `process.exit` of the program.
 *
 * Each command lives in `commands/<name>.ts` and exports `register(program)`. Implementations that pull in heavy
 * modules (the Azure SDK, the server) are imported lazily inside their actions, so `--help` stays fast.
 *
 * @module
 */
import { Command, CommanderError } from 'commander';
import { isFlyteSecretsError } from '../errors.js';
import { CliError } from './io.js';
// command registrations (one line each, keep sorted)
import { register as registerAgent } from './commands/agent.js';
import { register as registerAnnotate } from './commands/annotate.js';
import { register as registerAzure } from './commands/azure.js';
import { register as registerCerts } from './commands/certs.js';
import { register as registerConfig } from './commands/config.js';
import { register as registerDecodeAnnotations } from './commands/decode-annotations.js';
import { register as registerDev } from './commands/dev.js';
import { register as registerEmulator } from './commands/emulator.js';
import { register as registerInject } from './commands/inject.js';
import { register as registerRegister } from './commands/register.js';
import { register as registerSecret } from './commands/secret.js';
import { register as registerServe } from './commands/serve.js';

/** Build the command table. Exported for tests and for `--help` documentation. */
export function buildProgram(): Command {
  const program = new Command('flyte-secrets')
    .description(
      'Flyte secret injection for Kubernetes, with Azure Key Vault as its first-class backend.\n' +
        'Runs the mutating admission webhook, and helps platform teams and task authors work with Flyte secrets.',
    )
    .version(VERSION, '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ outputError: (str, write) => write(str) })
    .exitOverride();
  // registrations (keep sorted)
  registerAgent(program);
  registerAnnotate(program);
  registerAzure(program);
  registerCerts(program);
  registerConfig(program);
  registerDecodeAnnotations(program);
  registerDev(program);
  registerEmulator(program);
  registerInject(program);
  registerRegister(program);
  registerSecret(program);
  registerServe(program);
  for (const cmd of program.commands) inheritExitOverride(cmd);
  return program;
}

const VERSION = '0.1.0';

function inheritExitOverride(cmd: Command): void {
  cmd.exitOverride();
  cmd.showHelpAfterError('(run with --help for usage)');
  for (const sub of cmd.commands) inheritExitOverride(sub);
}

/**
 * Run the CLI with `argv` (as `process.argv`) and return its exit code without exiting: errors are reported on
 * stderr as {@link reportError} does. Used by {@link main} and by tests that drive many commands in one process.
 *
 * @example
 * ```ts
 * const code = await runCli(['node', 'flyte-secrets', 'config', 'check', 'config.yaml']);
 * ```
 */
export async function runCli(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    return reportError(err);
  }
}

/** Run the CLI with `argv` (as `process.argv`) and exit with the right code. */
export async function main(argv: string[]): Promise<never> {
  // A reader that stops early (`flyte-secrets … | head`) closes the pipe: that ends the output, it is not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  const code = await runCli(argv);
  // Let stdout/stderr drain before exiting.
  await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
  process.exit(code);
}

/**
 * Print an error that ended a command and return the exit code: commander's own (already printed) → 0 or 2; a
 * {@link CliError} → its message and code; a `FlyteSecretsError` → its message, 1; anything else is a bug → the
 * stack, 70.
 */
export function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    // Commander already printed the message (or the help text).
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
    return err.exitCode === 0 ? 0 : 2;
  }
  if (err instanceof CliError) {
    process.stderr.write(`error: ${err.message}\n`);
    return err.exitCode;
  }
  if (isFlyteSecretsError(err)) {
    process.stderr.write(`error: ${err.message}\n`);
    return 1;
  }
  const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
  process.stderr.write(`internal error (this should never happen; please report it): ${message}\n`);
  return 70;
}
