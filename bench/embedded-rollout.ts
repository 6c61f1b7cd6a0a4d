/**
 * A rollout through the Embedded manager with the Azure backend: 1,000 pods × 5 distinct secrets, 50 admissions at
 * a time, against the Key Vault emulator with 100 ms latency per request and Key Vault's limit of 4,000 GETs per
 * 10 s. Each side is measured twice in a row, cold (empty cache) then warm (the same 1,000 pods again), and prints
 * Key Vault GETs per pod, 429s, admission latency p50/p99 and denials, with the ratios Flyte / flyte-secrets.
 *
 * - flyte-secrets: the Embedded manager as shipped (cache with single-flight and negative cache, request budget).
 * - Flyte, as it behaves (bench/support/flyte-like.ts): the same scope cascade with flytestdlib's 24 h positive
 *   cache, no negative cache, no single-flight, no request pacing, and the Go Azure SDK's default retries
 *   (3 retries; Retry-After, else exponential from 800 ms). Everything else (injector, Azure client, emulator) is
 *   the same code.
 * - Each side gets its own emulator, so one side's requests never count against the other's throttling window.
 *
 * Run: `npx tsx bench/embedded-rollout.ts` (bounded: exits by itself, stops after 300 s; 1–2 minutes on 2 shared cores).
 *
 * The 5 secrets sit at different scopes, as in practice: 2 at project scope (1 GET each when cold), 2 at domain
 * scope (404 + 200) and 1 at org scope (404 + 404 + 200): 9 Key Vault GETs per cold pod without a cache. Flyte
 * caches the values but not the 404s, so its warm pods still read the 2 + 2 narrower scopes that do not exist.
 *
 * @module
 */
import type { Pod } from 'kubernetes-types/core/v1.js';
import { Registry } from 'prom-client';
import { parseConfig } from '../src/config/load.js';
import { startEmulator, type Emulator } from '../src/emulator/index.js';
import { createEmbeddedSecretManager } from '../src/assemble/index.js';
import { createAzureFetcher } from '../src/fetch/azure.js';
import { createEmbeddedInjector } from '../src/inject/embedded.js';
import { buildInjectors, createMutator, type PodMutator } from '../src/inject/mutator.js';
import { INJECT_LABEL, INJECT_LABEL_VALUE, secretsToAnnotations } from '../src/secret/annotations.js';
import { MountRequirement, makeSecret } from '../src/secret/model.js';
import { azcoreRetries, flyteSecretCache, type RetryStats } from './support/flyte-like.js';
import { runBench } from './support/run.js';
import { BENCH_SECRETS } from './support/secrets.js';

const PODS = 1000;
const CONCURRENCY = 50;
const LATENCY_MS = 100;
const HARD_LIMIT_MS = 300_000;

const SECRETS = BENCH_SECRETS;

interface RunResult {
  pods: number;
  gets: number;
  throttled: number;
  denied: number;
  /** Denial codes and how often each came (value-free). */
  reasons: Record<string, number>;
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
  const reasons: Record<string, number> = {};
  let next = 0;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= PODS) return;
      const t0 = performance.now();
      const out = await mutator.mutate(taskPod(i), { namespace: 'flytesnacks-development', dryRun: false });
      latencies.push(performance.now() - t0);
      if (out.kind !== 'mutated') {
        denied++;
        const why = out.kind === 'denied' ? `${out.code}: ${out.message.replace(/^.*?Possible reasons: [^;]*; /, '').slice(0, 160)}` : out.kind;
        reasons[why] = (reasons[why] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const stats = emu.stats();
  return { pods: PODS, gets: stats.get ?? 0, throttled: stats.throttled ?? 0, denied, reasons, p50: percentile(latencies, 50), p99: percentile(latencies, 99), seconds };
}

type Side = 'flyte-secrets' | 'flyte';

async function mutatorFor(emu: Emulator, side: Side, retries: RetryStats): Promise<PodMutator> {
  const raw = { webhook: { secretManagerTypes: ['Embedded'], embeddedSecretManagerConfig: { type: 'Azure', azureConfig: { vaultURI: emu.vaultUrl } } } };
  const config = parseConfig(raw);
  const embedded =
    side === 'flyte-secrets'
      ? await createEmbeddedSecretManager(config, { registry: new Registry(), azure: { ca: emu.caPem } })
      : createEmbeddedInjector({ config, fetcher: azcoreRetries(createAzureFetcher({ vaultUrl: emu.vaultUrl, ca: emu.caPem }), retries), cache: flyteSecretCache() });
  const mutator = createMutator(config, buildInjectors(config, { embedded }));
  // Get the token and the TLS connection before measuring (an org-scoped warm-up secret outside the workload).
  const warm = await mutator.mutate(
    { metadata: { labels: { organization: 'flyte', project: 'warmup', domain: 'warmup' }, annotations: secretsToAnnotations([makeSecret({ key: 'warmup' })]) }, spec: { containers: [{ name: 'c' }] } },
    { namespace: 'warmup-warmup', dryRun: false },
  );
  if (warm.kind !== 'mutated') throw new Error(`warm-up admission failed: ${warm.kind === 'denied' ? warm.message : warm.kind}`);
  return mutator;
}

async function emulator(): Promise<Emulator> {
  const emu = await startEmulator({ latencyMs: LATENCY_MS, rateLimit: 4000, rateLimitWindowMs: 10_000, clientSecret: 'bench' });
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
  return emu;
}

/** Cold then warm rollout of one side, on its own emulator. */
async function measure(side: Side): Promise<{ cold: RunResult; warm: RunResult; retries: RetryStats }> {
  const emu = await emulator();
  try {
    process.env.AZURE_AUTHORITY_HOST = emu.authorityHost;
    process.env.AZURE_TENANT_ID = emu.tenantId;
    process.env.AZURE_CLIENT_ID = emu.clientId;
    process.env.AZURE_CLIENT_SECRET = emu.clientSecret;
    const retries: RetryStats = { retries: 0, waitedMs: 0 };
    const mutator = await mutatorFor(emu, side, retries);
    const cold = await rollout(emu, mutator);
    const warm = await rollout(emu, mutator);
    return { cold, warm, retries };
  } finally {
    await emu.close();
  }
}

function row(label: string, r: RunResult): string {
  return `${label.padEnd(34)} ${(r.gets / r.pods).toFixed(4).padStart(10)} ${String(r.gets).padStart(7)} ${r.p50.toFixed(1).padStart(9)} ${r.p99.toFixed(1).padStart(9)} ${String(r.throttled).padStart(6)} ${String(r.denied).padStart(7)} ${r.seconds.toFixed(1).padStart(8)}`;
}

function ratio(a: number, b: number): string {
  if (b === 0) return a === 0 ? '1.0×' : '∞';
  return `${(a / b).toFixed(1)}×`;
}

async function main(): Promise<void> {
  console.log(`embedded rollout: ${PODS} pods × ${SECRETS.length} secrets (2 project-, 2 domain-, 1 org-scoped), ${CONCURRENCY} concurrent admissions, Key Vault latency ${LATENCY_MS} ms, limit 4000 GET/10 s; node ${process.version}\n`);
  const ours = await measure('flyte-secrets');
  const flyte = await measure('flyte');

  console.log(`${'run'.padEnd(34)} ${'GETs/pod'.padStart(10)} ${'GETs'.padStart(7)} ${'p50 ms'.padStart(9)} ${'p99 ms'.padStart(9)} ${'429s'.padStart(6)} ${'denied'.padStart(7)} ${'wall s'.padStart(8)}`);
  console.log(row('flyte-secrets, cold', ours.cold));
  console.log(row('flyte-secrets, warm', ours.warm));
  console.log(row('Flyte as it behaves, cold', flyte.cold));
  console.log(row('Flyte as it behaves, warm', flyte.warm));
  console.log('');
  console.log(`Flyte: 24 h positive cache, no negative cache, no single-flight, Go SDK retries (${flyte.retries.retries} retries, ${(flyte.retries.waitedMs / 1000).toFixed(1)} s waited in all)`);
  console.log(`flyte-secrets cold: ${ours.cold.gets} Key Vault GETs for ${SECRETS.length} secrets (9 = one per scope looked up); warm: ${(ours.warm.gets / ours.warm.pods).toFixed(4)} GETs/pod`);
  for (const phase of ['cold', 'warm'] as const) {
    const f = flyte[phase];
    const o = ours[phase];
    console.log(`ratio Flyte / flyte-secrets (${phase}): GETs ${ratio(f.gets, o.gets)} (${f.gets} vs ${o.gets}), p50 ${ratio(f.p50, o.p50)}, p99 ${ratio(f.p99, o.p99)}, wall ${ratio(f.seconds, o.seconds)}; 429s ${f.throttled} vs ${o.throttled}, denied ${f.denied} vs ${o.denied}`);
  }
  for (const [label, r] of [['flyte-secrets, cold', ours.cold], ['flyte-secrets, warm', ours.warm], ['Flyte, cold', flyte.cold], ['Flyte, warm', flyte.warm]] as const) {
    for (const [why, n] of Object.entries(r.reasons)) console.log(`denied (${label}) ×${n}: ${why}`);
  }
  console.log(JSON.stringify({ bench: 'embedded-rollout', pods: PODS, secrets: SECRETS.length, concurrency: CONCURRENCY, latencyMs: LATENCY_MS, ours: { cold: ours.cold, warm: ours.warm }, flyte: { cold: flyte.cold, warm: flyte.warm, retries: flyte.retries } }));
}

runBench('bench/embedded-rollout', main, HARD_LIMIT_MS);
