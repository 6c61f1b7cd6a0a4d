/**
 * The Azure Key Vault fetcher of the Embedded manager (Flyte: `secret/azure_secret_fetcher.go`): the secret name is Flyte's codec applied to the
 * scope id (`1-<org>-<domain>-<project>-<BASE32(name)>`), the latest version is read with the official SDK, and the
 * value is Flyte's JSON envelope — or, unless `flyteSecrets.azure.plainValues: reject`, a plain value read as a string.
 *
 * Errors follow Flyte: HTTP 404 → `SecretNotFound` (the cascade moves on); anything else → `SecretReadFailure`
 * (throttling, 5xx, network and timeouts are marked retryable for the request budget); nil or empty → `SecretNil`.
 * The SDK's own retry policy is off: retries, Retry-After and time bounds belong to `budget.ts`.
 *
 * Needs the `secrets/get` permission (Key Vault Secrets User role) for the webhook's identity.
 *
 * @module
 */
import type { TokenCredential } from '@azure/core-auth';
import { createSecretClient } from '../azure/client.js';
import { keyVaultNameForId } from '../azure/secret-name.js';
import { decodeKeyVaultValue } from '../azure/secret-value.js';
import { FlyteSecretsError, errorMessage } from '../errors.js';
import { encodeSecretName, type FlyteSecretId } from '../secret/flyte-id.js';
import type { SecretValue } from '../secret/value.js';
import { SecretNil, SecretNotFound, SecretReadFailure, isNetworkError, parseRetryAfter, raceAbort, type SecretFetcher } from './fetcher.js';

/** The one SDK call the fetcher makes (`SecretClient.getSecret`), so tests can pass a stand-in. */
export interface KeyVaultSecretReader {
  getSecret(name: string, options?: { abortSignal?: AbortSignal; requestOptions?: { timeout?: number } }): Promise<{ value?: string | undefined }>;
}

/** Options of {@link createAzureFetcher}. */
export interface AzureFetcherOptions {
  /** Key Vault URL (config `embeddedSecretManagerConfig.azureConfig.vaultURI`), e.g. `https://myvault.vault.azure.net/`. */
  vaultUrl: string;
  /** How a value that is not Flyte's envelope is read (config `flyteSecrets.azure.plainValues`, default `string`). */
  plainValues?: 'string' | 'reject';
  /** Credential; default `DefaultAzureCredential` from the standard `AZURE_*` environment. */
  credential?: TokenCredential;
  /** Extra CA (PEM) to trust for the vault, e.g. a local emulator's. */
  ca?: string;
  /** Keep the SDK's challenge-resource check even for loopback vaults. */
  disableChallengeResourceVerification?: boolean;
  /** A ready client (tests). */
  client?: KeyVaultSecretReader;
}

/** The host of a vault URL (the request-budget key). */
export function vaultHost(vaultUrl: string): string {
  try {
    return new URL(vaultUrl).host;
  } catch {
    throw new FlyteSecretsError('InvalidConfig', `webhook.embeddedSecretManagerConfig.azureConfig.vaultURI ${JSON.stringify(vaultUrl)} is not a URL; write it like https://myvault.vault.azure.net/`);
  }
}

/**
 * Create the Azure fetcher.
 *
 * @example
 * ```ts
 * const fetcher = createAzureFetcher({ vaultUrl: 'https://myvault.vault.azure.net/' });
 * const value = await fetcher.fetch({ org: 'flyte', domain: 'development', project: '', name: 'db' });
 * ```
 */
export function createAzureFetcher(options: AzureFetcherOptions): SecretFetcher {
  const host = vaultHost(options.vaultUrl);
  const plainValues = options.plainValues ?? 'string';
  const client: KeyVaultSecretReader =
    options.client ??
    createSecretClient(options.vaultUrl, {
      ...(options.credential ? { credential: options.credential } : {}),
      ...(options.ca ? { ca: options.ca } : {}),
      ...(options.disableChallengeResourceVerification === undefined ? {} : { disableChallengeResourceVerification: options.disableChallengeResourceVerification }),
      // Our budget owns retries and Retry-After; the SDK's throttling and exponential policies are off.
      clientOptions: { retryOptions: { maxRetries: 0 } },
    });
  return {
    kind: 'azure',
    budgetKey: host,
    nameOf: (id) => `Key Vault secret ${keyVaultNameForId(id)}`,
    async fetch(id: FlyteSecretId, signal?: AbortSignal): Promise<SecretValue> {
      const secretId = encodeSecretName(id);
      let name: string;
      try {
        name = keyVaultNameForId(id);
      } catch (err) {
        throw new SecretReadFailure(secretId, err);
      }
      let text: string | undefined;
      try {
        const secret = await raceAbort(client.getSecret(name, signal ? { abortSignal: signal } : {}), signal);
        text = secret.value;
      } catch (err) {
        throw classify(secretId, err);
      }
      if (text === undefined || text === null || text === '') throw new SecretNil(secretId);
      try {
        return decodeKeyVaultValue(text, { plainValues });
      } catch (err) {
        // The codec's messages quote none of the stored text, so the error is passed on as it is.
        throw new SecretReadFailure(secretId, err);
      }
    },
  };
}

function classify(secretId: string, err: unknown): Error {
  const status = (err as { statusCode?: unknown }).statusCode;
  const code = typeof status === 'number' ? status : undefined;
  const details = code === undefined ? {} : { status: code };
  const cause = err instanceof Error ? err : new Error(errorMessage(err));
  if (code === 404) return new SecretNotFound(secretId, cause, details);
  if (code === 429) {
    const headers = (err as { response?: { headers?: { get?(n: string): string | undefined } } }).response?.headers;
    const retryAfterMs = parseRetryAfter(typeof headers?.get === 'function' ? headers.get('retry-after') : undefined);
    return new SecretReadFailure(secretId, cause, { ...details, retryable: true, throttled: true, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) });
  }
  const retryable = (code !== undefined && (code >= 500 || code === 408)) || (code === undefined && isNetworkError(err));
  return new SecretReadFailure(secretId, cause, { ...details, retryable });
}
