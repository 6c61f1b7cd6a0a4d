/**
 * The AWS Secrets Manager fetcher of the Embedded manager (Flyte: `secret/embedded_secret_manager.go`): `GetSecretValue` with
 * `SecretId = <Flyte id>` and `VersionStage = AWSCURRENT`. The SDK's own retries are off (`maxAttempts: 1`): the
 * request budget (`budget.ts`) owns retries.
 *
 * Needs `secretsmanager:GetSecretValue` on the secrets (credentials from the SDK's default chain).
 *
 * @module
 */
import { GetSecretValueCommand, SecretsManagerClient, type SecretsManagerClientConfig } from '@aws-sdk/client-secrets-manager';
import { errorMessage } from '../errors.js';
import { encodeSecretName, type FlyteSecretId } from '../secret/flyte-id.js';
import { SecretValue } from '../secret/value.js';
import { SecretNil, SecretNotFound, SecretReadFailure, isNetworkError, raceAbort, type SecretFetcher } from './fetcher.js';

/** The part of the SDK client the fetcher uses (tests may pass a stand-in). */
export interface AwsSecretsClient {
  send(command: GetSecretValueCommand, options?: { abortSignal?: AbortSignal }): Promise<{ SecretString?: string | undefined; SecretBinary?: Uint8Array | undefined }>;
}

/** Options of {@link createAwsFetcher}. */
export interface AwsFetcherOptions {
  /** AWS region (config `webhook.embeddedSecretManagerConfig.awsConfig.region`); '' = the SDK's default chain. */
  region?: string;
  /** Endpoint override (tests, VPC endpoints). */
  endpoint?: string;
  /** Static credentials (tests); default: the SDK's default provider chain. */
  credentials?: SecretsManagerClientConfig['credentials'];
  /** A ready client (tests). */
  client?: AwsSecretsClient;
}

const THROTTLING = new Set(['ThrottlingException', 'TooManyRequestsException', 'RequestLimitExceeded', 'LimitExceededException']);

/**
 * Create the AWS fetcher.
 *
 * @example
 * ```ts
 * const fetcher = createAwsFetcher({ region: 'eu-west-1' });
 * const value = await fetcher.fetch({ org: 'flyte', domain: '', project: '', name: 'db' });
 * ```
 */
export function createAwsFetcher(options: AwsFetcherOptions = {}): SecretFetcher {
  const client: AwsSecretsClient =
    options.client ??
    new SecretsManagerClient({
      maxAttempts: 1,
      ...(options.region ? { region: options.region } : {}),
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      ...(options.credentials ? { credentials: options.credentials } : {}),
    });
  const budgetKey = options.endpoint ? safeHost(options.endpoint) : `secretsmanager.${options.region || 'default'}.amazonaws.com`;
  return {
    kind: 'aws',
    budgetKey,
    async fetch(id: FlyteSecretId, signal?: AbortSignal): Promise<SecretValue> {
      const secretId = encodeSecretName(id);
      let out: { SecretString?: string | undefined; SecretBinary?: Uint8Array | undefined };
      try {
        out = await raceAbort(client.send(new GetSecretValueCommand({ SecretId: secretId, VersionStage: 'AWSCURRENT' }), signal ? { abortSignal: signal } : {}), signal);
      } catch (err) {
        throw classify(secretId, err);
      }
      if (out.SecretString !== undefined && out.SecretString !== '') return SecretValue.fromString(out.SecretString);
      // Flyte drops the binary when SecretString is present but empty (Flyte: `secret/embedded_secret_manager.go`); we return the binary then.
      if (out.SecretBinary !== undefined) return SecretValue.fromBytes(out.SecretBinary);
      throw new SecretNil(secretId);
    },
  };
}

function safeHost(endpoint: string): string {
  try {
    return new URL(endpoint).host;
  } catch {
    return endpoint;
  }
}

function classify(secretId: string, err: unknown): Error {
  const name = (err as { name?: unknown }).name;
  const meta = (err as { $metadata?: { httpStatusCode?: number } }).$metadata;
  const status = meta?.httpStatusCode;
  const cause = new Error(`${typeof name === 'string' ? name : 'Error'}: ${errorMessage(err)}`);
  if (name === 'ResourceNotFoundException') return new SecretNotFound(secretId, cause, status === undefined ? {} : { status });
  if ((typeof name === 'string' && THROTTLING.has(name)) || status === 429) {
    return new SecretReadFailure(secretId, cause, { retryable: true, throttled: true, ...(status === undefined ? {} : { status }) });
  }
  const retryable = (status !== undefined && status >= 500) || name === 'InternalServiceError' || isNetworkError(err);
  return new SecretReadFailure(secretId, cause, { retryable, ...(status === undefined ? {} : { status }) });
}
