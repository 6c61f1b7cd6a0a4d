/**
 * The broker under a burst: 200 pods start at once against 2 webhook processes (`flyte-secrets serve`, real child
 * processes), Embedded secrets in the Key Vault emulator (100 ms per request), the API server stand-in answering
 * TokenReviews and pod reads. In the same run, inline mode (Flyte's: values in the pod spec) on 2 fresh processes.
 *
 * Per run and mode: 200 admissions at once (round-robin over the 2 processes); in agent mode the admitted pods are
 * stored in the stand-in, each gets its projected token, then all 200 agents call the broker at once, each on the
 * process that did NOT admit it (any replica serves any pod). Printed: latency p50/p99 of admissions and of broker
 * requests (medians and ranges over the runs), CPU ms per request from each process's own
 * `process_cpu_seconds_total`, and Key Vault GETs per process against the number of distinct (scope, secret) ids a
 * pod's lookups touch (the bound: at most one GET per id per process).
 *
 * Run: `npm run build && npx tsx bench/broker.ts [runs=3]` (bounded; about a minute on 2 cores).
 *
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { fetchFromBroker } from '../src/broker/client.js';
import { startEmulator, type Emulator } from '../src/emulator/index.js';
import { applyPatch, type JsonPatchOp } from '../src/inject/patch.js';
import { INJECT_LABEL, INJECT_LABEL_VALUE, secretsToAnnotations } from '../src/secret/annotations.js';
import { MountRequirement, makeSecret } from '../src/secret/model.js';
import { generateCertificates, writeCertificateFiles } from '../src/webhook/certs.js';
import { startFakeKubeApiServer, type FakeKubeApiServer } from '../test/support/fake-kube-apiserver.js';
import { runBench } from './support/run.js';
import { BENCH_SECRETS } from './support/secrets.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PODS = 200;
const RUNS = Number(process.argv[2] ?? '3');
const LATENCY_MS = 100;
const NS = 'flytesnacks-development';
const SERVICE = 'flyte-pod-webhook';
const HARD_LIMIT_MS = 300_000;

const SECRETS = BENCH_SECRETS;
/** Scope ids a pod's lookups touch: project 1, domain 2 (404 + 200), org 3 (404 + 404 + 200). */
const DISTINCT_IDS = 2 * 1 + 2 * 2 + 3;

interface Proc {
  child: ChildProcess;
  port: number;
}

interface Phase {
  p50: number;
  p99: number;
  /** CPU ms per request, summed over the 2 processes. */
  cpuMs: number;
  failed: number;
}

interface RunResult {
  inline: Phase;
  agentAdmission: Phase;
  broker: Phase;
  inlineGets: number[];
  agentGets: number[];
  /** GETs that returned a value, per process (agent mode). */
  agentFound: number[];
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

function taskPod(i: number, run: number): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `burst-${run}-${i}`,
      namespace: NS,
      labels: { organization: 'flyte', project: 'flytesnacks', domain: 'development', [INJECT_LABEL]: INJECT_LABEL_VALUE },
      annotations: secretsToAnnotations(SECRETS.map((s) => makeSecret({ key: s.name, mountRequirement: MountRequirement.FILE }))),
    },
    spec: { serviceAccountName: 'default', containers: [{ name: 'task', image: 'python:3.12' }] },
  };
}

const agent = new Agent({ keepAlive: true, maxSockets: 256 });

function https(port: number, ca: string, method: string, path: string, body?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method, path, ca, servername: `${SERVICE}.flyte.svc`, agent, headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function scrape(p: Proc, ca: string): Promise<{ cpu: number; gets: number; found: number }> {
  const { text } = await https(p.port, ca, 'GET', '/metrics');
  const sum = (name: string): number =>
    text
      .split('\n')
      .filter((l) => l.startsWith(name))
      .reduce((a, l) => a + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  return { cpu: sum('process_cpu_seconds_total'), gets: sum('flyte_secrets_backend_requests_total'), found: text
      .split('\n')
      .filter((l) => l.startsWith('flyte_secrets_backend_requests_total{') && l.includes('outcome="ok"'))
      .reduce((a, l) => a + Number(l.slice(l.lastIndexOf(' ') + 1)), 0) };
}

async function startServe(configPath: string, env: NodeJS.ProcessEnv): Promise<Proc> {
  const child = spawn(process.execPath, [join(ROOT, 'bin/flyte-secrets.js'), 'serve', '--config', configPath, '--port', '0', '--invalidation-port', '0'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const lines = createInterface({ input: child.stdout });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${stderr}`)), 30_000);
    lines.on('line', (line) => {
      if (process.env.BENCH_DEBUG !== undefined && line.includes('broker_kube_error')) console.error(line);
      try {
        const l = JSON.parse(line) as { event?: string; port?: number };
        if (l.event === 'started' && typeof l.port === 'number') {
          clearTimeout(timer);
          resolve(l.port);
        }
      } catch {
        // not JSON
      }
    });
    child.once('exit', (code) => reject(new Error(`serve exited ${String(code)}: ${stderr}`)));
  });
  return { child, port };
}

async function stop(procs: Proc[]): Promise<void> {
  await Promise.all(
    procs.map(
      (p) =>
        new Promise<void>((resolve) => {
          p.child.once('exit', () => resolve());
          p.child.kill('SIGTERM');
        }),
    ),
  );
}

async function admit(p: Proc, ca: string, pod: Pod): Promise<{ ms: number; pod?: Pod }> {
  const review = {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid: randomUUID(), kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' }, namespace: NS, operation: 'CREATE', object: pod, userInfo: { username: 'system:serviceaccount:flyte:flytepropeller' } },
  };
  const t0 = performance.now();
  const res = await https(p.port, ca, 'POST', '/mutate--v1-pod', JSON.stringify(review));
  const ms = performance.now() - t0;
  const answer = (JSON.parse(res.text) as { response?: { allowed?: boolean; patch?: string } }).response;
  if (answer?.allowed !== true || answer.patch === undefined) return { ms };
  return { ms, pod: applyPatch(pod, JSON.parse(Buffer.from(answer.patch, 'base64').toString('utf8')) as JsonPatchOp[]) };
}

function phase(latencies: number[], cpuSeconds: number, failed: number): Phase {
  const s = [...latencies].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p99: percentile(s, 99), cpuMs: (cpuSeconds * 1000) / Math.max(1, latencies.length), failed };
}

async function oneRun(run: number, emu: Emulator, kube: FakeKubeApiServer, dir: string, ca: string, baseEnv: NodeJS.ProcessEnv): Promise<RunResult> {
  const configFor = (delivery: 'inline' | 'agent'): string => {
    const file = join(dir, `config-${delivery}.json`);
    writeFileSync(
      file,
      JSON.stringify({
        webhook: { certDir: dir, serviceName: SERVICE, secretManagerTypes: ['Embedded'], embeddedSecretManagerConfig: { type: 'Azure', azureConfig: { vaultURI: emu.vaultUrl } } },
        flyteSecrets: { server: { host: '127.0.0.1', logLevel: 'info' }, embedded: { delivery }, broker: { maxRequestsPerPod: 5 } },
      }),
    );
    return file;
  };
  const result: Partial<RunResult> = {};
  for (const delivery of ['inline', 'agent'] as const) {
    const procs = await Promise.all([startServe(configFor(delivery), baseEnv), startServe(configFor(delivery), baseEnv)]);
    try {
      const before = await Promise.all(procs.map((p) => scrape(p, ca)));
      const pods = Array.from({ length: PODS }, (_, i) => taskPod(i, run * 10 + (delivery === 'agent' ? 1 : 0)));
      const admitted = await Promise.all(pods.map((pod, i) => admit(procs[i % 2]!, ca, pod)));
      const afterAdmission = await Promise.all(procs.map((p) => scrape(p, ca)));
      const cpuAdmission = afterAdmission.reduce((a, s, i) => a + s.cpu - before[i]!.cpu, 0);
      const admissionPhase = phase(admitted.map((a) => a.ms), cpuAdmission, admitted.filter((a) => a.pod === undefined).length);
      if (delivery === 'inline') {
        result.inline = admissionPhase;
        result.inlineGets = afterAdmission.map((s, i) => s.gets - before[i]!.gets);
        continue;
      }
      result.agentAdmission = admissionPhase;
      // The API server stores the pods; the kubelet gets each its projected token.
      const tokens = admitted.map((a) => {
        const stored = kube.store.put({ ...(a.pod as object), status: { phase: 'Pending' } }) as Pod;
        return kube.issuePodToken(NS, stored.metadata!.name!, { audiences: ['flyte-secrets-broker'] });
      });
      const sources = SECRETS.map((_, i) => `embedded:${i}`);
      const latencies: number[] = [];
      let failed = 0;
      await Promise.all(
        tokens.map(async (token, i) => {
          const p = procs[(i + 1) % 2]!; // the other replica than the one that admitted the pod
          const t0 = performance.now();
          try {
            await fetchFromBroker({ url: `https://${SERVICE}.flyte.svc:443/broker/v1/secrets`, connectTo: { host: '127.0.0.1', port: p.port }, token, caPem: ca, sources, deadline: Date.now() + 60_000 });
          } catch (err) {
            if (failed === 0) console.error(`first broker failure: ${(err as Error).message}`);
            failed += 1;
          }
          latencies.push(performance.now() - t0);
        }),
      );
      const after = await Promise.all(procs.map((p) => scrape(p, ca)));
      result.broker = phase(latencies, after.reduce((a, s, i) => a + s.cpu - afterAdmission[i]!.cpu, 0), failed);
      result.agentGets = after.map((s, i) => s.gets - before[i]!.gets);
      result.agentFound = after.map((s, i) => s.found - before[i]!.found);
    } finally {
      await stop(procs);
    }
  }
  return result as RunResult;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-broker-'));
  const emu = await startEmulator({
    clientSecret: 'bench',
    latencyMs: LATENCY_MS,
    seed: SECRETS.map((s) => ({ org: 'flyte', ...(s.scope === 'org' ? {} : { domain: 'development' }), ...(s.scope === 'project' ? { project: 'flytesnacks' } : {}), flyteName: s.name, string: `value-of-${s.name}` })),
  });
  const kube = await startFakeKubeApiServer();
  kube.store.put({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace: NS } });
  const bundle = await generateCertificates({ serviceName: SERVICE, namespace: 'flyte', validityMs: 24 * 3600_000 });
  writeCertificateFiles(dir, bundle);
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: dir,
    POD_NAMESPACE: 'flyte',
    KUBECONFIG: kube.kubeconfigPath,
    NODE_EXTRA_CA_CERTS: emu.caFile,
    AZURE_AUTHORITY_HOST: emu.authorityHost,
    AZURE_TENANT_ID: emu.tenantId,
    AZURE_CLIENT_ID: emu.clientId,
    AZURE_CLIENT_SECRET: emu.clientSecret,
  };
  const runs: RunResult[] = [];
  try {
    for (let r = 0; r < RUNS; r++) {
      const res = await oneRun(r, emu, kube, dir, bundle.caCert, env);
      runs.push(res);
      const f = (x: number): string => x.toFixed(1);
      console.log(
        `run ${r + 1}: inline admission p50 ${f(res.inline.p50)} ms p99 ${f(res.inline.p99)} ms, ${f(res.inline.cpuMs)} CPU ms/pod, GETs/process ${res.inlineGets.join('+')} | ` +
          `agent admission p50 ${f(res.agentAdmission.p50)} p99 ${f(res.agentAdmission.p99)} ms | broker p50 ${f(res.broker.p50)} p99 ${f(res.broker.p99)} ms, ${f(res.broker.cpuMs)} CPU ms/request, failed ${res.broker.failed}, GETs/process ${res.agentGets.join('+')} (with a value: ${res.agentFound.join('+')})`,
      );
    }
  } finally {
    await kube.close();
    await emu.close();
    agent.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
  const stat = (xs: number[]): string => `${median(xs).toFixed(1)} (${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)})`;
  console.log(`\n${PODS} pods at once, 2 processes per mode, Key Vault latency ${LATENCY_MS} ms, ${RUNS} runs: median (range)`);
  console.log(`inline   admission p50 ${stat(runs.map((r) => r.inline.p50))} ms, p99 ${stat(runs.map((r) => r.inline.p99))} ms, CPU ${stat(runs.map((r) => r.inline.cpuMs))} ms/pod`);
  console.log(`agent    admission p50 ${stat(runs.map((r) => r.agentAdmission.p50))} ms, p99 ${stat(runs.map((r) => r.agentAdmission.p99))} ms, CPU ${stat(runs.map((r) => r.agentAdmission.cpuMs))} ms/pod`);
  console.log(`broker   request   p50 ${stat(runs.map((r) => r.broker.p50))} ms, p99 ${stat(runs.map((r) => r.broker.p99))} ms, CPU ${stat(runs.map((r) => r.broker.cpuMs))} ms/request, failures ${runs.reduce((a, r) => a + r.broker.failed, 0)}`);
  console.log(
    `ratio    broker p50 / inline admission p50 ${(median(runs.map((r) => r.broker.p50)) / median(runs.map((r) => r.inline.p50))).toFixed(2)}; ` +
      `(agent admission + broker) CPU / inline admission CPU ${((median(runs.map((r) => r.agentAdmission.cpuMs)) + median(runs.map((r) => r.broker.cpuMs))) / median(runs.map((r) => r.inline.cpuMs))).toFixed(2)}`,
  );
  const maxInline = Math.max(...runs.flatMap((r) => r.inlineGets));
  const maxAgent = Math.max(...runs.flatMap((r) => r.agentGets));
  const maxFound = Math.max(...runs.flatMap((r) => r.agentFound));
  console.log(`Key Vault GETs that returned a value, per process (agent mode): max ${maxFound}, for ${SECRETS.length} distinct secrets → ${maxFound <= SECRETS.length ? 'at most one per (scope, secret)' : 'MORE than one per (scope, secret)'}`);
  console.log(`Key Vault GETs per process (admissions + broker): agent max ${maxAgent}, inline max ${maxInline}; bound ${DISTINCT_IDS} distinct (scope, secret) ids → ${maxAgent <= DISTINCT_IDS ? 'within' : 'over'} the bound (not-found answers are cached for flyteSecrets.fetch.negativeCacheTtl, 10 s: a process still answering past that probes the 404 scopes again)`);
}

runBench('bench/broker', main, HARD_LIMIT_MS);
