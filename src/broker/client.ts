/**
 * The agent's side of the broker: one HTTPS request for all of a pod's `embedded:<i>` sources, trusting only the
 * CA given (the webhook's `ca.crt`), with the pod's projected token. Retries 429, 502, 503 and network failures
 * with back-off until the deadline; any other refusal fails at once. Loads only `node:https`.
 *
 * @module
 */
import { request } from 'node:https';
import { FlyteSecretsError } from '../errors.js';
import { encodeBrokerRequest, parseBrokerError, parseBrokerSecrets } from './protocol.js';

/** Options of {@link fetchFromBroker}. */
export interface BrokerFetchOptions {
  /** `https://<service>.<namespace>.svc:<port><path>`. */
  url: string;
  /** The projected service-account token. */
  token: string;
  /** PEM of the CA that signed the webhook's serving certificate. */
  caPem: string;
  /** `embedded:<i>` sources. */
  sources: readonly string[];
  /** Give up at this time (ms since the epoch). */
  deadline: number;
  /** Connect here instead of the URL's host (tests: the URL keeps the Service name for TLS). */
  connectTo?: { host: string; port: number };
}

/** One delivered secret. */
export interface BrokerValue {
  kind: 'string' | 'binary';
  bytes: Buffer;
}

interface RawAnswer {
  status: number;
  text: string;
}

function post(options: BrokerFetchOptions, timeoutMs: number): Promise<RawAnswer> {
  const url = new URL(options.url);
  const body = encodeBrokerRequest(options.sources);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: options.connectTo?.host ?? url.hostname,
        port: options.connectTo?.port ?? (url.port === '' ? 443 : Number(url.port)),
        servername: url.hostname,
        path: `${url.pathname}${url.search}`,
        method: 'POST',
        ca: options.caPem,
        agent: false,
        timeout: timeoutMs,
        headers: { authorization: `Bearer ${options.token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

const RETRYABLE = new Set([429, 502, 503]);

/**
 * Fetch `sources` from the broker. Resolves with every one of them, or throws a `FlyteSecretsError` (code
 * `BrokerRefused`) whose message names the broker's code and reason (never a value).
 *
 * @example
 * ```ts
 * const values = await fetchFromBroker({ url, token, caPem, sources: ['embedded:0'], deadline: Date.now() + 30_000 });
 * ```
 */
export async function fetchFromBroker(options: BrokerFetchOptions): Promise<Map<string, BrokerValue>> {
  let delay = 200;
  let last = '';
  for (;;) {
    const left = options.deadline - Date.now();
    if (left <= 0) throw new FlyteSecretsError('BrokerRefused', `the broker at ${options.url} did not serve the secrets before the deadline: ${last}`);
    let answer: RawAnswer | undefined;
    try {
      answer = await post(options, Math.max(1, left));
    } catch (err) {
      last = `cannot reach the broker: ${err instanceof Error ? err.message : String(err)} (check the webhook Service and the CA in FLYTE_SECRETS_BROKER_CA)`;
    }
    if (answer !== undefined) {
      if (answer.status === 200) {
        try {
          return parseBrokerSecrets(answer.text, options.sources);
        } catch (err) {
          throw new FlyteSecretsError('BrokerRefused', `the broker at ${options.url}: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
      const e = parseBrokerError(answer.text);
      last = e === undefined ? `HTTP ${answer.status}` : `HTTP ${answer.status} ${e.code}: ${e.message}`;
      if (!RETRYABLE.has(answer.status)) throw new FlyteSecretsError('BrokerRefused', `the broker at ${options.url} refused: ${last}`);
    }
    const wait = Math.min(delay, options.deadline - Date.now());
    if (wait <= 0) continue;
    await new Promise((r) => setTimeout(r, wait));
    delay = Math.min(delay * 2, 2000);
  }
}
