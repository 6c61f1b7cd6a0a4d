/**
 * `flyte-secrets emulator`: run the local Azure Key Vault emulator (HTTPS, own CA, own Entra token endpoint) until
 * SIGINT/SIGTERM. Prints exactly one JSON line on stdout once ready.
 *
 * @module
 */
import type { Command } from 'commander';
import { CliError, printLine } from '../io.js';

function intOption(flag: string, min: number, max: number): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isInteger(n) || n < min || n > max) {
      throw new CliError(`${flag} must be a whole number from ${min} to ${max}, got "${value}"`, 2);
    }
    return n;
  };
}

/** Options as commander parses them. */
interface EmulatorCliOptions {
  port: number;
  host: string;
  stateDir?: string;
  seed?: string;
  tenant?: string;
  clientId?: string;
  clientSecret?: string;
  latencyMs?: number;
  rateLimit?: number;
  rateLimitWindowMs?: number;
  hostname: string[];
}

/** Collect a repeatable `--hostname NAME` (a DNS name or an IP address, for the serving certificate). */
function hostnameOption(value: string, previous: string[]): string[] {
  if (!/^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/.test(value) && !/^[0-9a-fA-F:.]+$/.test(value)) {
    throw new CliError(`--hostname must be a DNS name or an IP address, got "${value}"`, 2);
  }
  return [...previous, value];
}

const HELP_AFTER = `
Once ready it prints ONE JSON line on stdout:
  {"vaultUrl","authorityHost","tenantId","clientId","clientSecret","caFile","adminUrl"}
and runs until SIGINT/SIGTERM. The admin API (no auth, loopback only) is a test tool:
  GET <adminUrl>/stats, POST <adminUrl>/reset-stats, GET|POST <adminUrl>/faults, POST <adminUrl>/seed

Example: run it in the background, then point the Azure SDK (and flyte-secrets) at it
  $ flyte-secrets emulator --port 8443 --state-dir /tmp/kv --client-secret dev-only --seed secrets.yaml > /tmp/kv.json &
  $ until [ -s /tmp/kv.json ]; do sleep 0.2; done     # the JSON line means ready
  $ export NODE_EXTRA_CA_CERTS=/tmp/kv/ca.pem          # read at process start: set it before starting the client
  $ export AZURE_AUTHORITY_HOST=https://127.0.0.1:8443 AZURE_CLIENT_SECRET=dev-only
  $ export AZURE_TENANT_ID=00000000-0000-4000-8000-00000000e7a1 AZURE_CLIENT_ID=00000000-0000-4000-8000-00000000c1d0
  $ # vault URL: https://127.0.0.1:8443 (e.g. webhook.embeddedSecretManagerConfig.azureConfig.vaultURI)
  $ curl -s --cacert /tmp/kv/ca.pem https://127.0.0.1:8443/_admin/stats

Seed file (JSON or YAML): a list of {name, value, contentType?, tags?, enabled?, nbf?, exp?}
or Flyte-native {org?, domain?, project?, flyteName, string? | binaryBase64?}. See docs/emulator.md.`;

export function register(program: Command): void {
  program
    .command('emulator')
    .description('Run a local Azure Key Vault emulator (secrets API + Entra token endpoint over HTTPS) for development and tests')
    .option('--port <port>', 'port to listen on (0 = a free port)', intOption('--port', 0, 65535), 0)
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--state-dir <dir>', 'directory for ca.pem, ca-key.pem and emulator.json (default: a fresh temp dir, removed on exit)')
    .option('--seed <file>', 'JSON or YAML file of secrets to start with')
    .option('--tenant <id>', 'tenant id (default 00000000-0000-4000-8000-00000000e7a1)')
    .option('--client-id <id>', 'client id the token endpoint accepts (default 00000000-0000-4000-8000-00000000c1d0)')
    .option('--client-secret <secret>', 'client secret the token endpoint accepts (default: random, printed in the JSON line)')
    .option('--latency-ms <ms>', 'latency added to every vault request', intOption('--latency-ms', 0, 600_000))
    .option('--rate-limit <n>', 'vault requests allowed per window before 429 Throttled (0 = no limit)', intOption('--rate-limit', 0, 10_000_000), 4000)
    .option('--rate-limit-window-ms <ms>', 'rate-limit window', intOption('--rate-limit-window-ms', 1, 3_600_000), 10_000)
    .option('--hostname <name>', 'also serve as NAME: add it to the serving certificate (repeatable), e.g. myvault.vault.azure.net', hostnameOption, [])
    .addHelpText('after', HELP_AFTER)
    .action(async (opts: EmulatorCliOptions) => {
      const { startEmulator } = await import('../../emulator/index.js');
      const emulator = await startEmulator({
        port: opts.port,
        host: opts.host,
        ...(opts.stateDir === undefined ? {} : { stateDir: opts.stateDir }),
        ...(opts.seed === undefined ? {} : { seedFile: opts.seed }),
        ...(opts.tenant === undefined ? {} : { tenantId: opts.tenant }),
        ...(opts.clientId === undefined ? {} : { clientId: opts.clientId }),
        ...(opts.clientSecret === undefined ? {} : { clientSecret: opts.clientSecret }),
        ...(opts.latencyMs === undefined ? {} : { latencyMs: opts.latencyMs }),
        ...(opts.rateLimit === undefined ? {} : { rateLimit: opts.rateLimit }),
        ...(opts.rateLimitWindowMs === undefined ? {} : { rateLimitWindowMs: opts.rateLimitWindowMs }),
        ...(opts.hostname.length === 0 ? {} : { tlsHosts: opts.hostname }),
      });
      const stopped = new Promise<void>((resolve) => {
        const stop = (): void => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          resolve();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      printLine(JSON.stringify(emulator.info()));
      process.stderr.write(`flyte-secrets emulator: vault ${emulator.vaultUrl}, CA ${emulator.caFile} (Ctrl-C to stop)\n`);
      await stopped;
      await emulator.close();
    });
}
