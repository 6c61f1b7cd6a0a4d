/**
 * `flyte-secrets config check FILE` and `flyte-secrets config defaults`.
 *
 * @module
 */
import type { Command } from 'commander';
import { printLine, readConfigFile } from '../io.js';

export function register(program: Command): void {
  const config = program
    .command('config')
    .description('Validate a config file, or print the default config')
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  $ flyte-secrets config defaults > config.yaml      # every key with its default, to edit',
        '  $ flyte-secrets config check config.yaml           # every problem, with its dot-path',
        '',
        'Every key, its default and meaning: docs/configuration.md.',
      ].join('\n'),
    );
  config
    .command('check')
    .description('Validate a config file (YAML or JSON); every problem is listed with its dot-path')
    .argument('<file>', 'config file')
    .addHelpText('after', '\nExample:\n  $ flyte-secrets config check deploy/base/config.yaml')
    .action(async (file: string) => {
      const cfg = await readConfigFile(file);
      printLine(`${file}: ok (secret managers: ${cfg.webhook.secretManagerTypes.length > 0 ? cfg.webhook.secretManagerTypes.join(', ') : `${cfg.webhook.secretManagerType} (deprecated secretManagerType)`})`);
    });
  config
    .command('defaults')
    .description('Print the whole default config as YAML')
    .addHelpText('after', '\nExample:\n  $ flyte-secrets config defaults > config.yaml')
    .action(async () => {
      const { defaultConfigYaml } = await import('../../config/reference.js');
      process.stdout.write(defaultConfigYaml());
    });
}
