/**
 * The broker under a burst: 200 pods start at once against 2 webhook processes (`flyte-secrets serve`, real child
 * processes), Embedded secrets in the Key Vault emulator (100 ms per request), the API server stand-in answering
 * TokenReviews and pod reads. Three modes in the same run, each on 2 fresh processes:
 *
 * - `inline`: Flyte's delivery, values in the pod spec (the baseline);
 * - `agent`: `flyteSecrets.embedded.delivery: agent`, each process with its own memory cache;
 * - `agent+Redis`: agent mode with both processes on one shared Redis cache (`cache.type: Redis`; a `redis-server`
 *   the bench starts on a free loopback port and stops at the end, a fresh key prefix per run). Without
 *   `redis-server` on PATH this mode is skipped, with a line saying so; the others still run and are still checked.
 *
 * Per run and mode: 200 admissions at once (round-robin over the 2 processes); in the agent modes the admitted pods
 * are stored in the stand-in, each gets its projected token, then all 200 agents call the broker at once, each on the
 * process that did NOT admit it (any replica serves any pod). Printed: latency p50/p99 of admissions and of broker
 * requests (medians and ranges over the runs), CPU ms per request from each process's own
 * `process_cpu_seconds_total` (the Redis server's own CPU is not counted), and Key Vault GETs against the number of
 * distinct (scope, secret) ids a pod's lookups touch.
 *
 * The bound checked is dedup and single-flight across 200 concurrent pods: at most one Key Vault GET per distinct id
 * per process (inline, agent), and at most one in total across both processes with the shared Redis cache, *within
 * the cache's lifetimes*. A not-found answer (the 404 probes of the domain and org scopes) is only remembered for
 * `flyteSecrets.fetch.negativeCacheTtl` (default 10 s), and on a loaded machine the burst can outlast that: with the
 * default a process still answering after 10 s probes the 404 scopes again, which is bounded per TTL window, not per
 * pod (correct cache behaviour, not a dedup failure). So every mode's config sets the lifetimes the run needs
 * explicitly and the same way (not-found 10 m, values 24 h; the Redis memory tier and lease keep their defaults, as
 * neither can add a Key Vault GET while the Redis entries live), and the bench prints them. It exits non-zero when a
 * bound is broken or a request failed.
 *
 * Run: `npm run build && npx tsx bench/broker.ts [runs=3]` (bounded; about 40 s a run on 2 shared cores).
 *
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { loadavg, tmpdir } from 'node:os';
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
import { startRedisServer, type RedisServer } from '../test/support/redis-server.js';
import { runBench } from './support/run.js';
import { BENCH_SECRETS } from './support/secrets.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PODS = 200;
const RUNS = Number(process.argv[2] ?? '3');
const LATENCY_MS = 100;
const NS = 'flytesnacks-development';
const SERVICE = 'flyte-pod-webhook';
const HARD_LIMIT_MS = 540_000;

const SECRETS = BENCH_SECRETS;
/** Scope ids a pod's lookups touch: project 1, domain 2 (404 + 200), org 3 (404 + 404 + 200). */
const DISTINCT_IDS = 2 * 1 + 2 * 2 + 3;

/**
 * Cache lifetimes set in every mode's config (see the module comment): long enough that no entry expires during a run,
 * so the GET counts measure dedup and single-flight, not the clock.
 */
const TTL = {
  /** `cache.inMemoryFixedSize.defaultExpiration` and `cache.redis.defaultExpiration` (default 24 h). */
  value: '24h',
  /** `flyteSecrets.fetch.negativeCacheTtl` (default 10 s). */
  notFound: '10m',
  /** `flyteSecrets.redis.memoryTtl` (default 10 s): expiry sends a lookup to Redis, not to Key Vault. */
  redisMemory: '10s',
  /** `flyteSecrets.redis.leaseTtl` (default 5 s). */
  redisLease: '5s',
} as const;

const MODES = ['inline', 'agent', 'agent+Redis'] as const;
type Mode = (typeof MODES)[number];

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

interface ModeResult {
  admission: Phase;
  /** The agents' broker requests (agent modes). */
  broker?: Phase;
  /** Key Vault GETs per process, admissions and broker requests. */
  gets: number[];
  /** Those that returned a value, per process. */
  found: number[];
  /** agent+Redis: Redis misses by how they were served, and Redis errors, summed over the 2 processes. */
  redis?: { lead: number; follow: number; direct: number; errors: number };
}

type RunResult = Partial<Record<Mode, ModeResult>>;

interface Ctx {
  emu: Emulator;
  kube: FakeKubeApiServer;
  dir: string;
  ca: string;
  env: NodeJS.ProcessEnv;
  redis?: RedisServer;
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

/** One request on the kept-alive agent; a kept socket the server closed while idle fails on reuse: sent again once. */
function https(port: number, ca: string, method: string, path: string, body?: string, retried = false): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method, path, ca, servername: `${SERVICE}.flyte.svc`, agent, headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (!retried && req.reusedSocket && err.code === 'ECONNRESET') https(port, ca, method, path, body, true).then(resolve, reject);
      else reject(err);
    });
    req.end(body);
  });
}

interface Scrape {
  cpu: number;
  /** Key Vault GETs (every outcome). */
  gets: number;
  /** Key Vault GETs that returned a value. */
  found: number;
  /** Redis misses by how they were served (agent+Redis). */
  lead: number;
  follow: number;
  direct: number;
  redisErrors: number;
}

/** Sum of a metric's samples whose labels include every `label="value"` in `labels`. */
function metricSum(text: string, name: string, labels: Record<string, string> = {}): number {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  return text
    .split('\n')
    .filter((l) => (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) && wanted.every((w) => l.includes(w)))
    .reduce((a, l) => a + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

async function scrape(p: Proc, ca: string): Promise<Scrape> {
  const { text } = await https(p.port, ca, 'GET', '/metrics');
  return {
    cpu: metricSum(text, 'process_cpu_seconds_total'),
    gets: metricSum(text, 'flyte_secrets_backend_requests_total'),
    found: metricSum(text, 'flyte_secrets_backend_requests_total', { outcome: 'ok' }),
    lead: metricSum(text, 'flyte_secrets_cache_shared_reads_total', { role: 'lead' }),
    follow: metricSum(text, 'flyte_secrets_cache_shared_reads_total', { role: 'follow' }),
    direct: metricSum(text, 'flyte_secrets_cache_shared_reads_total', { role: 'direct' }),
    redisErrors: metricSum(text, 'flyte_secrets_redis_errors_total'),
  };
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

function configFor(mode: Mode, run: number, ctx: Ctx): string {
  const file = join(ctx.dir, `config-${run}-${mode}.json`);
  const redis = mode === 'agent+Redis';
  writeFileSync(
    file,
    JSON.stringify({
      webhook: { certDir: ctx.dir, serviceName: SERVICE, secretManagerTypes: ['Embedded'], embeddedSecretManagerConfig: { type: 'Azure', azureConfig: { vaultURI: ctx.emu.vaultUrl } } },
      cache: redis
        ? { type: 'Redis', redis: { defaultExpiration: TTL.value, options: { Addr: ctx.redis!.addr } } }
        : { type: 'InMemoryFixedSize', inMemoryFixedSize: { defaultExpiration: TTL.value } },
      flyteSecrets: {
        server: { host: '127.0.0.1', logLevel: 'info' },
        embedded: { delivery: mode === 'inline' ? 'inline' : 'agent' },
        broker: { maxRequestsPerPod: 5 },
        fetch: { negativeCacheTtl: TTL.notFound },
        // A fresh prefix per run: the values the previous run left in Redis live for TTL.value.
        ...(redis ? { redis: { keyPrefix: `bench-broker-${run}:`, memoryTtl: TTL.redisMemory, leaseTtl: TTL.redisLease } } : {}),
      },
    }),
  );
  return file;
}

async function runMode(mode: Mode, run: number, ctx: Ctx): Promise<ModeResult> {
  const config = configFor(mode, run, ctx);
  const env = mode === 'agent+Redis' ? { ...ctx.env, FLYTE_SECRETS_CACHE_KEY: randomBytes(32).toString('base64') } : ctx.env;
  const procs = await Promise.all([startServe(config, env), startServe(config, env)]);
  try {
    const before = await Promise.all(procs.map((p) => scrape(p, ctx.ca)));
    const pods = Array.from({ length: PODS }, (_, i) => taskPod(i, run * 10 + MODES.indexOf(mode)));
    const admitted = await Promise.all(pods.map((pod, i) => admit(procs[i % 2]!, ctx.ca, pod)));
    const afterAdmission = await Promise.all(procs.map((p) => scrape(p, ctx.ca)));
    const admission = phase(
      admitted.map((a) => a.ms),
      afterAdmission.reduce((a, s, i) => a + s.cpu - before[i]!.cpu, 0),
      admitted.filter((a) => a.pod === undefined).length,
    );
    let broker: Phase | undefined;
    let after = afterAdmission;
    if (mode !== 'inline') {
      // The API server stores the pods; the kubelet gets each its projected token.
      const tokens = admitted.flatMap((a) => {
        if (a.pod === undefined) return [];
        const stored = ctx.kube.store.put({ ...(a.pod as object), status: { phase: 'Pending' } }) as Pod;
        return [ctx.kube.issuePodToken(NS, stored.metadata!.name!, { audiences: ['flyte-secrets-broker'] })];
      });
      const sources = SECRETS.map((_, i) => `embedded:${i}`);
      const latencies: number[] = [];
      let failed = PODS - tokens.length; // a pod that was not admitted has no agent: counted as a failed request
      await Promise.all(
        tokens.map(async (token, i) => {
          const p = procs[(i + 1) % 2]!; // the other replica than the one that admitted the pod
          const t0 = performance.now();
          try {
            await fetchFromBroker({ url: `https://${SERVICE}.flyte.svc:443/broker/v1/secrets`, connectTo: { host: '127.0.0.1', port: p.port }, token, caPem: ctx.ca, sources, deadline: Date.now() + 60_000 });
          } catch (err) {
            if (failed === 0) console.error(`${mode}: first broker failure: ${(err as Error).message}`);
            failed += 1;
          }
          latencies.push(performance.now() - t0);
        }),
      );
      after = await Promise.all(procs.map((p) => scrape(p, ctx.ca)));
      broker = phase(latencies, after.reduce((a, s, i) => a + s.cpu - afterAdmission[i]!.cpu, 0), failed);
    }
    const delta = (k: keyof Scrape): number[] => after.map((s, i) => s[k] - before[i]![k]);
    const total = (k: keyof Scrape): number => delta(k).reduce((a, b) => a + b, 0);
    return {
      admission,
      ...(broker === undefined ? {} : { broker }),
      gets: delta('gets'),
      found: delta('found'),
      ...(mode === 'agent+Redis' ? { redis: { lead: total('lead'), follow: total('follow'), direct: total('direct'), errors: total('redisErrors') } } : {}),
    };
  } finally {
    await stop(procs);
  }
}

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

/** The bound of a mode: per process without Redis, in total across the processes with it. */
function boundProblems(mode: Mode, r: ModeResult): string[] {
  const problems: string[] = [];
  if (mode === 'agent+Redis') {
    if (sum(r.gets) > DISTINCT_IDS) problems.push(`${sum(r.gets)} Key Vault GETs in total across the 2 processes, bound ${DISTINCT_IDS}`);
  } else {
    r.gets.forEach((g, i) => {
      if (g > DISTINCT_IDS) problems.push(`process ${i + 1} made ${g} Key Vault GETs, bound ${DISTINCT_IDS}`);
    });
  }
  if (r.admission.failed > 0) problems.push(`${r.admission.failed} admissions failed`);
  if ((r.broker?.failed ?? 0) > 0) problems.push(`${r.broker!.failed} broker requests failed`);
  return problems;
}

function runLine(mode: Mode, r: ModeResult): string {
  const f = (x: number): string => x.toFixed(1);
  const parts = [`admission p50 ${f(r.admission.p50)} p99 ${f(r.admission.p99)} ms, ${f(r.admission.cpuMs)} CPU ms/pod`];
  if (r.broker) parts.push(`broker p50 ${f(r.broker.p50)} p99 ${f(r.broker.p99)} ms, ${f(r.broker.cpuMs)} CPU ms/request, failed ${r.broker.failed}`);
  parts.push(
    mode === 'agent+Redis'
      ? `GETs total ${sum(r.gets)} (per process ${r.gets.join('+')}; with a value ${sum(r.found)}); Redis misses lead ${r.redis!.lead} follow ${r.redis!.follow} direct ${r.redis!.direct}, Redis errors ${r.redis!.errors}`
      : `GETs/process ${r.gets.join('+')} (with a value ${r.found.join('+')})`,
  );
  return `${mode.padEnd(11)} ${parts.join(' | ')}`;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-broker-'));
  const emu = await startEmulator({
    clientSecret: 'bench',
    latencyMs: LATENCY_MS,
    seed: SECRETS.map((s) => ({ org: 'flyte', ...(s.scope === 'org' ? {} : { domain: 'development' }), ...(s.scope === 'project' ? { project: 'flytesnacks' } : {}), flyteName: s.name, string: `value-of-${s.name}` })),
  });
  const kube = await startFakeKubeApiServer();
  let redis: RedisServer | undefined;
  let redisSkipped: string | undefined;
  try {
    redis = await startRedisServer();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    redisSkipped = 'agent+Redis: SKIPPED, redis-server is not installed (Debian package redis-server); inline and agent ran and were checked, the total bound with Redis was not';
  }
  kube.store.put({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace: NS } });
  const bundle = await generateCertificates({ serviceName: SERVICE, namespace: 'flyte', validityMs: 24 * 3600_000 });
  writeCertificateFiles(dir, bundle);
  const ctx: Ctx = {
    emu,
    kube,
    dir,
    ca: bundle.caCert,
    ...(redis === undefined ? {} : { redis }),
    env: {
      PATH: process.env.PATH,
      HOME: dir,
      POD_NAMESPACE: 'flyte',
      KUBECONFIG: kube.kubeconfigPath,
      NODE_EXTRA_CA_CERTS: emu.caFile,
      AZURE_AUTHORITY_HOST: emu.authorityHost,
      AZURE_TENANT_ID: emu.tenantId,
      AZURE_CLIENT_ID: emu.clientId,
      AZURE_CLIENT_SECRET: emu.clientSecret,
    },
  };
  const modes = MODES.filter((m) => m !== 'agent+Redis' || redis !== undefined);
  const load = (): string => loadavg().map((l) => l.toFixed(2)).join(' ');
  console.log(
    `cache lifetimes, every mode: values ${TTL.value} (cache.*.defaultExpiration), not-found ${TTL.notFound} (flyteSecrets.fetch.negativeCacheTtl; default 10 s); ` +
      `agent+Redis also memory tier ${TTL.redisMemory} (flyteSecrets.redis.memoryTtl), lease ${TTL.redisLease} (flyteSecrets.redis.leaseTtl). ` +
      `With the default not-found lifetime a process still answering after 10 s would probe the 404 scopes again: bounded per TTL window, not per pod.`,
  );
  if (redisSkipped !== undefined) console.log(redisSkipped);
  console.log(`load average at start: ${load()}`);
  const runs: RunResult[] = [];
  const problems: string[] = [];
  try {
    for (let r = 0; r < RUNS; r++) {
      const res: RunResult = {};
      for (const mode of modes) {
        const m = await runMode(mode, r, ctx);
        res[mode] = m;
        console.log(`run ${r + 1}: ${runLine(mode, m)}`);
        problems.push(...boundProblems(mode, m).map((p) => `run ${r + 1} ${mode}: ${p}`));
      }
      runs.push(res);
    }
  } finally {
    await kube.close();
    await emu.close();
    await redis?.stop();
    agent.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(`load average at end: ${load()}`);

  const stat = (xs: number[]): string => `${median(xs).toFixed(1)} (${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)})`;
  const of = (mode: Mode): ModeResult[] => runs.map((r) => r[mode]).filter((m): m is ModeResult => m !== undefined);
  console.log(`\n${PODS} pods at once, 2 processes per mode, Key Vault latency ${LATENCY_MS} ms, ${RUNS} runs: median (range)`);
  for (const mode of modes) {
    const rs = of(mode);
    const held = rs.filter((r) => boundProblems(mode, r).length === 0).length;
    const gets =
      mode === 'agent+Redis'
        ? `Key Vault GETs in total (both processes) ${stat(rs.map((r) => sum(r.gets)))}, bound ≤ ${DISTINCT_IDS} in total`
        : `Key Vault GETs per process ${stat(rs.flatMap((r) => r.gets))}, bound ≤ ${DISTINCT_IDS} per process`;
    console.log(
      `${mode.padEnd(11)} admission p50 ${stat(rs.map((r) => r.admission.p50))} ms, p99 ${stat(rs.map((r) => r.admission.p99))} ms, CPU ${stat(rs.map((r) => r.admission.cpuMs))} ms/pod` +
        (mode === 'inline' ? '' : ` | broker p50 ${stat(rs.map((r) => r.broker!.p50))} ms, p99 ${stat(rs.map((r) => r.broker!.p99))} ms, CPU ${stat(rs.map((r) => r.broker!.cpuMs))} ms/request`) +
        ` | ${gets}: ${held === rs.length ? 'held' : 'BROKEN'} (held in ${held}/${rs.length} runs)`,
    );
  }
  if (redisSkipped !== undefined) console.log(redisSkipped);
  const med = (mode: Mode, pick: (r: ModeResult) => number): number => median(of(mode).map(pick));
  const inlineP50 = med('inline', (r) => r.admission.p50);
  const inlineCpu = med('inline', (r) => r.admission.cpuMs);
  for (const mode of modes.filter((m) => m !== 'inline')) {
    console.log(
      `ratio ${mode} / inline: broker p50 / inline admission p50 ${(med(mode, (r) => r.broker!.p50) / inlineP50).toFixed(2)}; ` +
        `(admission + broker) CPU per pod / inline admission CPU ${((med(mode, (r) => r.admission.cpuMs) + med(mode, (r) => r.broker!.cpuMs)) / inlineCpu).toFixed(2)}; ` +
        `Key Vault GETs (both processes) / inline ${(med(mode, (r) => sum(r.gets)) / med('inline', (r) => sum(r.gets))).toFixed(2)}`,
    );
  }
  if (problems.length > 0) {
    for (const p of problems) console.log(`BOUND BROKEN: ${p}`);
    throw new Error(`${problems.length} bound(s) broken (see above)`);
  }
  console.log(`all bounds held: ≤ ${DISTINCT_IDS} Key Vault GETs per process (inline, agent)${redis === undefined ? '' : `, ≤ ${DISTINCT_IDS} in total (agent+Redis)`}, no failed request`);
}

runBench('bench/broker', main, HARD_LIMIT_MS);
