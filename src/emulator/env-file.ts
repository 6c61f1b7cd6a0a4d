/**
 * The emulator's environment for clients, as a file `sh` can source (`set -a; . FILE; set +a`): the Azure identity
 * variables that `DefaultAzureCredential`/`EnvironmentCredential` read, the trust of the emulator's CA for every Node
 * process started afterwards, and the vault URL `flyte-secrets secret …` reads.
 *
 * @module
 */
import type { EmulatorInfo } from './index.js';

/** The variables, in the order written. */
export const EMULATOR_ENV_NAMES = ['AZURE_TENANT_ID', 'AZURE_CLIENT_ID', 'AZURE_CLIENT_SECRET', 'AZURE_AUTHORITY_HOST', 'NODE_EXTRA_CA_CERTS', 'FLYTE_SECRETS_VAULT_URL'] as const;

/** `value` in single quotes for sh (a `'` inside becomes `'\''`). */
function shQuote(value: string): string {
  return `'${value.replaceAll("'", "'\\''")}'`;
}

/**
 * The env file's text: one `NAME='value'` line per variable of {@link EMULATOR_ENV_NAMES}.
 *
 * @example
 * ```ts
 * emulatorEnvFile(emulator.info())
 * // "AZURE_TENANT_ID='00000000-…'\nAZURE_CLIENT_ID='…'\n…\nFLYTE_SECRETS_VAULT_URL='https://127.0.0.1:8443'\n"
 * ```
 */
export function emulatorEnvFile(info: EmulatorInfo): string {
  const values: Record<(typeof EMULATOR_ENV_NAMES)[number], string> = {
    AZURE_TENANT_ID: info.tenantId,
    AZURE_CLIENT_ID: info.clientId,
    AZURE_CLIENT_SECRET: info.clientSecret,
    AZURE_AUTHORITY_HOST: info.authorityHost,
    NODE_EXTRA_CA_CERTS: info.caFile,
    FLYTE_SECRETS_VAULT_URL: info.vaultUrl,
  };
  return EMULATOR_ENV_NAMES.map((name) => `${name}=${shQuote(values[name])}\n`).join('');
}
