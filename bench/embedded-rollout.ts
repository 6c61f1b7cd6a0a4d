/**
 * A rollout through the Embedded manager with the Azure backend: 1,000 pods × 5 distinct secrets, 50 admissions at
 * a time, against the Key Vault emulator with 100 ms latency per request and Key Vault's limit of 4,000 GETs per
 * 10 s. Prints Key Vault GETs per pod (cold and warm), admission latency p50/p99 and 429s, for flyte-secrets (cache,
 * single-flight, negative cache, request budget) and for a Flyte-like baseline measured in the same run (no cache,
 * no single-flight, no request pacing; retries kept, as the SDK's default policy retries), with the ratios.
 *
 * Run: `npx tsx bench/embedded-rollout.ts` (bounded: exits by itself; about a minute on 2 cores).
 *
 * The 5 secrets sit at different scopes, as in practice: 2 at project scope (1 GET each when cold), 2 at domain
 * scope (404 + 200) and 1 at org scope (404 + 404 + 200): 9 Key Vault GETs per cold pod without a cache.
 *
 * @module
 */
import type { Pod } from 'kubernetes-types/core/v1.js';
import { Registry } from 'prom-client';
import { parseConfig } from '../src/config/load.js';
import { startEmulator, type Emulator } from '../src/emulator/index.js';
import { createEmbeddedSecretManager } from '../src/assemble/index.js';
import { createRequestBudget } from '../src/fetch/index.js';
import { buildInjectors, createMutator, type PodMutator } from '../src/inject/mutator.js';
import { INJECT_LABEL, INJECT_LABEL_VALUE, secretsToAnnotations } from '../src/secret/annotations.js';
import { MountRequirement, makeSecret } from '../src/secret/model.js';

const PODS = 1000;
const CONCURRENCY = 50;
const LATENCY_MS = 100;
const HARD_LIMIT_MS = 240_000;

const SECRETS = [
  { scope: 'project', name: 'db-password' },
  { scope: 'project', name: 'api-key' },
  { scope: 'domain', name: 'registry-token' },
  { scope: 'domain', name: 'smtp-password' },
  { scope: 'org', name: 'license-key' },
] as const;

interface RunResult {
  pods: number;
  gets: number;
  throttled: number;
  denied: number;
  p50: number;
  p99: number;
  seconds: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function taskPod(i: number): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `rollout-${i}`,
      labels: { organization: 'flyte', project: 'flytesnacks', domain: 'development', [INJECT_LABEL]: INJECT_LABEL_VALUE },
      annotations: secretsToAnnotations(SECRETS.map((s) => makeSecret({ key: s.name, mountRequirement: MountRequirement.ENV_VAR }))),
    },
    spec: { containers: [{ name: 'main', image: 'python:3.12' }] },
  };
}

async function rollout(emu: Emulator, mutator: PodMutator): Promise<RunResult> {
  emu.resetStats();
  const latencies: number[] = [];
  let denied = 0;
  let next = 0;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= PODS) return;
      const t0 = performance.now();
      const out = await mutator.mutate(taskPod(i), { namespace: 'flytesnacks-development', dryRun: false });
      latencies.push(performance.now() - t0);
      if (out.kind !== 'mutated') denied++;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const stats = emu.stats();
  return { pods: PODS, gets: stats.get ?? 0, throttled: stats.throttled ?? 0, denied, p50: percentile(latencies, 50), p99: percentile(latencies, 99), seconds };
}

async function mutatorFor(emu: Emulator, mode: 'flyte-secrets' | 'baseline'): Promise<PodMutator> {
  const raw = { webhook: { secretManagerTypes: ['Embedded'], embeddedSecretManagerConfig: { type: 'Azure', azureConfig: { vaultURI: emu.vaultUrl } } } };
  const config = parseConfig(raw);
  const f = config.flyteSecrets.fetch;
  const embedded = await createEmbeddedSecretManager(config, {
    registry: new Registry(),
    azure: { ca: emu.caPem },
    ...(mode === 'baseline'
      ? { cache: 'none' as const, budget: createRequestBudget({ requestsPer10s: 1_000_000_000, callTimeoutMs: f.callTimeout, maxAttempts: f.maxAttempts }) }
      : {}),
  });
  const mutator = createMutator(config, buildInjectors(config, { embedded }));
  // Get the token and the TLS connection before measuring (an org-scoped warm-up secret outside the workload).
  const warm = await mutator.mutate(
    { metadata: { labels: { organization: 'flyte', project: 'warmup', domain: 'warmup' }, annotations: secretsToAnnotations([makeSecret({ key: 'warmup' })]) }, spec: { containers: [{ name: 'c' }] } },
    { namespace: 'warmup-warmup', dryRun: false },
  );
  if (warm.kind !== 'mutated') throw new Error(`warm-up admission failed: ${warm.kind === 'denied' ? warm.message : warm.kind}`);
  return mutator;
}

function row(label: string, r: RunResult): string {
  return `${label.padEnd(34)} ${(r.gets / r.pods).toFixed(4).padStart(10)} ${String(r.gets).padStart(7)} ${r.p50.toFixed(1).padStart(9)} ${r.p99.toFixed(1).padStart(9)} ${String(r.throttled).padStart(6)} ${String(r.denied).padStart(7)} ${r.seconds.toFixed(1).padStart(8)}`;
}

function ratio(a: number, b: number): string {
  if (b === 0) return a === 0 ? '1.0×' : '∞';
  return `${(a / b).toFixed(1)}×`;
}

async function main(): Promise<void> {
  const emu = await startEmulator({ latencyMs: LATENCY_MS, rateLimit: 4000, rateLimitWindowMs: 10_000, clientSecret: 'bench' });
  try {
    process.env.AZURE_AUTHORITY_HOST = emu.authorityHost;
    process.env.AZURE_TENANT_ID = emu.tenantId;
    process.env.AZURE_CLIENT_ID = emu.clientId;
    process.env.AZURE_CLIENT_SECRET = emu.clientSecret;
    emu.seed([
      { org: 'flyte', flyteName: 'warmup', string: 'w' },
      ...SECRETS.map((s) => ({
        org: 'flyte',
        domain: s.scope === 'org' ? '' : 'development',
        project: s.scope === 'project' ? 'flytesnacks' : '',
        flyteName: s.name,
        string: `value of ${s.name}`,
      })),
    ]);
    console.log(`embedded rollout: ${PODS} pods × ${SECRETS.length} secrets (2 project-, 2 domain-, 1 org-scoped), ${CONCURRENCY} concurrent admissions, Key Vault latency ${LATENCY_MS} ms, limit 4000 GET/10 s\n`);

    // flyte-secrets first: the baseline fills the emulator's 10-second throttling window.
    const ours = await mutatorFor(emu, 'flyte-secrets');
    const cold = await rollout(emu, ours);
    const warm = await rollout(emu, ours);
    const base = await mutatorFor(emu, 'baseline');
    const baseline = await rollout(emu, base);

    console.log(`${'run'.padEnd(34)} ${'GETs/pod'.padStart(10)} ${'GETs'.padStart(7)} ${'p50 ms'.padStart(9)} ${'p99 ms'.padStart(9)} ${'429s'.padStart(6)} ${'denied'.padStart(7)} ${'wall s'.padStart(8)}`);
    console.log(row('flyte-secrets, cold cache', cold));
    console.log(row('flyte-secrets, warm cache', warm));
    console.log(row('baseline (no cache, no s-flight)', baseline));
    console.log('');
    console.log(`cold: ${cold.gets} Key Vault GETs for ${SECRETS.length} secrets (goal: 9 = one per distinct scope and secret looked up); warm: ${(warm.gets / warm.pods).toFixed(4)} GETs/pod (goal < 0.01)`);
    console.log(`baseline / flyte-secrets (cold): GETs ${ratio(baseline.gets, cold.gets)}, p50 ${ratio(baseline.p50, cold.p50)}, p99 ${ratio(baseline.p99, cold.p99)}, 429s ${baseline.throttled} vs ${cold.throttled}, denied ${baseline.denied} vs ${cold.denied}`);
  } finally {
    await emu.close();
  }
}

const guard = setTimeout(() => {
  console.error(`bench: still running after ${HARD_LIMIT_MS / 1000} s, giving up`);
  process.exit(1);
}, HARD_LIMIT_MS);
guard.unref();

main().then(
  () => {
    clearTimeout(guard);
    process.exit(0);
  },
  (err: unknown) => {
    console.error(`bench failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
