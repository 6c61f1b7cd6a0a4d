/**
 * What the agent says when a secret cannot be fetched: one line per failure naming the secret's URI, Key Vault's (or
 * Entra's) error code and what to do, never a value; and which failures are worth another attempt (429, 5xx, time-outs,
 * connection errors). Pure: reads only the fields of the error objects the Azure SDK throws.
 *
 * @module
 */

/** How one failed attempt is judged. */
export interface AttemptFailure {
  /** Another attempt may succeed (429, 5xx, a time-out, a connection error). */
  retry: boolean;
  /** The sentence after `<uri>: ` (no value, no token). */
  text: string;
  /** Seconds the server asked to wait (`Retry-After`), when it did. */
  retryAfterSeconds?: number;
}

/** What the messages name besides the error. */
export interface FailureContext {
  /** Vault host, e.g. `myvault.vault.azure.net`. */
  host: string;
  name: string;
  version: string;
  /** `AZURE_CLIENT_ID` of the container (a public identifier, not a secret). */
  clientId: string;
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET']);

type Loose = Record<string, unknown>;

function asObject(v: unknown): Loose | undefined {
  return typeof v === 'object' && v !== null ? (v as Loose) : undefined;
}

/** Every error in the chain (`cause`, `errors` of an aggregate), depth-limited. */
function chain(err: unknown): Loose[] {
  const out: Loose[] = [];
  const walk = (e: unknown, depth: number): void => {
    const o = asObject(e);
    if (o === undefined || depth > 5 || out.includes(o)) return;
    out.push(o);
    walk(o.cause, depth + 1);
    if (Array.isArray(o.errors)) for (const x of o.errors) walk(x, depth + 1);
  };
  walk(err, 0);
  return out;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** The `innererror.code` of a Key Vault error body, wherever the SDK kept it. */
function innerCode(e: Loose): string | undefined {
  const details = asObject(e.details);
  const error = asObject(details?.error) ?? details;
  const inner = asObject(error?.innerError) ?? asObject(error?.innererror);
  return str(inner?.code);
}

function retryAfter(e: Loose): number | undefined {
  const response = asObject(e.response);
  const headers = asObject(response?.headers);
  const get = headers?.get;
  const raw = typeof get === 'function' ? (get as (n: string) => unknown).call(headers, 'retry-after') : undefined;
  const n = typeof raw === 'string' ? Number(raw) : NaN;
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

function secretText(c: FailureContext): string {
  return c.version === '' ? `secret ${JSON.stringify(c.name)}` : `version ${JSON.stringify(c.version)} of secret ${JSON.stringify(c.name)}`;
}

const AADSTS = /AADSTS\d+/;

/**
 * Judge one failed attempt to read a secret.
 *
 * @example
 * ```ts
 * judgeFailure(restError404, ctx).text // 'Key Vault answered 404 SecretNotFound: vault … has no secret "db"; …'
 * ```
 */
export function judgeFailure(err: unknown, c: FailureContext): AttemptFailure {
  const errors = chain(err);
  const top = errors[0] ?? {};
  const status = errors.map((e) => e.statusCode).find((s): s is number => typeof s === 'number');
  const name = str(top.name) ?? 'Error';
  const who = `the workload identity (client id ${c.clientId === '' ? 'unknown: AZURE_CLIENT_ID is empty' : c.clientId})`;
  if (name === 'AbortError' || errors.some((e) => e.name === 'AbortError' || e.name === 'TimeoutError')) {
    return { retry: true, text: `no answer from ${c.host} in time (the attempt timed out)` };
  }
  const network = errors.map((e) => str(e.code)).find((code) => code !== undefined && NETWORK_CODES.has(code));
  if (network !== undefined && status === undefined) {
    return { retry: true, text: `could not reach ${c.host} or the Entra token endpoint (${network}): check DNS, egress rules and private endpoints for the vault` };
  }
  if (name === 'AuthenticationError' || name === 'CredentialUnavailableError' || name === 'AggregateAuthenticationError' || errors.some((e) => e.name === 'AuthenticationError')) {
    const text = errors.map((e) => (typeof e.message === 'string' ? e.message : '')).join(' ');
    const aad = AADSTS.exec(text)?.[0];
    if (status !== undefined && (status === 429 || status >= 500)) return { retry: true, text: `the Entra token endpoint answered ${status}` };
    return {
      retry: false,
      text: `could not get a token for ${who}${aad === undefined ? '' : ` (${aad})`}: check the federated credential of that identity for this pod's service account (subject system:serviceaccount:<namespace>:<service account>), the service account annotation azure.workload.identity/client-id and the pod label azure.workload.identity/use: "true"`,
    };
  }
  const code = str(top.code) ?? 'no error code';
  const inner = innerCode(top);
  const codes = inner === undefined ? code : `${code}/${inner}`;
  if (status === 429) {
    const after = retryAfter(top);
    return { retry: true, text: `Key Vault answered 429 ${codes} (throttled)`, ...(after === undefined ? {} : { retryAfterSeconds: after }) };
  }
  if (status !== undefined && status >= 500) return { retry: true, text: `Key Vault answered ${status} ${codes}` };
  switch (status) {
    case 403:
      if (inner === 'SecretDisabled') {
        return { retry: false, text: `Key Vault answered 403 ${codes}: the ${secretText(c)} is disabled in vault ${c.host}; enable it (az keyvault secret set-attributes --enabled true --id <this URI>)` };
      }
      return {
        retry: false,
        text: `Key Vault answered 403 ${codes}: ${who} may not read secrets in vault ${c.host}; grant it the role "Key Vault Secrets User" on that vault (or, on a vault with access policies, the secret permission get)`,
      };
    case 404:
      return { retry: false, text: `Key Vault answered 404 ${codes}: vault ${c.host} has no ${secretText(c)}; check the name${c.version === '' ? '' : ' and version'} in the task's secret request` };
    case 401:
      return { retry: false, text: `Key Vault answered 401 ${codes}: it refused the token of ${who}; check that the identity belongs to the vault's tenant` };
    default:
      if (status !== undefined) return { retry: false, text: `Key Vault answered ${status} ${codes}` };
      return { retry: false, text: `the request failed (${name}${code === 'no error code' ? '' : ` ${code}`})` };
  }
}

/**
 * Wait before attempt `attempt + 1` (attempt counts from 1): exponential from 250 ms, at most 4 s, halved at random
 * (jitter), at least what the server asked (`Retry-After`), never past `remainingMs`.
 */
export function backoffMs(attempt: number, remainingMs: number, retryAfterSeconds?: number, random: () => number = Math.random): number {
  const base = Math.min(4000, 250 * 2 ** Math.max(0, attempt - 1));
  const jittered = base / 2 + (base / 2) * random();
  const wanted = Math.max(jittered, (retryAfterSeconds ?? 0) * 1000);
  return Math.max(0, Math.min(wanted, remainingMs));
}
