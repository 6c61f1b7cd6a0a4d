/**
 * `flyte-secrets agent …`: the in-pod init container (src/agent/main.ts). The CLI shim runs it directly, without
 * commander, for a fast start; this registration lists it in `--help` and serves `runCli` callers.
 *
 * @module
 */
import type { Command } from 'commander';

export function register(program: Command): void {
  program
    .command('agent')
    .description('Run inside a pod as its init container: fetch the listed secrets in parallel and write them all or none (see agent --help)')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .argument('[args...]', 'agent arguments: --file SOURCE=PATH, --env SOURCE=KEY, --env-file PATH, --deadline DURATION')
    .action(async (args: string[]) => {
      const { runAgentCli } = await import('../../agent/main.js');
      process.exitCode = await runAgentCli(args);
    });
}
