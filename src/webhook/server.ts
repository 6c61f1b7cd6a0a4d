/**
 * The admission webhook's HTTPS server (node:https), Flyte's `executor/pkg/webhook/entrypoint.go`.
 *
 * Routes: `POST /mutate--v1-pod` (AdmissionReview in, AdmissionReview out), `GET /healthz` (liveness), `GET /readyz`
 * (503 while not ready or shutting down), `GET /metrics` (Prometheus text). Anything else is 404; a wrong method is
 * 405.
 *
 * Hardening (`flyteSecrets.server`): HTTP/1.1 only over ALPN (Flyte's `enableHTTP2: false`), TLS ≥ `minTlsVersion`,
 * bodies over `maxBodyBytes` refused with 413 as they stream (never buffered past the limit), headers and body must
 * arrive within `requestTimeout` (and a connection's first request within `requestTimeout` of connecting), more
 * than `maxConcurrentAdmissions` mutations at once answered 429 (a slot is taken once the body has arrived). The certificate is
 * reloaded from `certDir` when its files change (see tls.ts). {@link WebhookServer.close} drains requests in flight
 * for up to `shutdownGrace`.
 *
 * @module
 */
import { ServerResponse, type IncomingMessage, type OutgoingHttpHeader, type OutgoingHttpHeaders } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { SecureContextOptions } from 'node:tls';
import type { Config, SecretManagerType } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import type { SecretInjector } from '../inject/injector.js';
import type { PodMutator } from '../inject/mutator.js';
import { MAX_BROKER_REQUEST_BYTES } from '../broker/protocol.js';
import type { Broker } from './broker.js';
import { createAdmissionHandler } from './handler.js';
import { discardThenClose, startInvalidationServer, type InvalidationServer } from './invalidation.js';
import { errorShape, silentLogger, type Logger } from './logger.js';
import { createWebhookMetrics, type AdmissionOutcomeLabel, type WebhookMetrics } from './metrics.js';
import { httpErrorStatus } from './review.js';
import { watchTlsKeyPair, type TlsKeyPair } from './tls.js';

/** The admission path Flyte registers: «/mutate-» + group (empty for core) + «-v1-pod». */
export const MUTATE_PATH = '/mutate--v1-pod';
/** Liveness path. */
export const HEALTHZ_PATH = '/healthz';
/** Readiness path. */
export const READYZ_PATH = '/readyz';
/** Prometheus metrics path. */
export const METRICS_PATH = '/metrics';

/** Options of {@link startWebhookServer}. */
export interface WebhookServerOptions {
  /** The validated config; `webhook.listenPort`, `webhook.certDir` and `flyteSecrets.server.*` are read. */
  config: Config;
  /** The secrets mutator the admission path runs. */
  mutator: PodMutator;
  /**
   * The injectors behind `mutator`. When given and the invalidation port is not 0, Flyte's cache-invalidation
   * server is started too and closed with this one.
   */
  injectors?: ReadonlyMap<SecretManagerType, SecretInjector>;
  /** Default: silent. */
  logger?: Logger;
  /** Overrides `webhook.certDir`. */
  certDir?: string;
  /** Overrides `webhook.listenPort`; 0 picks a free port (see {@link WebhookServer.port}). */
  port?: number;
  /** Overrides `webhook.cacheInvalidationPort`; see {@link startInvalidationServer} (-1 = a free port). */
  invalidationPort?: number;
  /** Fallback poll of the cert files; default 10 s. */
  tlsPollIntervalMs?: number;
  /** Ready as soon as listening; default true. */
  ready?: boolean;
  /** Metrics to serve and update; default a fresh {@link createWebhookMetrics} (pass one to add fetch metrics to its registry). */
  metrics?: WebhookMetrics;
  /** The broker (`flyteSecrets.embedded.delivery: agent`), served at its path on the same port; see broker.ts. */
  broker?: Broker;
}

/** A running webhook server. */
export interface WebhookServer {
  /** The port it listens on. */
  readonly port: number;
  /** The cache-invalidation server's port, when it runs. */
  readonly invalidationPort: number | undefined;
  /** Its metrics. */
  readonly metrics: WebhookMetrics;
  /** Mark ready (`/readyz` 200) or not (503). */
  setReady(ready: boolean): void;
  /** The Prometheus text `/metrics` serves. */
  metricsText(): Promise<string>;
  /**
   * Stop: not ready, stop accepting connections, let requests in flight finish (up to `shutdownGrace`, or
   * `graceMs`), then close every connection. Safe to call twice.
   */
  close(graceMs?: number): Promise<void>;
}

class BodyTooLargeError extends Error {}
class BodyAbortedError extends Error {}

/** Read a request body, refusing it as soon as it passes `limit` bytes. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      reject(new BodyTooLargeError());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    // The listeners stay (they end with the request): `done` makes them do nothing once the body is settled, and
    // removing four listeners per admission cost more than it saved.
    const onData = (chunk: Buffer): void => {
      if (done) return;
      size += chunk.length;
      if (size > limit) {
        done = true;
        req.pause();
        reject(new BodyTooLargeError());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      if (done) return;
      done = true;
      // A review usually arrives in one chunk: use it as it is rather than copy it.
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onError = (): void => {
      if (done) return;
      done = true;
      reject(new BodyAbortedError());
    };
    const onClose = (): void => {
      if (done) return;
      done = true;
      reject(new BodyAbortedError());
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

function pathOf(url: string | undefined): string {
  const u = url ?? '/';
  const q = u.indexOf('?');
  return q === -1 ? u : u.slice(0, q);
}

function isJsonContentType(value: string | undefined): boolean {
  if (value === undefined) return false;
  if (value === 'application/json') return true; // the usual header: no split/trim/lowercase copies
  return (value.split(';')[0] ?? '').trim().toLowerCase() === 'application/json';
}

function sendJson(res: ServerResponse, status: number, body: object, headers?: Record<string, string>): void {
  sendJsonText(res, status, JSON.stringify(body), headers);
}

function sendJsonText(res: ServerResponse, status: number, text: string, headers?: Record<string, string>): void {
  // Written as a string: Node then sends the head and the body in one write (one TLS record, one syscall); a
  // Buffer body goes out as a second chunk through writev, which costs more CPU per answer than the UTF-8 encoding
  // it would save.
  const head: Record<string, string | number> = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text, 'utf8') };
  if (headers !== undefined) Object.assign(head, headers);
  res.writeHead(status, head);
  res.end(text);
}

function sendText(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/**
 * Start the webhook's HTTPS server (and, when `injectors` are given, the cache-invalidation server).
 * Resolves once both listen. Throws a clear `FlyteSecretsError` when the TLS files are missing or unusable.
 *
 * @example
 * ```ts
 * const config = loadConfigFile('config.yaml');
 * const injectors = buildInjectors(config, {});
 * const server = await startWebhookServer({ config, mutator: createMutator(config, injectors), injectors, logger: createLogger() });
 * process.once('SIGTERM', () => void server.close());
 * ```
 */
export async function startWebhookServer(options: WebhookServerOptions): Promise<WebhookServer> {
  const { config, mutator } = options;
  const settings = config.flyteSecrets.server;
  const logger = options.logger ?? silentLogger();
  const certDir = options.certDir ?? config.webhook.certDir;
  const metrics = options.metrics ?? createWebhookMetrics();
  const handle = createAdmissionHandler({ mutator, logger, metrics });

  const secureOptions = (pair: TlsKeyPair): SecureContextOptions => ({ cert: pair.cert, key: pair.key, minVersion: settings.minTlsVersion });
  const tlsWatcher = watchTlsKeyPair({
    certDir,
    logger,
    ...(options.tlsPollIntervalMs === undefined ? {} : { pollIntervalMs: options.tlsPollIntervalMs }),
    // Called only on later file changes, after `server` below exists.
    onReload: (pair) => server.setSecureContext(secureOptions(pair)),
  });

  let ready = options.ready ?? true;
  let closing = false;
  let admissions = 0;
  // Requests whose response has not closed yet. A count, not a set of the responses: keeping each ServerResponse
  // in a Set cost 11–13 % of the webhook's CPU per admission under load (measured; bench/README.md, "Sixth round").
  let inFlight = 0;
  let drained: (() => void) | undefined;
  /**
   * The server's responses: once close() has begun, an answer whose head is not out yet closes its connection
   * instead of keeping it alive, whichever path writes it (every head goes out through writeHead).
   */
  class WebhookResponse extends ServerResponse {
    override writeHead(statusCode: number, statusMessage?: string, headers?: OutgoingHttpHeaders | OutgoingHttpHeader[]): this;
    override writeHead(statusCode: number, headers?: OutgoingHttpHeaders | OutgoingHttpHeader[]): this;
    override writeHead(statusCode: number, a?: string | OutgoingHttpHeaders | OutgoingHttpHeader[], b?: OutgoingHttpHeaders | OutgoingHttpHeader[]): this {
      if (closing && !this.headersSent) this.setHeader('connection', 'close');
      return typeof a === 'string' ? super.writeHead(statusCode, a, b) : super.writeHead(statusCode, a);
    }
  }
  const count = (outcome: AdmissionOutcomeLabel): void => metrics.requests.inc({ outcome });

  async function onMutate(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST') {
      count('bad_request');
      sendJson(res, 405, httpErrorStatus(405, `method ${req.method ?? ''} not allowed on ${MUTATE_PATH}: use POST`), { allow: 'POST' });
      return;
    }
    if (!isJsonContentType(req.headers['content-type'])) {
      count('bad_request');
      sendJson(res, 415, httpErrorStatus(415, `unsupported content type ${JSON.stringify(req.headers['content-type'] ?? '')}: send the AdmissionReview as application/json`));
      return;
    }
    // The body is read before a slot is taken: slots guard the mutation (CPU, backend calls), so clients that
    // trickle their bodies (cut at requestTimeout) never make the webhook refuse the API server's requests.
    let body: Buffer;
    try {
      body = await readBody(req, settings.maxBodyBytes);
    } catch (err) {
      if (err instanceof BodyTooLargeError) {
        count('too_large');
        logger.warn({ event: 'too_large', limit: settings.maxBodyBytes }, 'admission request body over the limit; answered 413');
        sendJson(res, 413, httpErrorStatus(413, `request body exceeds ${settings.maxBodyBytes} bytes (flyteSecrets.server.maxBodyBytes)`), { connection: 'close' });
        discardThenClose(req);
        return;
      }
      count('aborted');
      logger.info({ event: 'aborted' }, 'admission request body did not arrive (client went away or requestTimeout passed)');
      return;
    }
    if (admissions >= settings.maxConcurrentAdmissions) {
      count('throttled');
      logger.warn({ event: 'throttled', inFlight: admissions, limit: settings.maxConcurrentAdmissions }, 'too many admissions in flight; answered 429');
      sendJson(res, 429, httpErrorStatus(429, `too many admission requests in flight (limit ${settings.maxConcurrentAdmissions}); retry`), { 'retry-after': '1' });
      return;
    }
    admissions += 1;
    try {
      const result = await handle(body);
      if (!res.destroyed) {
        sendJsonText(res, result.status, result.json);
      }
    } finally {
      admissions -= 1;
    }
  }

  async function onBroker(broker: Broker, req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body: Buffer;
    try {
      body = req.method === 'POST' ? await readBody(req, MAX_BROKER_REQUEST_BYTES) : Buffer.alloc(0);
    } catch (err) {
      if (err instanceof BodyTooLargeError) {
        sendJson(res, 413, { error: { code: 'TooLarge', message: `request body exceeds ${MAX_BROKER_REQUEST_BYTES} bytes` } }, { connection: 'close' });
        discardThenClose(req);
      }
      return;
    }
    const answer = await broker.handle({ method: req.method ?? '', authorization: req.headers.authorization, contentType: req.headers['content-type'], body });
    if (!res.destroyed) sendJson(res, answer.status, answer.body, answer.headers);
  }

  // One shared listener (not a closure per request): `this` is the response.
  function onResponseClose(): void {
    inFlight -= 1;
    if (inFlight === 0) drained?.();
  }

  async function onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    inFlight += 1;
    res.once('close', onResponseClose);
    const path = pathOf(req.url);
    const isGet = req.method === 'GET' || req.method === 'HEAD';
    try {
      switch (path) {
        case MUTATE_PATH:
          await onMutate(req, res);
          return;
        case HEALTHZ_PATH:
          if (!isGet) return sendText(res, 405, 'method not allowed\n', { allow: 'GET, HEAD' });
          return sendText(res, 200, 'ok\n');
        case READYZ_PATH:
          if (!isGet) return sendText(res, 405, 'method not allowed\n', { allow: 'GET, HEAD' });
          if (closing) return sendText(res, 503, 'shutting down\n');
          return ready ? sendText(res, 200, 'ok\n') : sendText(res, 503, 'not ready\n');
        case METRICS_PATH: {
          if (!isGet) return sendText(res, 405, 'method not allowed\n', { allow: 'GET, HEAD' });
          const text = await metrics.text();
          res.writeHead(200, { 'content-type': metrics.contentType, 'content-length': Buffer.byteLength(text) });
          res.end(text);
          return;
        }
        default:
          if (options.broker !== undefined && path === options.broker.path) {
            await onBroker(options.broker, req, res);
            return;
          }
          sendJson(res, 404, httpErrorStatus(404, `no such path ${JSON.stringify(path)}; the admission path is ${MUTATE_PATH}`));
      }
    } catch (err) {
      logger.error({ event: 'request_error', path, ...errorShape(err) }, 'unexpected error while answering a request');
      if (!res.headersSent && !res.destroyed) sendJson(res, 500, httpErrorStatus(500, 'internal error'));
      else res.destroy();
    }
  }

  const requestTimeout = Math.max(1, settings.requestTimeout);
  const server: Server<typeof IncomingMessage, typeof WebhookResponse> = createServer({
    ...secureOptions(tlsWatcher.current()),
    ServerResponse: WebhookResponse,
    ALPNProtocols: ['http/1.1'],
    requestTimeout,
    headersTimeout: requestTimeout,
    handshakeTimeout: requestTimeout,
    // Node checks request timeouts on this interval (default 30 s): keep it well below requestTimeout.
    connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(requestTimeout / 4))),
  });
  // A connection must bring its first request's headers within requestTimeout. Node's headersTimeout starts only
  // with the first byte of a request, and its handshakeTimeout is undone by the HTTP layer, so without this a
  // client could hold connections (TCP without a TLS handshake, or TLS without a request) open forever, and
  // close() would wait for them. Connections are keyed by the client's address and port, which the TCP socket and
  // the TLS socket on it share.
  const awaitingFirstRequest = new Map<string, { socket: Socket; timer: NodeJS.Timeout }>();
  const keyOf = (s: Socket): string => `${s.remoteAddress ?? ''}|${s.remotePort ?? ''}`;
  server.on('connection', (socket: Socket) => {
    const key = keyOf(socket);
    const timer = setTimeout(() => {
      awaitingFirstRequest.delete(key);
      logger.debug({ event: 'idle_connection_closed', waitedMs: requestTimeout }, 'closed a connection that sent no request within requestTimeout');
      socket.destroy();
    }, requestTimeout);
    timer.unref();
    awaitingFirstRequest.set(key, { socket, timer });
    socket.once('close', () => {
      const entry = awaitingFirstRequest.get(key);
      if (entry?.socket === socket) {
        clearTimeout(entry.timer);
        awaitingFirstRequest.delete(key);
      }
    });
  });
  // Sockets whose first request has arrived: later requests on a kept-alive connection skip the lookup above.
  const sawRequest = new WeakSet<Socket>();
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    if (!sawRequest.has(socket)) {
      sawRequest.add(socket);
      const key = keyOf(socket);
      const entry = awaitingFirstRequest.get(key);
      if (entry !== undefined) {
        clearTimeout(entry.timer);
        awaitingFirstRequest.delete(key);
      }
    }
    void onRequest(req, res);
  });
  server.on('tlsClientError', (err) => logger.debug({ event: 'tls_error', error: errorMessage(err) }, 'TLS handshake failed'));
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    // Node's own statuses: 408 when headers or body did not arrive within requestTimeout, 431 for huge headers.
    const status = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
    logger.debug({ event: 'client_error', code: err.code ?? '', status }, 'bad or slow HTTP request');
    if (socket.writable && err.code !== 'ECONNRESET') socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    else socket.destroy();
  });

  const host = settings.host;
  const listenPort = options.port ?? config.webhook.listenPort;
  const httpServer = server;
  try {
    await new Promise<void>((resolve, reject) => {
      httpServer.once('error', reject);
      httpServer.listen(listenPort, host, () => {
        httpServer.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    tlsWatcher.close();
    throw err;
  }
  const port = (httpServer.address() as AddressInfo).port;

  let invalidation: InvalidationServer | undefined;
  if (options.injectors !== undefined) {
    try {
      invalidation = await startInvalidationServer({
        config,
        injectors: options.injectors,
        logger,
        ...(options.invalidationPort === undefined ? {} : { port: options.invalidationPort }),
      });
    } catch (err) {
      tlsWatcher.close();
      httpServer.close();
      throw err;
    }
  }

  let closed: Promise<void> | undefined;
  async function close(graceMs = settings.shutdownGrace): Promise<void> {
    closing = true;
    ready = false;
    const serverClosed = new Promise<void>((resolve) => httpServer.close(() => resolve()));
    httpServer.closeIdleConnections();
    for (const { socket, timer } of awaitingFirstRequest.values()) {
      clearTimeout(timer);
      socket.destroy();
    }
    awaitingFirstRequest.clear();
    // Answers still to be written close their connection instead of keeping it alive (WebhookResponse).
    if (inFlight > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, graceMs);
        drained = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    httpServer.closeAllConnections();
    // Connections that never sent a request (the HTTP layer does not know them): close() would wait for them.
    for (const { socket, timer } of awaitingFirstRequest.values()) {
      clearTimeout(timer);
      socket.destroy();
    }
    awaitingFirstRequest.clear();
    tlsWatcher.close();
    await Promise.all([serverClosed, invalidation?.close()]);
  }

  return {
    port,
    invalidationPort: invalidation?.port,
    metrics,
    setReady(value: boolean) {
      ready = value;
    },
    metricsText: () => metrics.text(),
    close(graceMs?: number) {
      closed ??= close(graceMs);
      return closed;
    },
  };
}
