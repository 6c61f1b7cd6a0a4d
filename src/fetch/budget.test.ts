import { Registry } from 'prom-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { FlyteSecretId } from '../secret/flyte-id.js';
import { SecretValue } from '../secret/value.js';
import { budgetedFetcher, createRequestBudget, type RequestBudgetOptions } from './budget.js';
import { SecretNotFound, SecretReadFailure, type SecretFetcher } from './fetcher.js';
import { FETCH_METRIC_NAMES, createFetchMetrics } from './metrics.js';

const opts: RequestBudgetOptions = { requestsPer10s: 4000, callTimeoutMs: 1000, maxAttempts: 4, baseBackoffMs: 10, maxBackoffMs: 40 };
const id: FlyteSecretId = { org: 'flyte', domain: 'development', project: 'p', name: 'db' };

async function metricValue(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = registry.getSingleMetric(name);
  if (m === undefined) return 0;
  const data = await m.get();
  return data.values.filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((a, v) => a + v.value, 0);
}

afterEach(() => {
  vi.useRealTimers();
});

describe('request budget', () => {
  it('lets a burst of one second’s worth through, then paces calls at the configured rate', async () => {
    const registry = new Registry();
    vi.useFakeTimers({ now: 0 }); // a clock the test controls: a busy machine cannot spread the burst out
    const budget = createRequestBudget({ ...opts, requestsPer10s: 100, metrics: createFetchMetrics(registry) });
    const started = Date.now();
    const times: number[] = [];
    const all = Promise.all(Array.from({ length: 12 }, () => budget.run('vault', () => Promise.resolve(times.push(Date.now() - started)))));
    for (let i = 0; i < 100 && times.length < 12; i++) await vi.advanceTimersByTimeAsync(10);
    await all;
    times.sort((a, b) => a - b);
    expect(times[9]!).toBeLessThan(60);
    // 10 tokens up front, then 9 per second: the 12th call waits about 2/9 s.
    expect(times[11]!).toBeGreaterThanOrEqual(200);
    expect(await metricValue(registry, FETCH_METRIC_NAMES.budgetWaits, { target: 'vault' })).toBeGreaterThanOrEqual(2);
  });

  it('never lets more than requestsPer10s calls into any 10-second window', async () => {
    vi.useFakeTimers({ now: 0 });
    const budget = createRequestBudget({ ...opts, requestsPer10s: 40, random: () => 0 });
    const times: number[] = [];
    const all = Promise.all(Array.from({ length: 150 }, () => budget.run('vault', () => Promise.resolve(times.push(Date.now())))));
    for (let i = 0; i < 400 && times.length < 150; i++) await vi.advanceTimersByTimeAsync(250);
    await all;
    expect(times).toHaveLength(150);
    for (let i = 0; i < times.length; i++) {
      const inWindow = times.filter((t) => t >= times[i]! && t < times[i]! + 10_000).length;
      expect(inWindow).toBeLessThanOrEqual(40);
    }
  });

  it('honours Retry-After on a 429, pausing the whole target but not others', async () => {
    const registry = new Registry();
    const budget = createRequestBudget({ ...opts, metrics: createFetchMetrics(registry), random: () => 0 });
    let attempts = 0;
    const started = Date.now();
    const throttledOnce = budget.run('a', () => {
      attempts++;
      if (attempts === 1) return Promise.reject(new SecretReadFailure('x', new Error('429'), { retryable: true, throttled: true, retryAfterMs: 300 }));
      return Promise.resolve(Date.now() - started);
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(budget.pausedUntil('a')).toBeGreaterThan(Date.now());
    const otherTarget = await budget.run('b', () => Promise.resolve(Date.now() - started));
    const sameTarget = budget.run('a', () => Promise.resolve(Date.now() - started));
    expect(otherTarget).toBeLessThan(100);
    expect(await throttledOnce).toBeGreaterThanOrEqual(295);
    expect(await sameTarget).toBeGreaterThanOrEqual(295);
    expect(attempts).toBe(2);
    expect(await metricValue(registry, FETCH_METRIC_NAMES.throttled, { target: 'a' })).toBe(1);
    expect(await metricValue(registry, FETCH_METRIC_NAMES.retries, { target: 'a' })).toBe(1);
  });

  it('retries 5xx with back-off, up to maxAttempts', async () => {
    const budget = createRequestBudget(opts);
    let attempts = 0;
    const flaky = (): Promise<string> => (++attempts < 3 ? Promise.reject(new SecretReadFailure('x', new Error('503'), { retryable: true, status: 503 })) : Promise.resolve('ok'));
    expect(await budget.run('v', flaky)).toBe('ok');
    expect(attempts).toBe(3);
    attempts = -100;
    const err = await budget.run('v', flaky).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'SecretReadFailure', status: 503, retryable: false });
    expect((err as Error).message).toBe('[SecretReadFailure] secret x failed to be read from secret manager, caused by: 503 (gave up after 4 attempts: maxAttempts is 4)');
    expect(attempts).toBe(-96);
  });

  it('does not retry not-found or non-retryable failures', async () => {
    const budget = createRequestBudget(opts);
    let attempts = 0;
    await expect(budget.run('v', () => (attempts++, Promise.reject(new SecretNotFound('x'))))).rejects.toMatchObject({ code: 'SecretNotFound' });
    await expect(budget.run('v', () => (attempts++, Promise.reject(new SecretReadFailure('x', new Error('403'), { status: 403 }))))).rejects.toMatchObject({ status: 403 });
    expect(attempts).toBe(2);
  });

  it('cuts each attempt at callTimeout with an AbortSignal, and the whole call at the deadline', async () => {
    vi.useFakeTimers();
    const budget = createRequestBudget({ ...opts, callTimeoutMs: 100, maxAttempts: 10 });
    let attempts = 0;
    const hang = (signal: AbortSignal): Promise<never> =>
      new Promise((_, reject) => {
        attempts++;
        signal.addEventListener('abort', () => reject(new SecretReadFailure('x', signal.reason, { retryable: true })));
      });
    // A clock the test controls: the call must have ended once the deadline is reached, however slow the machine.
    let settled = false;
    const started = Date.now();
    const outcome = budget.run('v', hang, { deadline: started + 450 }).then(
      () => undefined,
      (e: unknown) => ((settled = true), e),
    );
    await vi.advanceTimersByTimeAsync(450);
    expect(settled).toBe(true);
    expect(await outcome).toMatchObject({ code: 'SecretReadFailure' });
    expect(attempts).toBeGreaterThanOrEqual(2);
    expect(attempts).toBeLessThanOrEqual(5);
  });

  it('fails at once when a Retry-After pause is longer than the time left', async () => {
    const budget = createRequestBudget(opts);
    const started = Date.now();
    await expect(
      budget.run('v', () => Promise.reject(new SecretReadFailure('x', new Error('429 Throttled'), { retryable: true, throttled: true, retryAfterMs: 5000 })), { deadline: started + 1000 }),
    ).rejects.toThrow(/429 Throttled.*could start only in/);
    // The next caller with a short deadline does not even try.
    let tried = false;
    await expect(budget.run('v', () => ((tried = true), Promise.resolve(1)), { deadline: Date.now() + 500 })).rejects.toMatchObject({ code: 'SecretReadFailure' });
    expect(tried).toBe(false);
  });

  it('stops when the caller’s signal aborts', async () => {
    const budget = createRequestBudget({ ...opts, requestsPer10s: 10 });
    await budget.run('v', () => Promise.resolve(1));
    const ac = new AbortController();
    const p = budget.run('v', () => Promise.resolve(2), { signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    await expect(p).rejects.toMatchObject({ code: 'SecretReadFailure' });
  });
});

describe('budgetedFetcher', () => {
  it('counts each backend attempt by outcome and turns budget failures into read failures for the id', async () => {
    const registry = new Registry();
    const metrics = createFetchMetrics(registry);
    let n = 0;
    const inner: SecretFetcher = {
      kind: 'azure',
      budgetKey: 'myvault.vault.azure.net',
      fetch: () => (++n === 1 ? Promise.reject(new SecretReadFailure('x', new Error('503'), { retryable: true })) : Promise.resolve(SecretValue.fromString('v'))),
    };
    const f = budgetedFetcher(inner, createRequestBudget({ ...opts, metrics }), { metrics });
    expect((await f.fetch(id)).text()).toBe('v');
    expect(await metricValue(registry, FETCH_METRIC_NAMES.backendRequests, { backend: 'azure', outcome: 'error' })).toBe(1);
    expect(await metricValue(registry, FETCH_METRIC_NAMES.backendRequests, { backend: 'azure', outcome: 'ok' })).toBe(1);

    const paused = createRequestBudget({ ...opts, requestsPer10s: 10 });
    const g = budgetedFetcher({ kind: 'k8s', fetch: () => Promise.resolve(SecretValue.fromString('v')) }, paused);
    await g.fetchWithin(id, {});
    const err: unknown = await g.fetchWithin(id, { deadline: Date.now() + 5 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'SecretReadFailure' });
    expect((err as Error).message).toMatch(/^\[SecretReadFailure\] secret u__org__flyte__domain__development__project__p__key__db failed to be read from secret manager, caused by: request budget for k8s exhausted/);
  });
});
