/**
 * Server behaviour that needs a controllable mutator: concurrency limit, draining on close, request timeout, and
 * the TLS floor. The end-to-end flows with the real injectors are in test/webhook-e2e.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { afterEach, describe, expect, it } from 'vitest';
import { buildReview, startApiServerHarness, type ApiServerHarness } from '../../test/support/api-server-harness.js';
import { parseConfig } from '../config/load.js';
import { isFlyteSecretsError } from '../errors.js';
import type { MutationOutcome, PodMutator } from '../inject/mutator.js';
import { INTERNAL_ERROR_MESSAGE } from './handler.js';
import { MUTATE_PATH, startWebhookServer } from './server.js';

const pod: Pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', annotations: { 'flyte.secrets/s0': 'x' } }, spec: { containers: [{ name: 'c', image: 'i' }] } };
const mutated: MutationOutcome = { kind: 'mutated', pod, patch: [{ op: 'add', path: '/metadata/labels', value: { a: 'b' } }], warnings: [], managers: ['Global'], secrets: 1 };

/** A mutator whose answers wait until the test releases them. */
function gatedMutator(answer: MutationOutcome = mutated) {
  const waiting: (() => void)[] = [];
  let entered: () => void = () => undefined;
  let enteredOnce = new Promise<void>((r) => (entered = r));
  const mutator: PodMutator = {
    managers: ['Global'],
    mutate: () =>
      new Promise((resolve) => {
        waiting.push(() => resolve(answer));
        entered();
      }),
  };
  return {
    mutator,
    /** Resolves when a call is waiting. */
    entered: () => enteredOnce,
    releaseAll() {
      for (const w of waiting.splice(0)) w();
      enteredOnce = new Promise<void>((r) => (entered = r));
    },
  };
}

function get(h: ApiServerHarness, path: string) {
  return h.post(undefined, { method: 'GET', path });
}

describe('startWebhookServer', () => {
  let h: ApiServerHarness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it(`answers 429 beyond maxConcurrentAdmissions`, async () => {
    const gate = gatedMutator();
    h = await startApiServerHarness({ mutator: gate.mutator, config: { flyteSecrets: { server: { maxConcurrentAdmissions: 1 } } } });
    const first = h.post(buildReview(pod));
    await gate.entered();
    const second = await h.post(buildReview(pod));
    expect(second.status).toBe(429);
    expect(second.headers['retry-after']).toBe('1');
    expect(JSON.parse(second.text).message).toMatch(/too many admission requests in flight \(limit 1\)/);
    gate.releaseAll();
    expect((await first).status).toBe(200);
    // Capacity is back.
    const third = h.post(buildReview(pod));
    await gate.entered();
    gate.releaseAll();
    expect((await third).status).toBe(200);
    expect(await h.server.metricsText()).toContain('flyte_secrets_admission_requests_total{outcome="throttled"} 1');
  });

  it('close(): stops accepting, waits for the request in flight, then resolves', async () => {
    const gate = gatedMutator();
    h = await startApiServerHarness({ mutator: gate.mutator });
    // The client asks to keep the connection alive, so only the server's closing can make the answer close it.
    const keepAlive = { headers: { connection: 'keep-alive' } };
    const before = h.post(buildReview(pod), keepAlive);
    await gate.entered();
    gate.releaseAll();
    expect((await before).headers['connection']).toBe('keep-alive');
    const inFlight = h.post(buildReview(pod), keepAlive);
    await gate.entered();
    let closed = false;
    const closing = h.server.close(5000).then(() => (closed = true));
    await expect(get(h, '/healthz')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await new Promise((r) => setTimeout(r, 100));
    expect(closed).toBe(false);
    gate.releaseAll();
    const answer = await inFlight;
    expect(answer.status).toBe(200);
    expect(answer.headers['connection']).toBe('close');
    await closing;
    expect(closed).toBe(true);
  });

  it('close(): gives up on a request still running after the grace period', async () => {
    const gate = gatedMutator();
    h = await startApiServerHarness({ mutator: gate.mutator });
    const inFlight = h.post(buildReview(pod));
    await gate.entered();
    const started = Date.now();
    await h.server.close(300);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    await expect(inFlight).rejects.toThrow(/socket hang up|ECONNRESET/);
    gate.releaseAll();
  });

  it('closes a connection whose body does not arrive within requestTimeout', async () => {
    h = await startApiServerHarness({ mutator: gatedMutator().mutator, config: { flyteSecrets: { server: { requestTimeout: '400ms' } } } });
    const harness = h;
    const body = Buffer.from(JSON.stringify(buildReview(pod)));
    const outcome = await new Promise<string>((resolve) => {
      const req = httpsRequest(
        { host: '127.0.0.1', port: harness.port, method: 'POST', path: MUTATE_PATH, ca: harness.caPem, servername: harness.serverName, agent: false, headers: { 'content-type': 'application/json', 'content-length': body.length } },
        (res) => resolve(`status ${res.statusCode ?? 0}`),
      );
      req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
      req.write(body.subarray(0, 10)); // and never the rest
    });
    // The body never arrives: only requestTimeout can end this request, so the 408 is the proof (no clock needed).
    expect(outcome).toBe('status 408');
    const until = Date.now() + 10_000;
    while (!(await h.server.metricsText()).includes('outcome="aborted"') && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    expect(await h.server.metricsText()).toContain('flyte_secrets_admission_requests_total{outcome="aborted"} 1');
  });

  it('refuses TLS 1.2 when minTlsVersion is TLSv1.3, and accepts TLS 1.3', async () => {
    h = await startApiServerHarness({ mutator: gatedMutator().mutator, config: { flyteSecrets: { server: { minTlsVersion: 'TLSv1.3' } } } });
    const harness = h;
    const attempt = (maxVersion: 'TLSv1.2' | 'TLSv1.3') =>
      new Promise<string>((resolve) => {
        const s = tlsConnect({ host: '127.0.0.1', port: harness.port, ca: harness.caPem, servername: harness.serverName, maxVersion }, () => {
          resolve(String(s.getProtocol()));
          s.end();
        });
        s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      });
    expect(await attempt('TLSv1.2')).toBe('ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION');
    expect(await attempt('TLSv1.3')).toBe('TLSv1.3');
    // The floor survives a certificate reload (setSecureContext must be given minVersion again).
    const next = await h.rotateServingCertificate();
    const until = Date.now() + 5000;
    while ((await h.servedFingerprint()) !== next && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    expect(await h.servedFingerprint()).toBe(next);
    expect(await attempt('TLSv1.2')).toBe('ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION');
  });

  it('answers an error while encoding the response as a denial, never a 500', async () => {
    const bad: MutationOutcome = { ...mutated, patch: [{ op: 'add', path: '/x', value: 10n }] };
    h = await startApiServerHarness({ mutator: { managers: ['Global'], mutate: () => Promise.resolve(bad) } });
    const a = await h.post(buildReview(pod));
    expect(a.status).toBe(200);
    expect(JSON.parse(a.text).response).toMatchObject({ allowed: false, status: { code: 500, message: INTERNAL_ERROR_MESSAGE } });
  });

  it('fails to start with a clear error when tls.crt/tls.key are missing', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'flyte-secrets-nocerts-'));
    try {
      const config = parseConfig({ webhook: { certDir: empty }, flyteSecrets: { server: { host: '127.0.0.1' } } });
      let caught: unknown;
      try {
        await startWebhookServer({ config, mutator: gatedMutator().mutator, port: 0 });
      } catch (err) {
        caught = err;
      }
      expect(isFlyteSecretsError(caught, 'InvalidConfig')).toBe(true);
      expect((caught as Error).message).toContain(`${join(empty, 'tls.crt')}: no such file`);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
