/**
 * `flyte-secrets config check FILE` and `flyte-secrets config defaults`.
 *
 * @module
 */
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { formatDuration } from '../../config/duration.js';
import { defaultConfig } from '../../config/load.js';
import { DURATION_KEYS } from '../../config/reference.js';
import type { Config } from '../../config/schema.js';
import { printLine, readConfigFile } from '../io.js';

/** The config as YAML; durations (milliseconds in memory) are written back as Go duration strings. */
export function configToYaml(config: Config): string {
  const walk = (value: unknown, key: string): unknown => {
    if (typeof value === 'number' && DURATION_KEYS.has(key)) return formatDuration(value);
    if (Array.isArray(value)) return value.map((v) => walk(v, ''));
    if (value !== null && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walk(v, k)]));
    }
    return value;
  };
  return stringify(walk(config, ''), { lineWidth: 0 });
}

export function register(program: Command): void {
  const config = program.command('config').description('Validate a config file, or print the default config');
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
    .action(() => {
      process.stdout.write(configToYaml(defaultConfig()));
    });
}
