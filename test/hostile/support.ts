/**
 * Shared pieces of the hostile-world suite (test/hostile/*.test.ts): a watch on the process for unhandled
 * rejections and uncaught exceptions, a keep-alive HTTPS client for the webhook, canary values, a time bound for
 * promises, and the summary line each file prints (the figures docs/reliability.md quotes).
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { Agent, request as httpsRequest } from 'node:https';
import { MUTATE_PATH } from '../../src/webhook/server.js';

/** Unhandled rejections and uncaught exceptions seen while installed. */
export interface ProcessWatch {
  readonly problems: string[];
  dispose(): void;
}

/**
 * Record every unhandled rejection and uncaught exception of this process (vitest runs each test file in its own
 * fork, so these are the file's own). Assert `problems` is empty in `afterAll`.
 */
export function watchProcess(): ProcessWatch {
  const problems: string[] = [];
  const onRejection = (reason: unknown): void => {
    problems.push(`unhandledRejection: ${reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)}`);
  };
  const onException = (err: Error): void => {
    problems.push(`uncaughtException: ${err.stack ?? err.message}`);
  };
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  return {
    problems,
    dispose() {
      process.off('unhandledRejection', onRejection);
      process.off('uncaughtException', onException);
    },
  };
}

/** A fresh canary: a value that must never be seen outside the documented places. */
export function canary(label: string): string {
  return `canary-${label}-${randomBytes(9).toString('hex')}`;
}

/** Reject with `what` when `promise` has not settled within `ms` (a hang is a failure, not a stuck suite). */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`hang: ${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** An HTTP answer read in full. */
export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** A keep-alive HTTPS client for one webhook (connections are reused between requests, as the API server does). */
export interface WebhookClient {
  post(body: Buffer | string | object, options?: { path?: string; method?: string; headers?: Record<string, string>; timeoutMs?: number }): Promise<Answer>;
  get(path: string): Promise<Answer>;
  /** Sockets the agent opened so far. */
  readonly opened: number;
  close(): void;
}

/** Create a {@link WebhookClient} trusting `ca` and asking for `servername`. */
export function webhookClient(port: number, ca: string, servername: string, maxSockets = 16): WebhookClient {
  const agent = new Agent({ keepAlive: true, maxSockets, ca, servername });
  let opened = 0;
  const send = (method: string, path: string, payload: Buffer | undefined, headers: Record<string, string>, timeoutMs: number): Promise<Answer> =>
    new Promise((resolve, reject) => {
      const req = httpsRequest({ host: '127.0.0.1', port, method, path, agent, ca, servername, headers: { ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}), ...headers } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('socket', (s) => {
        if (!(s as unknown as { __counted?: boolean }).__counted) {
          (s as unknown as { __counted?: boolean }).__counted = true;
          opened += 1;
        }
      });
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(payload);
    });
  return {
    post(body, options = {}) {
      const payload = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
      return send(options.method ?? 'POST', options.path ?? MUTATE_PATH, payload, options.headers ?? {}, options.timeoutMs ?? 15_000);
    },
    get(path) {
      return send('GET', path, undefined, {}, 15_000);
    },
    get opened() {
      return opened;
    },
    close() {
      agent.destroy();
    },
  };
}

/** Nearest-rank percentile of sorted numbers. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? Number.NaN;
}

/** Print one summary line (`[hostile] <file>: k=v …`), the figures docs/reliability.md quotes. */
export function summary(file: string, figures: Record<string, string | number>): void {
  console.log(`[hostile] ${file}: ${Object.entries(figures).map(([k, v]) => `${k}=${v}`).join(' ')}`);
}
