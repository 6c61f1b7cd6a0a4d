/**
 * Flyte's cache-invalidation server (Flyte: `executor/pkg/webhook/cache_invalidation_server.go`): plain HTTP on `webhook.cacheInvalidationPort` (9444), one path,
 * `POST /invalidate-secret` with `{"org","domain","project","name"}`. The secret service calls it after it writes a
 * secret so that the Embedded injector's cache forgets the old value.
 *
 * Flyte's statuses and texts are kept exactly: non-POST → 405 «method not allowed»; a body that does not decode →
 * 400 «invalid request body: <cause>»; empty name → 400 «name is required»; else 200 with an empty body, after every
 * injector's `invalidate` has run. JSON keys match case-insensitively and unknown keys are ignored, as Go's
 * `encoding/json` does.
 *
 * Additions: when `flyteSecrets.fetch.invalidationToken` is set, `Authorization: Bearer <token>` is required (401
 * otherwise; compared in constant time). Bodies over 64 KiB are refused (413).
 *
 * @module
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config, SecretManagerType } from '../config/schema.js';
import type { SecretInjector } from '../inject/injector.js';
import type { FlyteSecretId } from '../secret/flyte-id.js';
import { errorShape, silentLogger, type Logger } from './logger.js';

/** The path Flyte's secret service posts to. */
export const INVALIDATE_PATH = '/invalidate-secret';
/** Largest request body accepted. */
export const MAX_INVALIDATION_BODY_BYTES = 64 * 1024;

/** Options of {@link startInvalidationServer}. */
export interface InvalidationServerOptions {
  config: Config;
  /** Every enabled injector; each one's `invalidate` (when it has one) is called. */
  injectors: ReadonlyMap<SecretManagerType, SecretInjector> | readonly SecretInjector[];
  logger?: Logger;
  /**
   * Overrides `webhook.cacheInvalidationPort`. As in Flyte, 0 disables the server (the function resolves
   * `undefined`). -1 listens on a free port (for tests; read it from {@link InvalidationServer.port}).
   */
  port?: number;
  /** Environment read for `FLYTE_SECRETS_INVALIDATION_TOKEN` (default `process.env`). */
  env?: NodeJS.ProcessEnv;
}

/** Env var that supplies the bearer token when the config leaves `flyteSecrets.fetch.invalidationToken` empty. */
export const INVALIDATION_TOKEN_ENV = 'FLYTE_SECRETS_INVALIDATION_TOKEN';

/** A running invalidation server. */
export interface InvalidationServer {
  readonly port: number;
  close(): Promise<void>;
}

/** The decoded request: Flyte's four fields, empty when absent. */
export type InvalidationRequest = FlyteSecretId;

/** A body that does not decode; its message follows «invalid request body: ». */
export class InvalidationBodyError extends Error {}

const FIELDS = ['org', 'domain', 'project', 'name'] as const;

function jsonTypeName(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (v === null) return 'null';
  return typeof v === 'boolean' ? 'bool' : typeof v;
}

/**
 * Decode an invalidation body the way Go's `encoding/json` fills Flyte's struct: an object whose keys match
 * `org`/`domain`/`project`/`name` case-insensitively (a later key overwrites an earlier one), string or null values
 * (null leaves the field empty), unknown keys ignored; a `null` body decodes to all-empty. Throws {@link InvalidationBodyError} otherwise.
 *
 * @example
 * ```ts
 * decodeInvalidationRequest('{"Org":"flyte","name":"db-password"}') // { org: 'flyte', domain: '', project: '', name: 'db-password' }
 * ```
 */
export function decodeInvalidationRequest(text: string): InvalidationRequest {
  if (text.trim() === '') throw new InvalidationBodyError('EOF');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new InvalidationBodyError(err instanceof Error ? err.message : String(err));
  }
  const out: InvalidationRequest = { org: '', domain: '', project: '', name: '' };
  if (doc === null) return out;
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new InvalidationBodyError(`json: cannot unmarshal ${jsonTypeName(doc)} into Go value of type InvalidateRequest`);
  }
  for (const [key, value] of Object.entries(doc as Record<string, unknown>)) {
    const field = FIELDS.find((f) => f === key) ?? FIELDS.find((f) => f === key.toLowerCase());
    if (field === undefined) continue;
    if (value !== null && typeof value !== 'string') {
      throw new InvalidationBodyError(`json: cannot unmarshal ${jsonTypeName(value)} into Go struct field InvalidateRequest.${field} of type string`);
    }
    if (value !== null) out[field] = value;
  }
  return out;
}

/**
 * After an early answer (413), throw the rest of the body away for a short while instead of closing at once: closing
 * a socket with unread data makes TCP reset it, and the client may then lose the answer. The connection is closed
 * when the body ends (the answer says `connection: close`) or after `ms`.
 */
export function discardThenClose(req: IncomingMessage, ms = 2000): void {
  const timer = setTimeout(() => req.socket.destroy(), ms);
  timer.unref();
  const done = (): void => clearTimeout(timer);
  req.once('end', done);
  req.once('close', done);
  req.resume();
}

function sendGoError(res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  // Go's http.Error: the message plus a newline, as text/plain.
  const text = `${message}\n`;
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** True when `header` is `Bearer <token>` (scheme case-insensitive), compared in constant time. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer[ \t]+(.+)$/i.exec(header?.trim() ?? '');
  const given = m?.[1]?.trim() ?? '';
  // Compare digests so that the comparison time does not depend on where the strings differ or on their length.
  return timingSafeEqual(digest(given), digest(token)) && given !== '';
}

function readLimited(req: IncomingMessage, limit: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > limit) {
        over = true;
        req.pause();
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!over) resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', reject);
  });
}

/**
 * Start the invalidation server, or resolve `undefined` when its port is 0 (disabled, as in Flyte).
 *
 * @example
 * ```ts
 * const inv = await startInvalidationServer({ config, injectors });
 * // curl -X POST localhost:9444/invalidate-secret -d '{"org":"flyte","domain":"development","project":"p","name":"db"}'
 * await inv?.close();
 * ```
 */
export async function startInvalidationServer(options: InvalidationServerOptions): Promise<InvalidationServer | undefined> {
  const { config } = options;
  const requested = options.port ?? config.webhook.cacheInvalidationPort;
  if (requested === 0) return undefined;
  const logger = options.logger ?? silentLogger();
  // The config wins; the env var lets a Kubernetes Secret supply the token without putting it in a ConfigMap.
  const token = config.flyteSecrets.fetch.invalidationToken || ((options.env ?? process.env)[INVALIDATION_TOKEN_ENV] ?? '');
  const injectors = [...options.injectors.values()];

  async function onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== INVALIDATE_PATH) return sendGoError(res, 404, '404 page not found');
    if (req.method !== 'POST') return sendGoError(res, 405, 'method not allowed');
    if (token !== '' && !bearerMatches(req.headers.authorization, token)) {
      logger.warn({ event: 'invalidate_unauthorized' }, 'cache invalidation refused: missing or wrong bearer token');
      return sendGoError(res, 401, 'unauthorized', { 'www-authenticate': 'Bearer' });
    }
    const text = await readLimited(req, MAX_INVALIDATION_BODY_BYTES);
    if (text === undefined) {
      discardThenClose(req);
      return sendGoError(res, 413, `request body too large (limit ${MAX_INVALIDATION_BODY_BYTES} bytes)`, { connection: 'close' });
    }
    let id: InvalidationRequest;
    try {
      id = decodeInvalidationRequest(text);
    } catch (err) {
      return sendGoError(res, 400, `invalid request body: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (id.name === '') return sendGoError(res, 400, 'name is required');
    for (const injector of injectors) {
      try {
        injector.invalidate?.(id);
      } catch (err) {
        logger.error({ event: 'invalidate_failed', manager: injector.type, ...errorShape(err) }, 'an injector failed to invalidate its cache');
      }
    }
    logger.info({ event: 'invalidate', org: id.org, domain: id.domain, project: id.project, name: id.name }, 'secret cache invalidated');
    res.writeHead(200, { 'content-length': 0 });
    res.end();
  }

  const requestTimeout = Math.max(1, config.flyteSecrets.server.requestTimeout);
  const server = createServer({ requestTimeout, headersTimeout: requestTimeout, connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(requestTimeout / 4))) });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    onRequest(req, res).catch((err: unknown) => {
      logger.error({ event: 'request_error', ...errorShape(err) }, 'unexpected error in the invalidation server');
      if (!res.headersSent) sendGoError(res, 500, 'internal error');
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(requested === -1 ? 0 : requested, config.flyteSecrets.server.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  logger.info({ event: 'invalidation_listening', port, auth: token !== '' }, 'cache-invalidation server listening');
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
