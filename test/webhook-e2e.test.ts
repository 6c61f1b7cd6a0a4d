/**
 * End-to-end proof of the admission webhook: a stand-in API server (test/support/api-server-harness.ts) talks to the
 * real server over TLS, with the real injector chain, and checks what Kubernetes would check. The CLI parts run
 * `node bin/flyte-secrets.js` (build first: `npx tsc -p tsconfig.build.json`).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PodMutator } from '../src/inject/mutator.js';
import { NONE_INJECTED_PREFIX } from '../src/inject/mutator.js';
import { secretsToAnnotations } from '../src/secret/annotations.js';
import { makeSecret, MountRequirement } from '../src/secret/model.js';
import { generateCertificates, writeCertificateFiles } from '../src/webhook/certs.js';
import { buildReview, startApiServerHarness, type ApiServerHarness } from './support/api-server-harness.js';
import { CLI_BIN as BIN, PACKAGE_ROOT as ROOT } from './support/cli.js';

const CANARY = 'canary-9f8e7d6c-do-not-log';
const ENV = { FLYTE_SECRET_CANARY_TOKEN: CANARY };
const CONFIG = { webhook: { secretManagerTypes: ['Azure', 'K8s'] } };

const AZURE_SECRET = makeSecret({ group: 'https://myvault.vault.azure.net/secrets/db-password', groupVersion: '4f1a', mountRequirement: MountRequirement.FILE });
const K8S_SECRET = makeSecret({ group: 'dbcreds', key: 'password', mountRequirement: MountRequirement.ENV_VAR });
const GLOBAL_SECRET = makeSecret({ group: 'canary', key: 'token', mountRequirement: MountRequirement.ENV_VAR });

/** A Flyte v2 task pod as the executor creates it, asking for `annotations`. */
function taskPod(annotations: Record<string, string>, name = 'a8f2k-n0-0'): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: 'flytesnacks-development',
      labels: { 'inject-flyte-secrets': 'true', organization: 'flyte', project: 'flytesnacks', domain: 'development' },
      annotations: { 'cluster-autoscaler.kubernetes.io/safe-to-evict': 'false', ...annotations },
    },
    spec: {
      restartPolicy: 'Never',
      serviceAccountName: 'default',
      containers: [
        {
          name: 'primary',
          image: 'cr.flyte.org/flyteorg/flytekit:py3.12-1.14.0',
          args: ['pyflyte-fast-execute', '--', 'pyflyte-execute', '--task-module', 'wf', '--task-name', 't'],
          env: [{ name: 'FLYTE_INTERNAL_EXECUTION_ID', value: 'a8f2k' }],
          resources: { requests: { cpu: '500m', memory: '1Gi' }, limits: { cpu: '500m', memory: '1Gi' } },
        },
      ],
    },
  };
}

const threeSecretsPod = (): Pod => taskPod(secretsToAnnotations([AZURE_SECRET, K8S_SECRET, GLOBAL_SECRET]));

function envOf(pod: Pod, container = 'primary') {
  const c = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])].find((x) => x.name === container);
  return c?.env ?? [];
}

describe('webhook end to end (a stand-in API server over TLS, the real injector chain)', () => {
  let h: ApiServerHarness;
  const seen: { namespace: string; dryRun: boolean }[] = [];

  beforeAll(async () => {
    // The real chain, with a spy in front of the mutator to see what the handler passes it.
    const { buildInjectors, createMutator } = await import('../src/inject/mutator.js');
    const { parseConfig } = await import('../src/config/load.js');
    const config = parseConfig(CONFIG);
    const inner = createMutator(config, buildInjectors(config, { env: ENV }));
    const spy: PodMutator = {
      managers: inner.managers,
      mutate: (pod, ctx) => {
        seen.push(ctx);
        return inner.mutate(pod, ctx);
      },
    };
    h = await startApiServerHarness({ config: CONFIG, mutator: spy });
  });
  afterAll(() => h.close());

  it('injects Azure, K8s and Global secrets; the patched pod is a valid Pod; re-admission changes nothing', async () => {
    const a = await h.admit(threeSecretsPod()); // admit() validates the pod and re-admits it (must be a no-op)
    expect(a.response.allowed).toBe(true);
    expect(a.response.patchType).toBe('JSONPatch');
    const spec = a.pod.spec!;
    // Azure: one init container downloading into the in-memory volume mounted read-only in the task container.
    expect(spec.initContainers?.map((c) => c.name)).toEqual(['azure-pull-secret-0']);
    expect(spec.volumes).toContainEqual({ name: 'azure-secret-vol', emptyDir: { medium: 'Memory' } });
    expect(spec.containers[0]?.volumeMounts).toContainEqual({ name: 'azure-secret-vol', readOnly: true, mountPath: '/etc/flyte/secrets' });
    expect(envOf(a.pod, 'azure-pull-secret-0')).toContainEqual({ name: 'FLYTE_SECRET_PATH', value: '/etc/flyte/secrets/db-password/4f1a' });
    // K8s: a secretKeyRef env var.
    expect(envOf(a.pod)).toContainEqual({ name: '_UNION_DBCREDS_PASSWORD', valueFrom: { secretKeyRef: { name: 'dbcreds', key: 'password', optional: true } } });
    // Global: the webhook's own value.
    expect(envOf(a.pod)).toContainEqual({ name: '_UNION_CANARY_TOKEN', value: CANARY });
    // The user's env var is kept.
    expect(envOf(a.pod)).toContainEqual({ name: 'FLYTE_INTERNAL_EXECUTION_ID', value: 'a8f2k' });
    // A pod without workload identity gets the Azure warning.
    expect(a.response.warnings?.some((w) => w.includes('azure.workload.identity/use'))).toBe(true);
  });

  it('answers a v1beta1 review in v1beta1, with the same patch as v1', async () => {
    const v1 = await h.admit(threeSecretsPod(), { checkIdempotent: false });
    const beta = await h.admit(threeSecretsPod(), { apiVersion: 'admission.k8s.io/v1beta1' });
    expect(beta.review.apiVersion).toBe('admission.k8s.io/v1beta1');
    expect(beta.patch).toEqual(v1.patch);
  });

  it('allows what is not a pod CREATE unchanged', async () => {
    const deployment = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd', annotations: secretsToAnnotations([GLOBAL_SECRET]) }, spec: {} };
    const d = await h.admit(deployment as unknown as Pod, { kind: { group: 'apps', version: 'v1', kind: 'Deployment' }, resource: { group: 'apps', version: 'v1', resource: 'deployments' } });
    expect(d.response).toEqual({ uid: d.response.uid, allowed: true, status: { code: 200, message: 'No changes' } });
    const u = await h.admit(threeSecretsPod(), { operation: 'UPDATE' });
    expect(u.response.allowed).toBe(true);
    expect(u.patch).toEqual([]);
  });

  it('allows a pod without secret annotations with «No changes»', async () => {
    const a = await h.admit(taskPod({}));
    expect(a.response).toMatchObject({ allowed: true, status: { code: 200, message: 'No changes' } });
    expect(a.response.patch).toBeUndefined();
  });

  it('denies a malformed annotation with code 400, naming the annotation key', async () => {
    const a = await h.admit(taskPod({ 'flyte.secrets/s0': 'not base32!' }));
    expect(a.response.allowed).toBe(false);
    expect(a.response.status?.code).toBe(400);
    expect(a.response.status?.message).toMatch(/^failed to unmarshal secrets from pod annotations: error unmarshaling secret \[flyte\.secrets\/s0\]\. Error: /);
  });

  it('denies a secret no manager injects with Flyte’s «none of the secret managers injected secret» message', async () => {
    const nobody = makeSecret({ group: 'nothing-here', mountRequirement: MountRequirement.ENV_VAR }); // no key: K8s refuses; not in env: Global refuses
    const a = await h.admit(taskPod(secretsToAnnotations([nobody])));
    expect(a.response.allowed).toBe(false);
    expect(a.response.status?.code).toBe(400);
    expect(a.response.status?.message?.startsWith(`${NONE_INJECTED_PREFIX} [`)).toBe(true);
    expect(a.response.status?.message).toContain(': no enabled secret manager serves this kind of secret: Azure: ');
    expect(a.response.status?.message?.endsWith(' (secret managers tried: [Global Azure K8s])')).toBe(true);
  });

  it.each([
    ['not JSON', '{"apiVersion": "admission.k8s.io/v1", ', /not valid JSON/],
    ['not an AdmissionReview', { apiVersion: 'v1', kind: 'Pod' }, /not an AdmissionReview/],
    ['a review without request', { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }, /request is missing/],
    ['a review without uid', { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { kind: { group: '', version: 'v1', kind: 'Pod' } } }, /request.uid is missing/],
  ])('answers %s with HTTP 400 and a message', async (_name, body, message) => {
    const a = await h.post(body);
    expect(a.status).toBe(400);
    const status = JSON.parse(a.text) as { kind: string; code: number; message: string };
    expect(status).toMatchObject({ kind: 'Status', code: 400 });
    expect(status.message).toMatch(message);
  });

  it('refuses a body over maxBodyBytes with 413, whether declared or streamed', async () => {
    const limit = h.config.flyteSecrets.server.maxBodyBytes;
    const big = buildReview(taskPod({ filler: 'x'.repeat(limit) }));
    const declared = await h.post(big);
    expect(declared.status).toBe(413);
    expect(JSON.parse(declared.text).message).toContain(`exceeds ${limit} bytes`);
    const streamed = await h.post(big, { chunkSize: 64 * 1024 });
    expect(streamed.status).toBe(413);
    // The server is still fine afterwards.
    expect((await h.admit(threeSecretsPod())).response.allowed).toBe(true);
  });

  it('answers GET on the mutate path with 405, another content type with 415, an unknown path with 404', async () => {
    const get = await h.post(undefined, { method: 'GET' });
    expect(get.status).toBe(405);
    expect(get.headers['allow']).toBe('POST');
    expect((await h.post(buildReview(threeSecretsPod()), { headers: { 'content-type': 'text/plain' } })).status).toBe(415);
    expect((await h.post(buildReview(threeSecretsPod()), { path: '/mutate-v1-pod' })).status).toBe(404);
  });

  it('runs a dryRun admission through the same mutation, passing dryRun to the mutator', async () => {
    seen.length = 0;
    const wet = await h.admit(threeSecretsPod(), { checkIdempotent: false });
    const dry = await h.admit(threeSecretsPod(), { dryRun: true, checkIdempotent: false });
    expect(dry.patch).toEqual(wet.patch);
    expect(seen).toEqual([
      { namespace: 'flytesnacks-development', dryRun: false },
      { namespace: 'flytesnacks-development', dryRun: true },
    ]);
    expect(h.logs.filter((l) => l['event'] === 'admission').at(-1)).toMatchObject({ dryRun: true, outcome: 'mutated' });
  });

  it('serves /healthz, /readyz (503 when not ready) and /metrics', async () => {
    expect(await h.post(undefined, { method: 'GET', path: '/healthz' })).toMatchObject({ status: 200, text: 'ok\n' });
    expect(await h.post(undefined, { method: 'GET', path: '/readyz' })).toMatchObject({ status: 200, text: 'ok\n' });
    h.server.setReady(false);
    expect(await h.post(undefined, { method: 'GET', path: '/readyz' })).toMatchObject({ status: 503, text: 'not ready\n' });
    h.server.setReady(true);
    const m = await h.post(undefined, { method: 'GET', path: '/metrics' });
    expect(m.status).toBe(200);
    expect(m.headers['content-type']).toMatch(/^text\/plain/);
    for (const expected of [
      /flyte_secrets_admission_requests_total\{outcome="mutated"\} [1-9]/,
      /flyte_secrets_admission_requests_total\{outcome="denied"\} [1-9]/,
      /flyte_secrets_admission_requests_total\{outcome="bad_request"\} [1-9]/,
      /flyte_secrets_admission_denials_total\{reason="InvalidAnnotation"\} [1-9]/,
      /flyte_secrets_admission_duration_seconds_bucket\{le="0.1"\} [1-9]/,
      /flyte_secrets_injections_total\{manager="Azure"\} [1-9]/,
      /flyte_secrets_injections_total\{manager="Global"\} [1-9]/,
      /process_cpu_user_seconds_total/,
      /nodejs_eventloop_lag_seconds/,
    ]) {
      expect(m.text).toMatch(expected);
    }
    expect(m.text).not.toContain(CANARY);
    expect(await h.server.metricsText()).toContain('flyte_secrets_admission_requests_total');
  });

  it('speaks only HTTP/1.1 over ALPN, and refuses TLS 1.1', async () => {
    expect((await h.post(undefined, { method: 'GET', path: '/healthz' })).alpn).toBe('http/1.1'); // client offered h2 first
    const err = await new Promise<NodeJS.ErrnoException>((resolve, reject) => {
      const socket = tlsConnect({ host: '127.0.0.1', port: h.port, ca: h.caPem, servername: h.serverName, minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }, () => {
        socket.end();
        reject(new Error(`TLS ${String(socket.getProtocol())} was accepted`));
      });
      socket.on('error', resolve);
    });
    // The server's own refusal (a protocol_version alert), not a client-side "no protocols available".
    expect(err.code).toBe('ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION');
  });

  it('reloads the certificate when the files change; a broken pair keeps the current one', async () => {
    const before = await h.servedFingerprint();
    const next = await h.rotateServingCertificate();
    expect(next).not.toBe(before);
    const deadline = Date.now() + 5000;
    let served = before;
    while (served !== next && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      served = await h.servedFingerprint();
    }
    expect(served).toBe(next);
    // A broken certificate file: logged, and the new connections keep getting the good one.
    writeFileSync(join(h.certDir, 'tls.crt'), '-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n');
    const until = Date.now() + 5000;
    while (!h.logs.some((l) => l['event'] === 'tls_reload_failed') && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    expect(h.logs.some((l) => l['event'] === 'tls_reload_failed')).toBe(true);
    expect(await h.servedFingerprint()).toBe(next);
    expect((await h.admit(threeSecretsPod())).response.allowed).toBe(true);
  });

  it('never logs a secret value, a raw pod or a review', async () => {
    const start = h.logs.length;
    const a = await h.admit(threeSecretsPod());
    expect(JSON.stringify(a.pod)).toContain(CANARY); // the value was injected…
    const lines = h.logs.slice(start).map((l) => JSON.stringify(l));
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      expect(line).not.toContain(CANARY); // …and never logged
      expect(line).not.toContain('flyte.secrets/s0');
      expect(line).not.toContain('"spec"');
    }
    expect(JSON.parse(lines[0]!)).toMatchObject({ event: 'admission', namespace: 'flytesnacks-development', pod: 'a8f2k-n0-0', secrets: 3, outcome: 'mutated' });
  });
});

// ---- child processes: `serve` (SIGTERM) and `inject` (same result as the server) ----

function runCli(args: string[], options: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, ...options.env } });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
    child.stdin.end(options.input ?? '');
  });
}

describe('the CLI: serve and inject', () => {
  let dir: string;
  let configFile: string;
  let caPem: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flyte-secrets-e2e-'));
    const certDir = join(dir, 'certs');
    const bundle = await generateCertificates({ serviceName: 'flyte-pod-webhook', namespace: 'flyte', validityMs: 3600_000 });
    writeCertificateFiles(certDir, bundle);
    caPem = bundle.caCert;
    configFile = join(dir, 'config.yaml');
    writeFileSync(
      configFile,
      JSON.stringify({ ...CONFIG, webhook: { ...CONFIG.webhook, certDir, cacheInvalidationPort: 0 }, flyteSecrets: { server: { host: '127.0.0.1', shutdownGrace: '10s' } } }),
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('serve: on SIGTERM a request in flight completes, new connections are refused, and the process exits 0', async () => {
    const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [BIN, 'serve', '--config', configFile, '--port', '0'], { cwd: ROOT, env: { ...process.env, ...ENV } });
    const lines: Record<string, unknown>[] = [];
    let buffered = '';
    const waiters: { test: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }[] = [];
    child.stdout.on('data', (c: Buffer) => {
      buffered += c.toString('utf8');
      let nl;
      while ((nl = buffered.indexOf('\n')) !== -1) {
        const line = JSON.parse(buffered.slice(0, nl)) as Record<string, unknown>;
        buffered = buffered.slice(nl + 1);
        lines.push(line);
        for (const w of [...waiters]) if (w.test(line)) w.resolve(line);
      }
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const waitFor = (event: string): Promise<Record<string, unknown>> =>
      new Promise((resolve, reject) => {
        const found = lines.find((l) => l['event'] === event);
        if (found) return resolve(found);
        const timer = setTimeout(() => reject(new Error(`no "${event}" log line; stderr: ${stderr}`)), 15_000);
        waiters.push({ test: (l) => l['event'] === event, resolve: (l) => (clearTimeout(timer), resolve(l)) });
      });
    try {
      const started = await waitFor('started');
      const port = started['port'] as number;
      expect(started['managers']).toEqual(['Global', 'Azure', 'K8s']);

      // Start a request and send only half of its body.
      const body = Buffer.from(JSON.stringify(buildReview(threeSecretsPod())));
      const answer = new Promise<{ status: number; text: string }>((resolve, reject) => {
        const req = httpsRequest(
          { host: '127.0.0.1', port, method: 'POST', path: '/mutate--v1-pod', ca: caPem, servername: 'flyte-pod-webhook.flyte.svc', agent: false, headers: { 'content-type': 'application/json', 'content-length': body.length } },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
          },
        );
        req.on('error', reject);
        req.write(body.subarray(0, body.length >> 1));
        // The rest follows once the server has begun shutting down.
        void waitFor('stopping').then(async () => {
          // New connections are refused while the request in flight is still open.
          const refused = await new Promise<string>((res) => {
            const s = tlsConnect({ host: '127.0.0.1', port, ca: caPem, servername: 'flyte-pod-webhook.flyte.svc' }, () => (s.end(), res('connected')));
            s.on('error', (e: NodeJS.ErrnoException) => res(e.code ?? 'error'));
          });
          expect(refused).toBe('ECONNREFUSED');
          req.end(body.subarray(body.length >> 1));
        }).catch(reject);
      });
      await new Promise((r) => setTimeout(r, 300)); // let the server read the headers
      child.kill('SIGTERM');
      const got = await answer;
      expect(got.status).toBe(200);
      const review = JSON.parse(got.text) as { response: { allowed: boolean; patch?: string } };
      expect(review.response.allowed).toBe(true);
      expect(review.response.patch).toBeDefined();
      expect(await exited).toBe(0);
      expect(lines.map((l) => l['event'])).toEqual(expect.arrayContaining(['started', 'stopping', 'admission', 'stopped']));
      expect(lines.map((l) => JSON.stringify(l)).join('\n')).not.toContain(CANARY);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('inject gives exactly the server’s result for the same pod and config (pod and patch)', async () => {
    const h = await startApiServerHarness({ config: CONFIG, deps: { env: ENV } });
    try {
      const pod = threeSecretsPod();
      const viaServer = await h.admit(pod);
      const podFile = join(dir, 'pod.json');
      writeFileSync(podFile, JSON.stringify(pod));
      const asJson = await runCli(['inject', '--config', configFile, '-f', podFile, '-o', 'json'], { env: ENV });
      expect(asJson.code).toBe(0);
      expect(JSON.parse(asJson.stdout)).toEqual(viaServer.pod);
      expect(asJson.stderr).toMatch(/^warning: Azure secrets are fetched with workload identity/m);
      const asPatch = await runCli(['inject', '--config', configFile, '-f', '-', '-o', 'patch'], { env: ENV, input: JSON.stringify(pod) });
      expect(asPatch.code).toBe(0);
      expect(JSON.parse(asPatch.stdout)).toEqual(viaServer.patch);
      const { parse } = await import('yaml');
      const asYaml = await runCli(['inject', '--config', configFile, '-f', podFile], { env: ENV });
      expect(parse(asYaml.stdout)).toEqual(viaServer.pod);
    } finally {
      await h.close();
    }
  });

  it('inject: a denial prints the reason on stderr and exits 3; a bad pod file exits 1', async () => {
    const podFile = join(dir, 'bad.yaml');
    const { stringify } = await import('yaml');
    writeFileSync(podFile, stringify(taskPod({ 'flyte.secrets/s0': '!!' })));
    const denied = await runCli(['inject', '--config', configFile, '-f', podFile]);
    expect(denied.code).toBe(3);
    expect(denied.stdout).toBe('');
    expect(denied.stderr).toMatch(/^error: the webhook would deny this pod: failed to unmarshal secrets from pod annotations: error unmarshaling secret \[flyte\.secrets\/s0\]/);
    const review = await runCli(['inject', '--config', configFile, '-f', '-'], { input: JSON.stringify(buildReview(taskPod({}))) });
    expect(review.code).toBe(1);
    expect(review.stderr).toMatch(/this is an AdmissionReview; pass the bare Pod/);
    const unchanged = await runCli(['inject', '--config', configFile, '-f', '-', '-o', 'patch'], { input: JSON.stringify(taskPod({})) });
    expect(unchanged).toMatchObject({ code: 0, stdout: '[]\n' });
  });
});
