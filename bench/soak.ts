/**
 * Soak: the webhook under a steady rate of mixed admissions for a few minutes, to see that it keeps answering,
 * makes no errors, and does not grow in memory. Run: `npx tsx bench/soak.ts [--seconds 180] [--rate 200]`
 * (default 180 s at 200 req/s; `--seconds 20` for a quick look). Exits by itself; exit code 1 when a goal is missed.
 *
 * - Server: the webhook (`startWebhookServer`, the real injector chain from `createInjectorsFromConfig`, pino at
 *   `warn` to /dev/null) in a child process started with `--expose-gc`, so its memory is measured alone and a full
 *   GC runs before each reading.
 * - Backend: the Key Vault emulator (in this process) for the Embedded manager; cache TTL 5 s, so hot values are
 *   re-read every 5 s.
 * - Load (this process): a keep-alive HTTPS client (32 sockets) sending at a fixed rate a mix of pods — Azure
 *   sidecar, K8s, Global, Embedded (one hot key, 500 rotating keys, a never-seen key each time: three 404s and a
 *   denial), a bad annotation (denial), and non-pod objects. Each answer is checked (HTTP 200, same uid, allowed or
 *   denied as expected); anything else is an error.
 * - Figures: throughput, p50/p99/max latency, errors (goal 0), server RSS after warm-up and at the end, both after
 *   `gc()` (goal: growth ≤ 20 %), and heap used.
 *
 * @module
 */
import 'reflect-metadata';
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';

const SELF = fileURLToPath(import.meta.url);
const SERVERNAME = 'flyte-pod-webhook.flyte.svc';
const ROTATING_KEYS = 500;

interface MemoryReading {
  rss: number;
  heapUsed: number;
  external: number;
}

// ---------------------------------------------------------------------------------------------------------------
// The server (child process)

async function serve(configFile: string, caFile: string): Promise<void> {
  const { parseConfig } = await import('../src/config/load.js');
  const { createInjectorsFromConfig } = await import('../src/assemble/index.js');
  const { startWebhookServer } = await import('../src/webhook/server.js');
  const { createLogger } = await import('../src/webhook/logger.js');
  const { createWebhookMetrics } = await import('../src/webhook/metrics.js');
  const config = parseConfig(JSON.parse(readFileSync(configFile, 'utf8')));
  const metrics = createWebhookMetrics();
  const { injectors, mutator } = await createInjectorsFromConfig(config, { registry: metrics.registry, embedded: { azure: { ca: readFileSync(caFile, 'utf8') } } });
  const server = await startWebhookServer({ config, mutator, injectors, metrics, port: 0, invalidationPort: 0, logger: createLogger({ level: 'warn' }) });
  const gc = (globalThis as { gc?: () => void }).gc;
  process.on('message', (m: { type: string; gc: boolean }) => {
    if (m.type !== 'memory') return;
    if (m.gc) for (let i = 0; i < 3; i++) gc?.();
    const u = process.memoryUsage();
    process.send?.({ type: 'memory', rss: u.rss, heapUsed: u.heapUsed, external: u.external } satisfies MemoryReading & { type: string });
  });
  process.send?.({ type: 'ready', port: server.port, gc: gc !== undefined });
  process.on('disconnect', () => void server.close(0).then(() => process.exit(0)));
}

// ---------------------------------------------------------------------------------------------------------------
// The load (main process)

interface Kind {
  name: string;
  weight: number;
  allowed: boolean;
  review: (i: number) => object;
}

function argValue(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  if (i === -1) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} expects a positive number`);
  return v;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
}

const mib = (b: number): string => `${(b / 1024 ** 2).toFixed(1)} MiB`;

async function kinds(): Promise<Kind[]> {
  const { secretsToAnnotations } = await import('../src/secret/annotations.js');
  const { makeSecret, MountRequirement } = await import('../src/secret/model.js');
  const labels = { 'inject-flyte-secrets': 'true', 'azure.workload.identity/use': 'true', organization: 'flyte', project: 'flytesnacks', domain: 'development' };
  const pod = (annotations: Record<string, string>, name: string) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'flytesnacks-development', labels, annotations },
    spec: { restartPolicy: 'Never', containers: [{ name: 'primary', image: 'cr.flyte.org/flyteorg/flytekit:py3.12-1.14.0', env: [{ name: 'FLYTE_INTERNAL_EXECUTION_ID', value: 'ab3xk9mzq2' }] }] },
  });
  const review = (object: unknown, kind = { group: '', version: 'v1', kind: 'Pod' }, resource = { group: '', version: 'v1', resource: 'pods' }) => ({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid: randomUUID(), kind, resource, namespace: 'flytesnacks-development', operation: 'CREATE', object, dryRun: false },
  });
  const env = (s: Parameters<typeof makeSecret>[0]) => secretsToAnnotations([makeSecret({ mountRequirement: MountRequirement.ENV_VAR, ...s })]);
  return [
    { name: 'azure', weight: 25, allowed: true, review: (i) => review(pod(secretsToAnnotations([makeSecret({ group: 'https://flyte-prod-kv.vault.azure.net/secrets/db-password', mountRequirement: MountRequirement.FILE })]), `azure-${i}`)) },
    { name: 'k8s', weight: 15, allowed: true, review: (i) => review(pod(env({ group: 'dbcreds', key: 'password' }), `k8s-${i}`)) },
    { name: 'global', weight: 10, allowed: true, review: (i) => review(pod(env({ group: 'app', key: 'token' }), `global-${i}`)) },
    { name: 'embedded-hot', weight: 15, allowed: true, review: (i) => review(pod(env({ key: 'api-key' }), `hot-${i}`)) },
    { name: 'embedded-rotating', weight: 10, allowed: true, review: (i) => review(pod(secretsToAnnotations([makeSecret({ key: `key-${i % ROTATING_KEYS}`, mountRequirement: i % 2 === 0 ? MountRequirement.ENV_VAR : MountRequirement.FILE })]), `rot-${i}`)) },
    // "~" keeps K8s (after Embedded in the chain) from taking it as a Secret key: a denial naming all three scopes.
    { name: 'embedded-missing', weight: 5, allowed: false, review: (i) => review(pod(env({ key: `never~${i}` }), `missing-${i}`)) },
    { name: 'bad-annotation', weight: 5, allowed: false, review: (i) => review(pod({ 'flyte.secrets/s0': 'not base32!' }, `bad-${i}`)) },
    { name: 'not-a-pod', weight: 15, allowed: true, review: () => review({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } }, { group: '', version: 'v1', kind: 'ConfigMap' }, { group: '', version: 'v1', resource: 'configmaps' }) },
  ];
}

async function main(): Promise<void> {
  const seconds = argValue('--seconds', 180);
  const rate = argValue('--rate', 200);
  const warmupSeconds = Math.min(15, Math.max(3, seconds * 0.1));
  if (seconds < warmupSeconds + 5) throw new Error(`--seconds must be at least ${warmupSeconds + 5}`);
  const { generateCertificates, writeCertificateFiles } = await import('../src/webhook/certs.js');
  const { startEmulator } = await import('../src/emulator/index.js');
  const dir = mkdtempSync(join(tmpdir(), 'flyte-secrets-soak-'));
  let child: ChildProcess | undefined;
  const hardStop = setTimeout(() => {
    process.stderr.write(`soak: over ${seconds + 90} s, stopping\n`);
    child?.kill('SIGKILL');
    process.exit(1);
  }, (seconds + 90) * 1000);
  hardStop.unref();
  const emu = await startEmulator({ clientSecret: 'soak', rateLimit: 0 });
  const agent = new Agent({ keepAlive: true, maxSockets: 32 });
  try {
    emu.seed([
      { org: 'flyte', domain: 'development', project: 'flytesnacks', flyteName: 'api-key', string: 'hot-value' },
      ...Array.from({ length: ROTATING_KEYS }, (_, i) => ({ org: 'flyte', domain: 'development', project: '', flyteName: `key-${i}`, string: `rotating-value-${i}` })),
    ]);
    const certDir = join(dir, 'certs');
    const bundle = await generateCertificates({ serviceName: 'flyte-pod-webhook', namespace: 'flyte', validityMs: 3600_000 });
    writeCertificateFiles(certDir, bundle);
    const configFile = join(dir, 'config.json');
    writeFileSync(
      configFile,
      JSON.stringify({
        webhook: { certDir, secretManagerTypes: ['Azure', 'Embedded', 'K8s'], embeddedSecretManagerConfig: { type: 'Azure', azureConfig: { vaultURI: emu.vaultUrl } } },
        cache: { inMemoryFixedSize: { defaultExpiration: '5s' } },
        flyteSecrets: { server: { host: '127.0.0.1', logLevel: 'warn' } },
      }),
    );
    const caFile = join(dir, 'emulator-ca.pem');
    writeFileSync(caFile, emu.caPem);

    // The server, with the emulator's credentials in its environment.
    const started = await new Promise<{ child: ChildProcess; port: number; gc: boolean }>((resolve, reject) => {
      const c = fork(SELF, ['--serve', configFile, caFile], {
        execArgv: [...process.execArgv, '--expose-gc'],
        env: { ...process.env, AZURE_AUTHORITY_HOST: emu.authorityHost, AZURE_TENANT_ID: emu.tenantId, AZURE_CLIENT_ID: emu.clientId, AZURE_CLIENT_SECRET: emu.clientSecret, FLYTE_SECRET_APP_TOKEN: 'global-value' },
        stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      });
      const timer = setTimeout(() => reject(new Error('the server did not start within 30 s')), 30_000);
      c.once('message', (m: { type: string; port: number; gc: boolean }) => (clearTimeout(timer), resolve({ child: c, port: m.port, gc: m.gc })));
      c.once('exit', (code) => reject(new Error(`the server exited with ${code}`)));
    });
    child = started.child;
    if (!started.gc) throw new Error('the server has no gc(): --expose-gc did not reach it');
    /** The server's memory; with `gc`, after three full collections (this pauses it: not while measuring latency). */
    const memory = (gc: boolean): Promise<MemoryReading> =>
      new Promise((resolve) => {
        const onMessage = (m: MemoryReading & { type: string }): void => {
          if (m.type !== 'memory') return;
          child?.off('message', onMessage);
          resolve(m);
        };
        child?.on('message', onMessage);
        child?.send({ type: 'memory', gc });
      });

    const mix = await kinds();
    const totalWeight = mix.reduce((s, k) => s + k.weight, 0);
    const pick = (n: number): Kind => {
      let x = (n * 7919) % totalWeight;
      for (const k of mix) {
        if (x < k.weight) return k;
        x -= k.weight;
      }
      return mix[0]!;
    };
    const latencies: number[] = [];
    const errors = new Map<string, number>();
    const perKind = new Map<string, number>();
    let sent = 0;
    let done = 0;
    let measuring = false;
    let measuredFrom = 0;
    let measuredRequests = 0;
    const fail = (what: string): void => void errors.set(what, (errors.get(what) ?? 0) + 1);
    const send = (n: number): void => {
      const kind = pick(n);
      const review = kind.review(n) as { request: { uid: string } };
      const body = Buffer.from(JSON.stringify(review));
      const t0 = performance.now();
      const counted = measuring;
      const req = httpsRequest({ host: '127.0.0.1', port: started.port, method: 'POST', path: '/mutate--v1-pod', agent, ca: bundle.caCert, servername: SERVERNAME, headers: { 'content-type': 'application/json', 'content-length': body.length } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          done += 1;
          const ms = performance.now() - t0;
          if (counted) {
            latencies.push(ms);
            measuredRequests += 1;
            perKind.set(kind.name, (perKind.get(kind.name) ?? 0) + 1);
          }
          if (res.statusCode !== 200) return fail(`${kind.name}: HTTP ${res.statusCode ?? 0}`);
          try {
            const back = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { response: { uid: string; allowed: boolean } };
            if (back.response.uid !== review.request.uid) fail(`${kind.name}: wrong uid`);
            else if (back.response.allowed !== kind.allowed) fail(`${kind.name}: allowed=${String(back.response.allowed)}`);
          } catch {
            fail(`${kind.name}: not an AdmissionReview`);
          }
        });
      });
      req.setTimeout(30_000, () => req.destroy(new Error('no answer in 30 s')));
      req.on('error', (e: NodeJS.ErrnoException) => {
        done += 1;
        fail(`${kind.name}: ${e.code ?? e.message}`);
      });
      req.end(body);
    };

    process.stdout.write(`soak: ${seconds} s at ${rate} req/s (the first ${(warmupSeconds + 1).toFixed(0)} s are warm-up, not measured), mixed pods: ${mix.map((k) => `${k.name} ${Math.round((100 * k.weight) / totalWeight)}%`).join(', ')}\n`);
    const t0 = performance.now();
    let startMemory: MemoryReading | undefined;
    let readingStart = false;
    let nextReport = 30;
    await new Promise<void>((resolve) => {
      const tick = setInterval(() => {
        const elapsed = (performance.now() - t0) / 1000;
        if (elapsed >= seconds) {
          clearInterval(tick);
          resolve();
          return;
        }
        // Memory is read (after gc) at the end of the warm-up; latencies are measured from one second later, so the
        // collection's pause is not in them.
        if (startMemory === undefined && !readingStart && elapsed >= warmupSeconds) {
          readingStart = true;
          void memory(true).then((m) => (startMemory = m));
        }
        if (!measuring && elapsed >= warmupSeconds + 1) {
          measuring = true;
          measuredFrom = performance.now();
        }
        const due = Math.floor(elapsed * rate);
        while (sent < due) send(sent++);
        if (elapsed >= nextReport) {
          nextReport += 30;
          const errs = [...errors.values()].reduce((s, n) => s + n, 0);
          void memory(false).then((m) => process.stdout.write(`  ${elapsed.toFixed(0)} s: ${sent} sent, ${done} answered, ${errs} errors, server RSS ${mib(m.rss)} (no gc)\n`));
        }
      }, 5);
    });
    const measuredSeconds = (performance.now() - measuredFrom) / 1000;
    const drainUntil = Date.now() + 30_000;
    while (done < sent && Date.now() < drainUntil) await new Promise((r) => setTimeout(r, 20));
    const endMemory = await memory(true);
    const sorted = latencies.sort((a, b) => a - b);
    const errorCount = [...errors.values()].reduce((s, n) => s + n, 0) + (sent - done);
    const growth = startMemory === undefined ? Number.NaN : (100 * (endMemory.rss - startMemory.rss)) / startMemory.rss;
    const figures = {
      seconds,
      rate,
      sent,
      measuredRequests,
      throughput: Math.round((measuredRequests / measuredSeconds) * 10) / 10,
      p50ms: Math.round(percentile(sorted, 50) * 100) / 100,
      p99ms: Math.round(percentile(sorted, 99) * 100) / 100,
      maxMs: Math.round((sorted.at(-1) ?? 0) * 100) / 100,
      errors: errorCount,
      rssStartMiB: Math.round(((startMemory?.rss ?? 0) / 1024 ** 2) * 10) / 10,
      rssEndMiB: Math.round((endMemory.rss / 1024 ** 2) * 10) / 10,
      rssGrowthPct: Math.round(growth * 10) / 10,
      heapStartMiB: Math.round(((startMemory?.heapUsed ?? 0) / 1024 ** 2) * 10) / 10,
      heapEndMiB: Math.round((endMemory.heapUsed / 1024 ** 2) * 10) / 10,
      vaultGets: emu.stats()['get'] ?? 0,
    };
    process.stdout.write(
      [
        '',
        `requests       ${measuredRequests} measured after warm-up (${sent} sent in all)`,
        `throughput     ${figures.throughput} req/s (target ${rate})`,
        `latency        p50 ${figures.p50ms} ms, p99 ${figures.p99ms} ms, max ${figures.maxMs} ms`,
        `errors         ${errorCount} (goal 0)${errorCount > 0 ? `: ${[...errors].map(([k, n]) => `${k} ×${n}`).join(', ')}` : ''}`,
        `server RSS     ${mib(startMemory?.rss ?? 0)} after warm-up → ${mib(endMemory.rss)} at the end, both after gc(): ${growth >= 0 ? '+' : ''}${growth.toFixed(1)} % (goal ≤ 20 %)`,
        `server heap    ${mib(startMemory?.heapUsed ?? 0)} → ${mib(endMemory.heapUsed)}`,
        `by kind        ${[...perKind].map(([k, n]) => `${k} ${n}`).join(', ')}`,
        `Key Vault GETs ${figures.vaultGets}`,
        '',
        JSON.stringify(figures),
        '',
      ].join('\n'),
    );
    process.exitCode = errorCount === 0 && growth <= 20 ? 0 : 1;
  } finally {
    agent.destroy();
    child?.disconnect();
    await new Promise((r) => setTimeout(r, 200));
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await emu.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--serve') {
  void serve(process.argv[3] ?? '', process.argv[4] ?? '');
} else {
  main().catch((err: unknown) => {
    process.stderr.write(`soak: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
