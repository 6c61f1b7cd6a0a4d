/**
 * The agent's Key Vault reader: the official SDK (`SecretClient`) with `DefaultAzureCredential` (the pod's workload
 * identity env and token file), every secret fetched in parallel, each retried with back-off on 429, 5xx, time-outs
 * and connection errors until the agent's deadline. Loaded lazily by the agent (the SDK is most of its start-up).
 *
 * @module
 */
import { DefaultAzureCredential } from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';
import { defaultCredentialOptions, isLoopbackHost } from '../azure/client.js';
import { backoffMs, judgeFailure } from './failure.js';

/** A Key Vault secret to read. */
export interface KeyVaultTarget {
  uri: string;
  vaultUrl: string;
  name: string;
  version: string;
}

/** The outcome for one secret: its value, or the one line saying why not. */
export type FetchOutcome = { ok: true; value: string } | { ok: false; text: string; attempts: number };

/** Longest single attempt (the deadline bounds it further). */
const ATTEMPT_TIMEOUT_MS = 15_000;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Read every target in parallel (one credential, one client per vault). Never throws for a failed secret: each
 * outcome says what happened.
 *
 * @example
 * ```ts
 * const out = await fetchKeyVaultSecrets(targets, { deadlineAt: Date.now() + 120_000, env: process.env });
 * ```
 */
export async function fetchKeyVaultSecrets(targets: readonly KeyVaultTarget[], opts: { deadlineAt: number; env: NodeJS.ProcessEnv }): Promise<FetchOutcome[]> {
  const credential = new DefaultAzureCredential(defaultCredentialOptions(opts.env));
  const clients = new Map<string, SecretClient>();
  const clientFor = (vaultUrl: string): SecretClient => {
    let c = clients.get(vaultUrl);
    if (c === undefined) {
      c = new SecretClient(vaultUrl, credential, {
        retryOptions: { maxRetries: 0 },
        disableChallengeResourceVerification: isLoopbackHost(new URL(vaultUrl).hostname),
      });
      clients.set(vaultUrl, c);
    }
    return c;
  };
  const clientId = opts.env.AZURE_CLIENT_ID ?? '';
  return Promise.all(
    targets.map(async (t): Promise<FetchOutcome> => {
      const ctx = { host: new URL(t.vaultUrl).host, name: t.name, version: t.version, clientId };
      let last = '';
      for (let attempt = 1; ; attempt++) {
        const remaining = opts.deadlineAt - Date.now();
        if (remaining <= 0) return { ok: false, text: `${last} — gave up after ${attempt - 1} attempt${attempt === 2 ? '' : 's'}: the deadline passed`, attempts: attempt - 1 };
        try {
          const secret = await clientFor(t.vaultUrl).getSecret(t.name, {
            ...(t.version === '' ? {} : { version: t.version }),
            abortSignal: AbortSignal.timeout(Math.min(ATTEMPT_TIMEOUT_MS, remaining)),
          });
          return { ok: true, value: secret.value ?? '' };
        } catch (err) {
          const judged = judgeFailure(err, ctx);
          if (!judged.retry) return { ok: false, text: judged.text, attempts: attempt };
          last = judged.text;
          const wait = backoffMs(attempt, opts.deadlineAt - Date.now(), judged.retryAfterSeconds);
          if (wait > 0) await sleep(wait);
        }
      }
    }),
  );
}
