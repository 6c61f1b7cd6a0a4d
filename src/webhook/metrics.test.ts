import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { ADMISSION_DURATION_BUCKETS, createWebhookMetrics, leanHistogram } from './metrics.js';

const outcomes = ['mutated', 'allowed', 'skipped', 'denied', 'error', 'bad_request', 'too_large', 'throttled', 'aborted'] as const;

/** What prom-client's own metrics expose after the same events (the exposition the lean path must keep). */
async function promClientText(events: readonly Event[]): Promise<string> {
  const registry = new Registry();
  const requests = new Counter({ name: 'flyte_secrets_admission_requests_total', help: 'h', labelNames: ['outcome'], registers: [registry] });
  const duration = new Histogram({ name: 'flyte_secrets_admission_duration_seconds', help: 'h', buckets: [...ADMISSION_DURATION_BUCKETS], registers: [registry] });
  for (const e of events) {
    if (e.kind === 'count') requests.inc({ outcome: e.outcome });
    else duration.observe(e.seconds);
  }
  return registry.metrics();
}

type Event = { kind: 'count'; outcome: string } | { kind: 'observe'; seconds: number };

/** The same events through the lean counter and histogram (help texts replaced, as above). */
async function leanText(events: readonly Event[], scrapeEvery: number): Promise<string> {
  const metrics = createWebhookMetrics({ processMetrics: false });
  let n = 0;
  for (const e of events) {
    if (e.kind === 'count') metrics.requests.inc({ outcome: e.outcome });
    else metrics.duration.observe(e.seconds);
    // Scrapes in between must not lose or double counts.
    if (++n % scrapeEvery === 0) await metrics.text();
  }
  const text = await metrics.text();
  // Only the two metrics compared, with prom-client's help text.
  return text
    .split('\n\n')
    .filter((block) => block.includes('flyte_secrets_admission_requests_total') || block.includes('flyte_secrets_admission_duration_seconds'))
    .map((block) => block.replace(/^# HELP (\S+) .*$/m, '# HELP $1 h'))
    .join('\n\n');
}

const eventArb: fc.Arbitrary<Event> = fc.oneof(
  fc.record({ kind: fc.constant('count' as const), outcome: fc.constantFrom(...outcomes) }),
  fc.record({
    kind: fc.constant('observe' as const),
    seconds: fc.oneof(fc.double({ min: 0, max: 20, noNaN: true }), fc.constantFrom(...ADMISSION_DURATION_BUCKETS), fc.constant(0)),
  }),
);

describe('webhook metrics', () => {
  it('expose exactly what prom-client exposes for the same counts and observations, across scrapes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(eventArb, { maxLength: 200 }), fc.integer({ min: 1, max: 50 }), async (events, scrapeEvery) => {
        const lean = await leanText(events, scrapeEvery);
        const reference = (await promClientText(events)).trimEnd();
        expect(lean.trimEnd()).toBe(reference);
      }),
      { numRuns: 150 },
    );
  });

  it('show the zero histogram and no counter series before anything happened', async () => {
    const text = await createWebhookMetrics({ processMetrics: false }).text();
    expect(text).toContain('flyte_secrets_admission_duration_seconds_bucket{le="+Inf"} 0');
    expect(text).toContain('flyte_secrets_admission_duration_seconds_count 0');
    expect(text).not.toContain('flyte_secrets_admission_requests_total{');
  });

  it('a lean histogram resets with its registry', async () => {
    const registry = new Registry();
    const h = leanHistogram(registry, 'x_seconds', 'x', [1, 2]);
    h.observe(1.5);
    expect(await registry.metrics()).toContain('x_seconds_count 1');
    registry.resetMetrics();
    expect(await registry.metrics()).toContain('x_seconds_count 0');
    expect(await registry.getMetricsAsJSON()).toEqual([
      expect.objectContaining({ name: 'x_seconds', type: 'histogram', values: expect.arrayContaining([{ labels: { le: 2 }, value: 0, metricName: 'x_seconds_bucket' }]) }),
    ]);
  });

  it("let an idle process sleep: the process metrics' event-loop sampling wakes it about 10 times a second, not 100", () => {
    // Wake-ups counted as the kernel counts them (voluntary context switches: each time the process goes to sleep
    // waiting for its next event), in a child process idle for 2 s, with process metrics and without. prom-client's
    // default sampling (10 ms) added ~200 here, ~10 ms of CPU a second on an idle webhook.
    const module = fileURLToPath(new URL('./metrics.ts', import.meta.url));
    const idleWakeups = (processMetrics: boolean): { wakeups: number; text: string } => {
      const code = [
        `const { createWebhookMetrics } = await import(${JSON.stringify(module)});`,
        `const metrics = createWebhookMetrics({ processMetrics: ${processMetrics} });`,
        `const sleep = (ms) => new Promise((r) => setTimeout(r, ms));`,
        `await sleep(300);`,
        `const before = process.resourceUsage().voluntaryContextSwitches;`,
        `await sleep(2000);`,
        `const wakeups = process.resourceUsage().voluntaryContextSwitches - before;`,
        `console.log(JSON.stringify({ wakeups, text: await metrics.text() }));`,
      ].join('\n');
      const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { encoding: 'utf8', timeout: 60_000 });
      expect(run.status, run.stderr).toBe(0);
      return JSON.parse(run.stdout) as { wakeups: number; text: string };
    };
    const bare = idleWakeups(false);
    const withProcess = idleWakeups(true);
    expect(withProcess.text).toMatch(/^nodejs_eventloop_lag_p99_seconds \d/m);
    // 2 s at 100 ms is ~20 samples; at prom-client's 10 ms it is ~200.
    expect(withProcess.wakeups - bare.wakeups).toBeLessThan(60);
  }, 60_000);
});
