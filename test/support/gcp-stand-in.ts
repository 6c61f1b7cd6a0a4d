/**
 * A small local stand-in for the GCP Secret Manager REST API (`versions:access` only), enough for the official
 * `@google-cloud/secret-manager` client in its HTTP/JSON mode (`fallback: true`, `protocol: 'http'`,
 * `apiEndpoint: '127.0.0.1'`, `port`). Plain HTTP on 127.0.0.1.
 *
 * @module
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A stored secret version's payload; `undefined` data = a payload without data, `null` = no payload at all. */
export type GcpStoredPayload = Uint8Array | null;

/** One request as the stand-in saw it. */
export interface GcpSeenRequest {
  method: string;
  path: string;
}

export interface GcpFaults {
  /** Answer the next N requests with this HTTP status (429 → RESOURCE_EXHAUSTED, 503 → UNAVAILABLE). */
  failNext?: number;
  failStatus?: number;
  latencyMs?: number;
  /** While set, every answer waits until this promise settles (a backend that has not answered yet). */
  hold?: Promise<unknown>;
}

export interface GcpStandIn {
  port: number;
  /** Keyed by `projects/<p>/secrets/<id>`. */
  secrets: Map<string, GcpStoredPayload>;
  requests: GcpSeenRequest[];
  faults: GcpFaults;
  close(): Promise<void>;
}

const STATUS_NAMES: Record<number, string> = { 404: 'NOT_FOUND', 429: 'RESOURCE_EXHAUSTED', 500: 'INTERNAL', 503: 'UNAVAILABLE', 403: 'PERMISSION_DENIED' };

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', ...(status === 429 ? { 'retry-after': '1' } : {}) });
  res.end(JSON.stringify(body));
}

function error(res: ServerResponse, status: number, message: string): void {
  // Quota errors carry google.rpc.RetryInfo in their details, as Google's APIs send them (the REST client keeps no headers).
  const details = status === 429 ? [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '1s' }] : undefined;
  reply(res, status, { error: { code: status, message, status: STATUS_NAMES[status] ?? 'UNKNOWN', ...(details ? { details } : {}) } });
}

/** Start the stand-in on an ephemeral port. */
export async function startGcpStandIn(): Promise<GcpStandIn> {
  const secrets = new Map<string, GcpStoredPayload>();
  const requests: GcpSeenRequest[] = [];
  const faults: GcpFaults = {};
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    for await (const _ of req) {
      // drain
    }
    const url = new URL(req.url ?? '/', 'http://x');
    const path = decodeURIComponent(url.pathname);
    requests.push({ method: req.method ?? '', path });
    if (faults.latencyMs) await new Promise((r) => setTimeout(r, faults.latencyMs));
    if (faults.hold) await faults.hold;
    if ((faults.failNext ?? 0) > 0) {
      faults.failNext = (faults.failNext ?? 0) - 1;
      const status = faults.failStatus ?? 503;
      error(res, status, `injected ${status}`);
      return;
    }
    const m = /^\/v1\/(projects\/[^/]+\/secrets\/[^/]+)\/versions\/([^/:]+):access$/.exec(path);
    if (req.method !== 'GET' || m === null) {
      error(res, 404, `no route ${req.method ?? ''} ${path}`);
      return;
    }
    const [, secret = '', version = ''] = m;
    if (!secrets.has(secret) || version !== 'latest') {
      error(res, 404, `Secret [${secret}] not found or has no versions.`);
      return;
    }
    const payload = secrets.get(secret);
    reply(res, 200, {
      name: `${secret}/versions/1`,
      ...(payload === null || payload === undefined ? {} : { payload: payload.length === 0 ? {} : { data: Buffer.from(payload).toString('base64') } }),
    });
  };
  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    secrets,
    requests,
    faults,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
