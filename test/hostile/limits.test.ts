/**
 * Limits: each abuse is refused or shed cleanly while a steady stream of normal admissions keeps being answered.
 *
 * - slow clients: headers trickled byte by byte, a body trickled — cut at `requestTimeout` (408 or closed);
 * - 500 idle TLS connections (and 100 that never finish the handshake) — closed by the server, none of them
 *   stopping normal requests;
 * - a flood of 120 admissions at once against `maxConcurrentAdmissions: 8` with a slow backend — shed with 429,
 *   the rest answered, nothing reset;
 * - an endless body — 413 and the connection cut long before the client is done, without buffering it;
 * - headers over 16 KiB — 431; TLS 1.0 and 1.1 — refused by the server.
 *
 * Already proven elsewhere (cited in docs/reliability.md, not repeated): 429 with Retry-After at the limit and
 * capacity coming back (src/webhook/server.test.ts), 408 for a body that stops (same), the TLS 1.3 floor
 * surviving a certificate reload (same), declared and streamed 413 (test/webhook-e2e.test.ts), 405/415/404.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { request as httpsRequest } from 'node:https';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { buildInjectors, createMutator, type PodMutator } from '../../src/inject/mutator.js';
import { secretsToAnnotations } from '../../src/secret/annotations.js';
import { MountRequirement, makeSecret } from '../../src/secret/model.js';
import { MUTATE_PATH } from '../../src/webhook/server.js';
import { buildReview, startApiServerHarness, type ApiServerHarness } from '../support/api-server-harness.js';
import { summary, watchProcess, webhookClient, type ProcessWatch, type WebhookClient } from './support.js';

const REQUEST_TIMEOUT_MS = 1000;
/**
 * The longest a connection the server must cut may stay open: 10x requestTimeout. No timing here is tighter than
 * that; a busy machine does not stretch 1 s into 10 s, while a connection the server failed to cut stays open for
 * good (its headers never end) or far longer (a trickled body takes over 40 s to send).
 */
const OUTER_MS = 10 * REQUEST_TIMEOUT_MS;
const CONFIG = {
  webhook: { secretManagerTypes: ['K8s', 'Azure'] },
  flyteSecrets: { server: { requestTimeout: `${REQUEST_TIMEOUT_MS}ms`, maxConcurrentAdmissions: 8, maxBodyBytes: 256 * 1024 } },
};
const ENV = { FLYTE_SECRET_APP_TOKEN: 'global-value' };

const pod: Pod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    name: 'task',
    labels: { 'inject-flyte-secrets': 'true' },
    annotations: secretsToAnnotations([
      makeSecret({ group: 'https://myvault.vault.azure.net/secrets/db-password', mountRequirement: MountRequirement.FILE }),
      makeSecret({ group: 'dbcreds', key: 'password', mountRequirement: MountRequirement.ENV_VAR }),
      makeSecret({ group: 'app', key: 'token', mountRequirement: MountRequirement.ENV_VAR }),
    ]),
  },
  spec: { containers: [{ name: 'main', image: 'python:3.12' }] },
};
const BODY = Buffer.from(JSON.stringify(buildReview(pod)));

let watch: ProcessWatch;
let h: ApiServerHarness;
let client: WebhookClient;
/** While set, every mutation waits for it (the flood test holds the backend); `entered` counts mutations begun. */
let gate: Promise<void> | undefined;
let entered = 0;
const figures: Record<string, number | string> = {};

/**
 * Send a normal admission every `everyMs` until stopped (and at least `minSent` were sent); every one must be answered
 * 200 with a patch. Returns the number sent and the failures.
 */
function prober(everyMs = 100): { stop(minSent?: number): Promise<{ sent: number; failures: string[] }> } {
  let stopped = false;
  let sent = 0;
  const failures: string[] = [];
  const inFlight: Promise<void>[] = [];
  const loop = (async () => {
    while (!stopped) {
      sent += 1;
      const p = client.post(BODY, { timeoutMs: 10_000 }).then(
        (a) => {
          if (a.status !== 200 || !a.text.includes('"patch"')) failures.push(`HTTP ${a.status}: ${a.text.slice(0, 120)}`);
        },
        (e: Error) => void failures.push(e.message),
      );
      inFlight.push(p);
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    async stop(minSent = 0) {
      while (sent < minSent) await new Promise((r) => setTimeout(r, everyMs));
      stopped = true;
      await loop;
      await Promise.all(inFlight);
      return { sent, failures };
    },
  };
}

beforeAll(async () => {
  watch = watchProcess();
  const config = parseConfig(CONFIG);
  const inner = createMutator(config, buildInjectors(config, { env: ENV }));
  const mutator: PodMutator = {
    managers: inner.managers,
    mutate: async (p, ctx) => {
      entered += 1;
      if (gate !== undefined) await gate;
      return inner.mutate(p, ctx);
    },
  };
  h = await startApiServerHarness({ config: CONFIG, mutator });
  client = webhookClient(h.port, h.caPem, h.serverName, 4);
});

afterEach(() => {
  gate = undefined;
});

afterAll(async () => {
  client.close();
  await h.close();
  watch.dispose();
  summary('limits', figures);
  expect(watch.problems).toEqual([]);
});

/** Sockets opened by a test, with what the server sent until it closed them (watched from the start). */
const ended = new WeakMap<Socket, Promise<{ data: string; closedAfterMs: number }>>();

function watchEnd(s: Socket): void {
  const started = Date.now();
  ended.set(
    s,
    new Promise((resolve) => {
      let data = '';
      s.on('data', (c: Buffer) => (data += c.toString('latin1')));
      s.once('close', () => resolve({ data, closedAfterMs: Date.now() - started }));
      s.on('error', () => undefined);
    }),
  );
}

/** Open a TLS connection to the webhook. */
function openTls(): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port: h.port, ca: h.caPem, servername: h.serverName }, () => resolve(s));
    watchEnd(s);
    s.once('error', reject);
  });
}

/** What the server sent on `s` until it closed it (from when it was opened), or `timeout` after `ms` more. */
function endOf(s: Socket, ms: number): Promise<{ data: string; closedAfterMs: number } | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)));
  return Promise.race([ended.get(s)!, timeout]).finally(() => clearTimeout(timer));
}

describe('slow clients', () => {
  it('headers trickled a byte at a time: 408 and closed at requestTimeout; normal requests go on', async () => {
    const probe = prober();
    const sockets = await Promise.all(Array.from({ length: 20 }, () => openTls()));
    const ends = sockets.map((s) => endOf(s, OUTER_MS));
    const head = `POST ${MUTATE_PATH} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nx-filler: ${'a'.repeat(200)}`;
    let i = 0;
    const trickle = setInterval(() => {
      for (const s of sockets) if (!s.destroyed && i < head.length) s.write(head.charAt(i));
      i += 1;
    }, 50);
    try {
      const results = await Promise.all(ends);
      for (const r of results) {
        expect(r).not.toBe('timeout');
        if (r === 'timeout') continue;
        expect(r.data === '' || r.data.startsWith('HTTP/1.1 408')).toBe(true);
        expect(r.closedAfterMs).toBeLessThan(OUTER_MS);
      }
      figures['slowHeaders'] = `${results.length} cut at ≤${Math.max(...results.map((r) => (r === 'timeout' ? Infinity : r.closedAfterMs)))}ms`;
    } finally {
      clearInterval(trickle);
      for (const s of sockets) s.destroy();
    }
    const { sent, failures } = await probe.stop(6);
    expect(failures).toEqual([]);
    expect(sent).toBeGreaterThan(5);
  }, 60_000);

  it('a body trickled a few bytes at a time: 408 at requestTimeout; normal requests go on', async () => {
    const probe = prober();
    const sockets = await Promise.all(Array.from({ length: 20 }, () => openTls()));
    const ends = sockets.map((s) => endOf(s, OUTER_MS));
    for (const s of sockets) s.write(`POST ${MUTATE_PATH} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${BODY.length}\r\n\r\n`);
    // A byte every 50 ms: sending the whole body takes far longer than OUTER_MS, so only the server can end it sooner.
    expect(BODY.length * 50).toBeGreaterThan(4 * OUTER_MS);
    let offset = 0;
    const trickle = setInterval(() => {
      for (const s of sockets) if (!s.destroyed && offset < BODY.length) s.write(BODY.subarray(offset, offset + 1));
      offset += 1;
    }, 50);
    try {
      const results = await Promise.all(ends);
      for (const r of results) {
        expect(r).not.toBe('timeout');
        if (r === 'timeout') continue;
        expect(r.data === '' || r.data.startsWith('HTTP/1.1 408'), JSON.stringify(r.data.slice(0, 200))).toBe(true);
        expect(r.closedAfterMs).toBeLessThan(OUTER_MS);
      }
      figures['slowBody'] = `${results.length} cut at ≤${Math.max(...results.map((r) => (r === 'timeout' ? Infinity : r.closedAfterMs)))}ms`;
    } finally {
      clearInterval(trickle);
      for (const s of sockets) s.destroy();
    }
    const { failures } = await probe.stop();
    expect(failures).toEqual([]);
    const aborted = async (): Promise<number> => Number(/flyte_secrets_admission_requests_total\{outcome="aborted"\} (\d+)/.exec(await h.server.metricsText())?.[1] ?? 0);
    const until = Date.now() + OUTER_MS;
    while ((await aborted()) < 20 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    expect(await aborted()).toBeGreaterThanOrEqual(20);
  }, 60_000);
});

describe('many idle connections', () => {
  it('500 idle TLS connections and 100 unfinished handshakes do not stop normal requests, and are closed by the server', async () => {
    const probe = prober(50);
    const tls: TLSSocket[] = [];
    for (let i = 0; i < 500; i += 50) tls.push(...(await Promise.all(Array.from({ length: 50 }, () => openTls()))));
    const raw: Socket[] = await Promise.all(
      Array.from({ length: 100 }, () => new Promise<Socket>((resolve, reject) => {
        const s = netConnect(h.port, '127.0.0.1', () => resolve(s));
        watchEnd(s);
        s.once('error', reject);
      })),
    );
    const ends = [...tls, ...raw].map((s) => endOf(s, OUTER_MS));
    try {
      const results = await Promise.all(ends);
      const { sent, failures } = await probe.stop(11);
      expect(failures).toEqual([]);
      expect(sent).toBeGreaterThan(10);
      const open = results.filter((r) => r === 'timeout').length;
      expect(open).toBe(0);
      const worst = Math.max(...results.map((r) => (r === 'timeout' ? Infinity : r.closedAfterMs)));
      figures['idleConnections'] = `600 closed by the server within ${worst}ms of opening; ${sent} normal requests ok meanwhile`;
      expect(worst).toBeLessThan(OUTER_MS);
    } finally {
      for (const s of [...tls, ...raw]) s.destroy();
    }
  }, 60_000);
});

describe('a flood beyond capacity', () => {
  it('120 admissions at once with maxConcurrentAdmissions 8 and a held backend: shed with 429, the rest answered, nothing reset', async () => {
    // The backend holds every mutation until released: 8 are in flight, so every other request must be shed.
    let release!: () => void;
    gate = new Promise<void>((r) => (release = r));
    entered = 0;
    const flood = webhookClient(h.port, h.caPem, h.serverName, 200);
    try {
      let answered = 0;
      const pending = Array.from({ length: 120 }, () =>
        flood.post(BODY, { timeoutMs: 60_000 }).then(
          (a) => ((answered += 1), a),
          (e: Error) => ((answered += 1), e),
        ),
      );
      // Release once the 8 slots are taken and every other request has been answered (or after OUTER_MS: then the
      // counts below say what went wrong).
      const until = Date.now() + OUTER_MS;
      while ((entered < 8 || answered < 112) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      release();
      const answers = await Promise.all(pending);
      const errors = answers.filter((a) => a instanceof Error);
      expect(errors.map((e) => e.message)).toEqual([]);
      const statuses = answers.map((a) => (a as { status: number }).status);
      const ok = statuses.filter((s) => s === 200).length;
      const shed = statuses.filter((s) => s === 429).length;
      expect(ok + shed).toBe(120);
      expect(ok).toBe(8);
      expect(shed).toBe(112);
      for (const a of answers) if ((a as { status: number }).status === 429) expect((a as { headers: Record<string, unknown> }).headers['retry-after']).toBe('1');
      // Health checks are never shed, and capacity comes back.
      expect((await client.get('/healthz')).status).toBe(200);
      gate = undefined;
      expect((await client.post(BODY)).status).toBe(200);
      figures['flood'] = `120 at once: ${ok} answered 200, ${shed} shed 429, 0 errors`;
    } finally {
      flood.close();
    }
  }, 60_000);
});

describe('oversize and malformed requests', () => {
  it('an endless body: 413 before the client is done, the connection cut, nothing buffered; normal requests go on', async () => {
    const probe = prober();
    const limit = h.config.flyteSecrets.server.maxBodyBytes;
    const before = process.memoryUsage().arrayBuffers;
    const outcome = await new Promise<{ status: number; sentAtAnswer: number; sentTotal: number; cutAfterMs: number }>((resolve, reject) => {
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      let sent = 0;
      let sentAtAnswer = -1;
      let status = 0;
      const started = Date.now();
      const req = httpsRequest({ host: '127.0.0.1', port: h.port, method: 'POST', path: MUTATE_PATH, ca: h.caPem, servername: h.serverName, agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
        status = res.statusCode ?? 0;
        sentAtAnswer = sent;
        res.resume();
      });
      const finish = (): void => resolve({ status, sentAtAnswer, sentTotal: sent, cutAfterMs: Date.now() - started });
      req.on('error', finish);
      req.on('close', finish);
      const pump = (): void => {
        // At most 2 GiB: the server must cut the connection long before.
        while (!req.destroyed && sent < 2 * 1024 ** 3) {
          sent += chunk.length;
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
        if (!req.destroyed) reject(new Error('the server read 2 GiB without cutting the connection'));
      };
      pump();
    });
    expect(outcome.status).toBe(413);
    // Cut long before the client was done: the 2 GiB never went out (how long the cut took is only reported).
    expect(outcome.sentTotal).toBeLessThan(2 * 1024 ** 3);
    expect(outcome.sentTotal).toBeLessThan(64 * 1024 * 1024);
    // The server kept at most the limit: buffers in this process did not grow by the amount sent.
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(Math.max(64 * 1024 * 1024, outcome.sentTotal / 4));
    figures['endlessBody'] = `413 after ${(outcome.sentAtAnswer / 1024).toFixed(0)} KiB sent (limit ${limit / 1024} KiB); connection cut after ${outcome.cutAfterMs} ms, ${(outcome.sentTotal / 1024).toFixed(0)} KiB sent in all`;
    const { failures } = await probe.stop();
    expect(failures).toEqual([]);
  }, 30_000);

  it('a declared 10 GB body is refused at once; headers over 16 KiB get 431', async () => {
    const declared = await new Promise<string>((resolve) => {
      openTls().then((s) => {
        void endOf(s, OUTER_MS).then((r) => resolve(r === 'timeout' ? 'timeout' : r.data));
        s.write(`POST ${MUTATE_PATH} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 10000000000\r\n\r\n{`);
      }, () => resolve('error'));
    });
    expect(declared).toMatch(/^HTTP\/1\.1 413 /);
    const big = await new Promise<string>((resolve) => {
      openTls().then((s) => {
        void endOf(s, OUTER_MS).then((r) => resolve(r === 'timeout' ? 'timeout' : r.data));
        s.write(`POST ${MUTATE_PATH} HTTP/1.1\r\nhost: x\r\nx-big: ${'b'.repeat(20_000)}\r\n\r\n`);
      }, () => resolve('error'));
    });
    expect(big).toMatch(/^HTTP\/1\.1 431 /);
    expect((await client.post(BODY)).status).toBe(200);
  });

  it('TLS 1.0 and 1.1 are refused by the server (protocol_version alert); 1.2 and 1.3 are served', async () => {
    const attempt = (minVersion: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3', maxVersion: typeof minVersion) =>
      new Promise<string>((resolve) => {
        const s = tlsConnect({ host: '127.0.0.1', port: h.port, ca: h.caPem, servername: h.serverName, minVersion, maxVersion, ciphers: 'DEFAULT@SECLEVEL=0' }, () => {
          resolve(String(s.getProtocol()));
          s.end();
        });
        s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      });
    expect(await attempt('TLSv1', 'TLSv1')).toBe('ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION');
    expect(await attempt('TLSv1.1', 'TLSv1.1')).toBe('ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION');
    expect(await attempt('TLSv1.2', 'TLSv1.2')).toBe('TLSv1.2');
    expect(await attempt('TLSv1.3', 'TLSv1.3')).toBe('TLSv1.3');
  });
});
