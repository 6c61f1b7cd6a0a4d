/**
 * The one place that builds an official `SecretClient` for a vault URL: default credential from the standard Azure
 * environment, the challenge-resource check relaxed only for loopback vaults (the local emulator), and an optional
 * extra CA to trust.
 *
 * @module
 */
import { rootCertificates } from 'node:tls';
import type { TokenCredential } from '@azure/core-auth';
import { DefaultAzureCredential, type DefaultAzureCredentialOptions } from '@azure/identity';
import { SecretClient, type SecretClientOptions } from '@azure/keyvault-secrets';
import { FlyteSecretsError } from '../errors.js';

/** Options of {@link createSecretClient}. */
export interface CreateSecretClientOptions {
  /** Credential to use. Default: `DefaultAzureCredential` configured by {@link defaultCredentialOptions}. */
  credential?: TokenCredential;
  /**
   * Skip the SDK's check that the bearer challenge's resource matches the vault's domain. Default: `true` only when
   * the vault URL's host is loopback (127.0.0.0/8, ::1, localhost); for every other host the check stays on unless
   * this is set to `true` explicitly.
   */
  disableChallengeResourceVerification?: boolean;
  /**
   * An extra CA certificate (PEM) to trust for the vault and, with the default credential, for the token endpoint
   * (e.g. the emulator's `ca.pem`). Public CAs stay trusted. Alternative: `NODE_EXTRA_CA_CERTS=<file>` at process
   * start.
   */
  ca?: string;
  /** Further SDK client options (retry, `serviceVersion`, a custom `httpClient`, …). */
  clientOptions?: SecretClientOptions;
}

/**
 * True for loopback host names as they appear in `URL.hostname`: `localhost`, 127.0.0.0/8 and `[::1]` / `::1`.
 *
 * @example
 * ```ts
 * isLoopbackHost('127.0.0.1'); // true
 * isLoopbackHost('myvault.vault.azure.net'); // false
 * ```
 */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  const m = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h);
  return m !== null && m.slice(1).every((x) => Number(x) <= 255);
}

function parseHttpsUrl(text: string, what: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch (err) {
    throw new FlyteSecretsError('InvalidKeyVaultUri', `${what} "${text}" is not a URL; expected e.g. https://myvault.vault.azure.net`, { cause: err });
  }
  if (url.protocol !== 'https:') {
    throw new FlyteSecretsError('InvalidKeyVaultUri', `${what} "${text}" must use https (the Azure SDK sends tokens over https only)`);
  }
  return url;
}

function tlsOptionsFor(ca: string | undefined): { tlsOptions: { ca: string[] } } | Record<string, never> {
  return ca === undefined ? {} : { tlsOptions: { ca: [...rootCertificates, ca] } };
}

/**
 * The options `createSecretClient` gives `DefaultAzureCredential`, derived from the environment: instance discovery
 * is disabled when `AZURE_AUTHORITY_HOST` is a loopback URL (MSAL would otherwise ask login.microsoftonline.com
 * about the local authority), and `ca` is trusted for the token endpoint. The credential itself reads
 * `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET` or `AZURE_FEDERATED_TOKEN_FILE`, and
 * `AZURE_AUTHORITY_HOST` from `process.env`.
 *
 * @example
 * ```ts
 * defaultCredentialOptions({ AZURE_AUTHORITY_HOST: 'https://127.0.0.1:8443' }); // { disableInstanceDiscovery: true }
 * ```
 */
export function defaultCredentialOptions(env: NodeJS.ProcessEnv = process.env, ca?: string): DefaultAzureCredentialOptions {
  const authority = env.AZURE_AUTHORITY_HOST;
  let loopbackAuthority = false;
  if (authority !== undefined && authority !== '') {
    try {
      loopbackAuthority = isLoopbackHost(new URL(authority).hostname);
    } catch {
      loopbackAuthority = false; // the credential reports a bad authority host itself
    }
  }
  return { ...(loopbackAuthority ? { disableInstanceDiscovery: true } : {}), ...tlsOptionsFor(ca) };
}

/**
 * Build a `SecretClient` for `vaultUrl`. Throws `FlyteSecretsError` code `InvalidKeyVaultUri` when the URL does not
 * parse or is not https. Needs the `secrets/get` permission (or role *Key Vault Secrets User*) to read.
 *
 * @example
 * ```ts
 * // In a pod with Azure Workload Identity (AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE set):
 * const client = createSecretClient('https://myvault.vault.azure.net');
 * // Against the local emulator (its JSON line gives vaultUrl and caFile):
 * const local = createSecretClient(emu.vaultUrl, { ca: readFileSync(emu.caFile, 'utf8') });
 * ```
 */
export function createSecretClient(vaultUrl: string, options: CreateSecretClientOptions = {}): SecretClient {
  const url = parseHttpsUrl(vaultUrl, 'Key Vault URL');
  const disableVerification = options.disableChallengeResourceVerification ?? isLoopbackHost(url.hostname);
  const credential = options.credential ?? new DefaultAzureCredential(defaultCredentialOptions(process.env, options.ca));
  return new SecretClient(vaultUrl, credential, {
    ...options.clientOptions,
    ...tlsOptionsFor(options.ca),
    disableChallengeResourceVerification: disableVerification,
  });
}
