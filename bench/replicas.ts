/**
 * Webhook replicas: 4 `flyte-secrets serve` processes (the built CLI) behind one Key Vault emulator (100 ms per
 * request, Key Vault's 4,000 GETs per 10 s), sent 1,000 pods × 5 secrets round-robin, 50 admissions in flight.
 *
 * - **Key Vault GETs**: the 4 processes sharing one Redis (`cache.type: Redis`) against the same 4 processes with their
 *   memory caches only (`InMemoryFixedSize`, each with its own single-flight), in the same run. The 5 secrets sit at
 *   different scopes (2 project, 2 domain, 1 org): 9 distinct (scope, secret) reads in all. Each of 3 rounds uses
 *   fresh secret names, so every round starts cold in every cache.
 * - **Invalidation propagation**: a new version is written, `/invalidate-secret` is sent to one replica (in turn), and
 *   the other three are asked (admissions back to back) until each serves the new value; the time from the
 *   invalidation's answer to the last replica serving the new value, including that replica's one Key Vault read
 *   (100 ms). The memory-only replicas get the same invalidations: the share of other replicas serving the new value
 *   1 s later is printed for both.
 *
 * Run: `npm run build && npx tsx bench/replicas.ts` (bounded: exits by itself; needs `redis-server` on PATH).
 *
 * @module
 */
import { startEmulator, type Emulator } from '../src/emulator/index.js';
import { startRedisServer } from '../test/support/redis-server.js';
import { LABELS, metricSum, podFor, startReplicas, type ReplicaSet } from '../test/support/webhook-replicas.js';
import { runBench } from './support/run.js';

const REPLICAS = 4;
const PODS = 1000;
const CONCURRENCY = 50;
const LATENCY_MS = 100;
const ROUNDS = 3;
const INVALIDATIONS = 40;
const HARD_LIMIT_MS = 420_000;

const SCOPES = ['project', 'project', 'domain', 'domain', 'org'] as const;
const namesOf = (round: number): string[] => SCOPES.map((_, i) => `s${i}-r${round}`);

function seedRound(emu: Emulator, round: number): void {
  emu.seed(
    namesOf(round).map((name, i) => ({
      org: LABELS.organization,
      ...(SCOPES[i] === 'org' ? {} : { domain: LABELS.domain }),
      ...(SCOPES[i] === 'project' ? { project: LABELS.project } : {}),
      flyteName: name,
      string: `value of ${name}`,
    })),
  );
}

async function rollout(emu: Emulator, set: ReplicaSet, round: number): Promise<{ gets: number; denied: number; seconds: number }> {
  emu.resetStats();
  const names = namesOf(round);
  let next = 0;
  let denied = 0;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= PODS) return;
      // A request that fails (a connection reset on an overloaded machine) counts as a denial, not a crash.
      const a = await set.replicas[i % REPLICAS]!.admit(podFor(names, `pod-${round}-${i}`)).catch(() => ({ allowed: false }));
      if (!a.allowed) denied++;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return { gets: emu.stats().get ?? 0, denied, seconds: (performance.now() - started) / 1000 };
}

const ROT = { org: LABELS.organization, domain: LABELS.domain, project: LABELS.project, name: 'rot' };

/** ms until every other replica serves `value`, polling; undefined if not within `limitMs`. */
async function propagation(set: ReplicaSet, from: number, value: string, limitMs: number): Promise<{ ms: number | undefined; share1s: number }> {
  const started = performance.now();
  const others = set.replicas.filter((_, i) => i !== from);
  const times = await Promise.all(
    others.map(async (r) => {
      while (performance.now() - started < limitMs) {
        if ((await r.admit(podFor(['rot']))).env._UNION_ROT === value) return performance.now() - started;
      }
      return undefined;
    }),
  );
  const seen = times.filter((t): t is number => t !== undefined);
  return { ms: seen.length === others.length ? Math.max(...seen) : undefined, share1s: seen.filter((t) => t <= 1000).length / others.length };
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
}

async function invalidations(emu: Emulator, set: ReplicaSet, count: number, tag: string): Promise<{ p50: number; p99: number; max: number; share1s: number; lost: number }> {
  // Every replica holds the current value first.
  emu.seed([{ org: ROT.org, domain: ROT.domain, project: ROT.project, flyteName: 'rot', string: `${tag}-0` }]);
  for (const r of set.replicas) await r.invalidate(ROT);
  for (const r of set.replicas) await r.admit(podFor(['rot']));
  const ms: number[] = [];
  let share = 0;
  let lost = 0;
  for (let n = 1; n <= count; n++) {
    const value = `${tag}-${n}`;
    emu.seed([{ org: ROT.org, domain: ROT.domain, project: ROT.project, flyteName: 'rot', string: value }]);
    const from = n % REPLICAS;
    await set.replicas[from]!.invalidate(ROT);
    const p = await propagation(set, from, value, 1000);
    share += p.share1s;
    if (p.ms === undefined) lost++;
    else ms.push(p.ms);
    // Bring every replica to the new value before the next round (memory-only replicas need their own invalidation),
    // and have each hold it in its cache again.
    for (const r of set.replicas) await r.invalidate(ROT);
    for (const r of set.replicas) await r.admit(podFor(['rot']));
  }
  ms.sort((a, b) => a - b);
  return { p50: pct(ms, 50), p99: pct(ms, 99), max: ms.at(-1) ?? Number.NaN, share1s: share / count, lost };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const emu = await startEmulator({ latencyMs: LATENCY_MS, rateLimit: 4000, rateLimitWindowMs: 10_000 });
  const redis = await startRedisServer();
  let shared: ReplicaSet | undefined;
  let memory: ReplicaSet | undefined;
  try {
    for (let r = 0; r < ROUNDS; r++) seedRound(emu, r);
    shared = await startReplicas({ count: REPLICAS, emulator: emu, redisAddr: redis.addr });
    memory = await startReplicas({ count: REPLICAS, emulator: emu });
    console.log(`replicas: ${REPLICAS} serve processes, ${PODS} pods × ${SCOPES.length} secrets (2 project-, 2 domain-, 1 org-scoped: 9 distinct reads) round-robin, ${CONCURRENCY} in flight, Key Vault latency ${LATENCY_MS} ms\n`);
    console.log(`${'round'.padEnd(6)} ${'shared GETs'.padStart(12)} ${'memory GETs'.padStart(12)} ${'ratio'.padStart(7)} ${'denied'.padStart(8)} ${'shared s'.padStart(9)} ${'memory s'.padStart(9)}`);
    const sharedGets: number[] = [];
    const memoryGets: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      // Alternate which set goes first, so neither always meets the other's throttling window.
      let a: Awaited<ReturnType<typeof rollout>>;
      let b: Awaited<ReturnType<typeof rollout>>;
      if (r % 2 === 0) {
        a = await rollout(emu, shared, r);
        b = await rollout(emu, memory, r);
      } else {
        b = await rollout(emu, memory, r);
        a = await rollout(emu, shared, r);
      }
      sharedGets.push(a.gets);
      memoryGets.push(b.gets);
      console.log(`${String(r + 1).padEnd(6)} ${String(a.gets).padStart(12)} ${String(b.gets).padStart(12)} ${(b.gets / a.gets).toFixed(1).padStart(6)}× ${`${a.denied}/${b.denied}`.padStart(8)} ${a.seconds.toFixed(1).padStart(9)} ${b.seconds.toFixed(1).padStart(9)}`);
    }
    console.log('');
    console.log(`Key Vault GETs, median of ${ROUNDS} rounds: shared ${median(sharedGets)} [${Math.min(...sharedGets)}–${Math.max(...sharedGets)}] vs memory-only ${median(memoryGets)} [${Math.min(...memoryGets)}–${Math.max(...memoryGets)}] (goal: 9 vs about 36)`);
    console.log(`ratio memory-only / shared GETs: ${(median(memoryGets) / median(sharedGets)).toFixed(1)}×`);
    const texts = await Promise.all(shared.replicas.map((r) => r.metrics()));
    const sum = (name: string, labels: Record<string, string> = {}): number => texts.reduce((a, t) => a + metricSum(t, name, labels), 0);
    console.log(
      `shared replicas' Redis misses: lead ${sum('flyte_secrets_cache_shared_reads_total', { role: 'lead' })}, follow ${sum('flyte_secrets_cache_shared_reads_total', { role: 'follow' })}, direct (Redis too slow or away) ${sum('flyte_secrets_cache_shared_reads_total', { role: 'direct' })}; Redis errors ${sum('flyte_secrets_redis_errors_total')}; tier hits memory ${sum('flyte_secrets_cache_tier_hits_total', { tier: 'memory' })}, redis ${sum('flyte_secrets_cache_tier_hits_total', { tier: 'redis' })}`,
    );
    const si = await invalidations(emu, shared, INVALIDATIONS, 'shared');
    const mi = await invalidations(emu, memory, Math.min(10, INVALIDATIONS), 'memory');
    console.log(`invalidation → all 3 other replicas serve the new value (incl. one ${LATENCY_MS} ms Key Vault read), ${INVALIDATIONS} invalidations: p50 ${si.p50.toFixed(0)} ms, p99 ${si.p99.toFixed(0)} ms, max ${si.max.toFixed(0)} ms, not within 1 s: ${si.lost}`);
    console.log(`other replicas serving the new value within 1 s: shared ${(si.share1s * 100).toFixed(0)}% vs memory-only ${(mi.share1s * 100).toFixed(0)}% (memory-only: the others keep the old value until their cache expires, 24 h by default)`);
  } catch (err) {
    for (const [i, r] of [...(shared?.replicas ?? []), ...(memory?.replicas ?? [])].entries()) {
      const tail = r.output().split('\n').filter((l) => !l.includes('"event":"admission"')).slice(-5).join('\n');
      console.error(`replica ${i} (pid ${r.pid}):\n${tail}`);
    }
    throw err;
  } finally {
    await shared?.stop();
    await memory?.stop();
    await redis.stop();
    await emu.close();
  }
}

runBench('bench/replicas', main, HARD_LIMIT_MS);
