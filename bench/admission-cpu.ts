/**
 * Admission CPU, in process: CPU µs per admission of the webhook's handler (parse the review, mutate the pod, build
 * and serialise the answer) against `floor` (parse the review, serialise the same answer object), measured in the
 * same process, one admission after another, with no sockets. Run: `npx tsx bench/admission-cpu.ts` (about 20 s).
 *
 * The request is the one of bench/admission.ts: a ~4 KB Flyte task pod asking for 3 Azure Key Vault secrets. CPU
 * time is `process.cpuUsage()` (user + system) over a batch divided by the admissions in it; the two loops take
 * turns in {@link ROUNDS} rounds and the median round is reported, so a burst of load from other processes on the
 * machine falls on both alike. Parts of the handler (the mutation alone, the answer alone, and stages marked `·`:
 * parsing the review, decoding the annotations, resolving the Key Vault URIs) are timed the same way, to show where
 * the time goes, and so is the mutation the general way (the chain secret by secret, and a diff into the patch),
 * which the one pass for sidecar managers replaces for this pod. The HTTPS server's own work (TLS, HTTP, logging, metrics) is not in these
 * figures: bench/admission.ts measures the whole server process. Like that bench, it runs the built product
 * (`dist/`), not the sources through tsx (support/shipped.ts).
 *
 * @module
 */
import 'reflect-metadata';
import { benchReviewObject } from './support/review.js';
import { runBench } from './support/run.js';
import { shipped } from './support/shipped.js';
import type * as ConfigLoad from '../src/config/load.js';
import type * as Mutator from '../src/inject/mutator.js';
import type * as Handler from '../src/webhook/handler.js';
import type * as AzureInjector from '../src/inject/azure.js';
import type * as Annotations from '../src/secret/annotations.js';
import type * as Review from '../src/webhook/review.js';

const ROUNDS = 7;
const BATCH_MS = 300;
const HARD_LIMIT_MS = 120_000;

/** CPU µs per call of `fn`, over about {@link BATCH_MS} ms of wall time. */
async function cpuPerOp(fn: () => unknown): Promise<number> {
  let n = 0;
  const wall = performance.now();
  const before = process.cpuUsage();
  while (performance.now() - wall < BATCH_MS) {
    for (let i = 0; i < 50; i++) {
      const r = fn();
      if (r instanceof Promise) await r;
    }
    n += 50;
  }
  const used = process.cpuUsage(before);
  return (used.user + used.system) / n;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function main(): Promise<void> {
  // The built product (dist/), as `flyte-secrets serve` runs it; see support/shipped.ts.
  const { parseConfig } = await shipped<typeof ConfigLoad>('config/load.js');
  const { buildInjectors, createMutator } = await shipped<typeof Mutator>('inject/mutator.js');
  const { createAdmissionHandler } = await shipped<typeof Handler>('webhook/handler.js');
  const { azureSecretTarget } = await shipped<typeof AzureInjector>('inject/azure.js');
  const { decodeSecretAnnotations } = await shipped<typeof Annotations>('secret/annotations.js');
  const { admissionAnswer, parseAdmissionReview } = await shipped<typeof Review>('webhook/review.js');
  const config = parseConfig({ webhook: { secretManagerTypes: ['Azure'] } });
  const injectors = buildInjectors(config);
  const mutator = createMutator(config, injectors);
  const chain = createMutator(config, injectors, { onePass: false });
  const handle = createAdmissionHandler({ mutator });
  const review = benchReviewObject();
  const body = Buffer.from(JSON.stringify(review));
  const first = await handle(body);
  const answer = first.json;
  const answerObject = JSON.parse(answer) as object;
  const pod = review.request.object;
  const out = await mutator.mutate(pod, { namespace: review.request.namespace, dryRun: false });
  if (out.kind !== 'mutated' || out.patch.length === 0) throw new Error('the bench pod was not mutated');
  const decoded = decodeSecretAnnotations(pod.metadata?.annotations);

  const loops: Record<string, () => unknown> = {
    floor: () => {
      const r = JSON.parse(body.toString('utf8')) as { request?: { uid?: unknown } };
      if (typeof r.request?.uid !== 'string') throw new Error('no uid');
      return JSON.stringify(answerObject);
    },
    webhook: async () => (await handle(body)).json,
    'mutate only': () => mutator.mutate(pod, { namespace: 'flytesnacks-development', dryRun: false }),
    // As the handler builds it: with the patch's JSON text when the mutation wrote it (the one pass does).
    'answer only': () => admissionAnswer('admission.k8s.io/v1', review.request.uid, { allowed: true, patch: out.patch, ...(out.patchJson === undefined ? {} : { patchJson: out.patchJson }), warnings: [] }).json,
    // Stages (parts of the above), to show where the time goes.
    '· parse review': () => parseAdmissionReview(body),
    '· decode 3 annotations': () => decodeSecretAnnotations(pod.metadata?.annotations),
    '· 3 Key Vault URIs': () => decoded.map((d) => azureSecretTarget(d.secret)),
    'mutate, secret by secret': () => chain.mutate(pod, { namespace: 'flytesnacks-development', dryRun: false }),
  };
  const samples: Record<string, number[]> = Object.fromEntries(Object.keys(loops).map((k) => [k, []]));
  for (const fn of Object.values(loops)) await cpuPerOp(fn); // warm-up (JIT)
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, fn] of Object.entries(loops)) samples[name]!.push(await cpuPerOp(fn));
  }
  const floor = median(samples.floor!);
  console.log(`admission CPU in process: request ${body.length} B, answer ${answer.length} B; median (min–max) of ${ROUNDS} rounds, CPU µs per admission`);
  for (const [name, xs] of Object.entries(samples)) {
    console.log(`${name.padEnd(24)} ${median(xs).toFixed(1).padStart(8)}  (${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)})`);
  }
  const ratios = samples.webhook!.map((w, i) => w / samples.floor![i]!);
  console.log(`ratio webhook/floor CPU per admission (in process): ${(median(samples.webhook!) / floor).toFixed(2)} (per round ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}; goal <= 2)`);
  console.log(JSON.stringify({ bench: 'admission-cpu', rounds: ROUNDS, cpuUs: Object.fromEntries(Object.entries(samples).map(([k, xs]) => [k, Number(median(xs).toFixed(1))])), ratio: Number((median(samples.webhook!) / floor).toFixed(3)) }));
}

runBench('bench/admission-cpu', main, HARD_LIMIT_MS);
