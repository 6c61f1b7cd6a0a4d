import { Registry } from 'prom-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { FlyteSecretId } from '../secret/flyte-id.js';
import { SecretValue } from '../secret/value.js';
import { createSecretCache, parseCacheSize, uncachedSecretCache, type LoadContext } from './cache.js';
import { SecretNotFound, SecretReadFailure } from './fetcher.js';
import { FETCH_METRIC_NAMES, createFetchMetrics } from './metrics.js';

const project: FlyteSecretId = { org: 'o-apple', domain: 'd-cherry', project: 'p-banana', name: 'secret1' };
const domain: FlyteSecretId = { ...project, project: '' };
const org: FlyteSecretId = { ...project, project: '', domain: '' };

function clock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const base = { ttlMs: 24 * 3600_000, negativeTtlMs: 10_000, staleIfErrorMaxAgeMs: 3600_000 };

describe('secret cache', () => {
  it('serves a stored value until its TTL, then reloads', async () => {
    const c = clock();
    const cache = createSecretCache({ ...base, now: c.now });
    let calls = 0;
    const load = (): Promise<SecretValue> => Promise.resolve(SecretValue.fromString(`v${++calls}`));
    expect((await cache.get(project, load)).source).toBe('backend');
    const second = await cache.get(project, load);
    expect(second.source).toBe('cache');
    expect(second.value.text()).toBe('v1');
    c.advance(24 * 3600_000 - 1);
    expect((await cache.get(project, load)).value.text()).toBe('v1');
    c.advance(1);
    expect((await cache.get(project, load)).value.text()).toBe('v2');
    expect(calls).toBe(2);
  });

  it('keys entries by scope id: the org value does not answer a project lookup', async () => {
    const cache = createSecretCache(base);
    await cache.get(org, () => Promise.resolve(SecretValue.fromString('org')));
    const p = await cache.get(project, () => Promise.resolve(SecretValue.fromString('fresh project value')));
    expect(p.value.text()).toBe('fresh project value');
  });

  it('single-flight: 50 concurrent lookups of one key make one backend call', async () => {
    const cache = createSecretCache(base);
    const d = deferred<SecretValue>();
    let calls = 0;
    const all = Array.from({ length: 50 }, () =>
      cache.get(project, () => {
        calls++;
        return d.promise;
      }),
    );
    d.resolve(SecretValue.fromString('x'));
    const results = await Promise.all(all);
    expect(calls).toBe(1);
    expect(results.every((r) => r.value.text() === 'x')).toBe(true);
  });

  it('remembers not-found for negativeTtl only', async () => {
    const c = clock();
    const cache = createSecretCache({ ...base, now: c.now });
    let calls = 0;
    const load = (): Promise<SecretValue> => {
      calls++;
      return Promise.reject(new SecretNotFound('id', new Error('404')));
    };
    await expect(cache.get(project, load)).rejects.toMatchObject({ code: 'SecretNotFound' });
    await expect(cache.get(project, load)).rejects.toMatchObject({ code: 'SecretNotFound' });
    expect(calls).toBe(1);
    c.advance(10_000);
    await expect(cache.get(project, load)).rejects.toMatchObject({ code: 'SecretNotFound' });
    expect(calls).toBe(2);
  });

  it('does not cache read failures', async () => {
    const cache = createSecretCache(base);
    let calls = 0;
    const load = (): Promise<SecretValue> => {
      calls++;
      return Promise.reject(new SecretReadFailure('id', new Error('503')));
    };
    await expect(cache.get(project, load)).rejects.toMatchObject({ code: 'SecretReadFailure' });
    await expect(cache.get(project, load)).rejects.toMatchObject({ code: 'SecretReadFailure' });
    expect(calls).toBe(2);
  });

  it('stale-if-error: an expired value is served when the refresh fails, up to staleIfErrorMaxAge past expiry', async () => {
    const c = clock();
    const registry = new Registry();
    const cache = createSecretCache({ ...base, ttlMs: 1000, now: c.now, metrics: createFetchMetrics(registry) });
    await cache.get(project, () => Promise.resolve(SecretValue.fromString('good')));
    c.advance(1000 + 3600_000);
    const told: boolean[] = [];
    const failing = (ctx: { hasStale: boolean }): Promise<SecretValue> => {
      told.push(ctx.hasStale);
      return Promise.reject(new SecretReadFailure('id', new Error('429'), { throttled: true, retryable: true }));
    };
    const stale = await cache.get(project, failing);
    expect(told).toEqual([true]); // the loader knows it may give up early
    expect(stale.source).toBe('stale');
    expect(stale.value.text()).toBe('good');
    expect(stale.ageMs).toBe(1000 + 3600_000);
    const metric = await registry.getSingleMetric(FETCH_METRIC_NAMES.cacheLookups)!.get();
    expect(metric.values.find((v) => v.labels.result === 'stale')?.value).toBe(1);
    c.advance(1);
    await expect(cache.get(project, failing)).rejects.toMatchObject({ code: 'SecretReadFailure' });
  });

  it('stale-if-error never hides a not-found answer', async () => {
    const c = clock();
    const cache = createSecretCache({ ...base, ttlMs: 1000, now: c.now });
    await cache.get(project, () => Promise.resolve(SecretValue.fromString('good')));
    c.advance(2000);
    await expect(cache.get(project, () => Promise.reject(new SecretNotFound('id')))).rejects.toMatchObject({ code: 'SecretNotFound' });
  });

  it('invalidate drops exactly the three scope keys of a secret (Flyte InvalidateCache vector)', async () => {
    const cache = createSecretCache(base);
    const other: FlyteSecretId = { ...project, name: 'secret2' };
    for (const id of [project, domain, org, other]) await cache.get(id, () => Promise.resolve(SecretValue.fromString('v')));
    expect(cache.size).toBe(4);
    cache.invalidate(project);
    expect(cache.size).toBe(1);
    expect((await cache.get(other, () => Promise.reject(new Error('must not load')))).source).toBe('cache');
  });

  it('a value read before an invalidation is not stored after it', async () => {
    const cache = createSecretCache(base);
    const d = deferred<SecretValue>();
    const first = cache.get(project, () => d.promise);
    await Promise.resolve();
    cache.invalidate(project);
    d.resolve(SecretValue.fromString('old'));
    expect((await first).value.text()).toBe('old');
    let loaded = false;
    await cache.get(project, () => {
      loaded = true;
      return Promise.resolve(SecretValue.fromString('new'));
    });
    expect(loaded).toBe(true);
  });

  it('is bounded: the oldest entries are evicted first (by bytes and by count)', async () => {
    const cache = createSecretCache({ ...base, maxEntries: 3 });
    const ids = Array.from({ length: 5 }, (_, i): FlyteSecretId => ({ ...project, name: `s${i}` }));
    for (const id of ids) await cache.get(id, () => Promise.resolve(SecretValue.fromString('v')));
    expect(cache.size).toBe(3);
    let reloaded = false;
    await cache.get(ids[0]!, () => {
      reloaded = true;
      return Promise.resolve(SecretValue.fromString('v'));
    });
    expect(reloaded).toBe(true);
    const small = createSecretCache({ ...base, maxBytes: 2000 });
    for (const id of ids) await small.get(id, () => Promise.resolve(SecretValue.fromBytes(new Uint8Array(600))));
    expect(small.bytes).toBeLessThanOrEqual(2000);
    expect(small.size).toBeLessThan(5);
  });

  it('sweeps out entries nothing can use, and keeps not-found answers without the backend error object', async () => {
    const c = clock();
    const cache = createSecretCache({ ...base, negativeTtlMs: 100, staleIfErrorMaxAgeMs: 0, ttlMs: 5000, now: c.now });
    const heavy = Object.assign(new Error('secrets "x" not found'), { response: { body: 'x'.repeat(100_000) } });
    // 1,200 never-seen names, one per ms: without a sweep, every negative entry would stay until evicted by size.
    for (let i = 0; i < 1200; i++) {
      const id = { ...project, name: `never-${i}` };
      const err = await cache.get(id, () => Promise.reject(new SecretNotFound(`id-${i}`, heavy, { status: 404 }))).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SecretNotFound);
      c.advance(1);
    }
    // The sweep at the 1,000th store dropped the ~900 entries expired by then.
    expect(cache.size).toBeLessThan(400);
    expect(cache.bytes).toBeLessThan(400 * 1000);
    // A negative hit gives the same message and class, without the heavy cause.
    const again = (await cache.get({ ...project, name: 'never-1199' }, () => Promise.reject(new Error('not called'))).catch((e: unknown) => e)) as SecretNotFound;
    expect(again).toBeInstanceOf(SecretNotFound);
    expect(again.message).toBe(`[SecretNotFound] secret id-1199 not found in the secret manager, caused by: secrets "x" not found`);
    expect(again.status).toBe(404);
    expect(JSON.stringify(Object.entries(again.cause as object))).not.toContain('xxxx');
  });

  describe('callers of one shared load keep their own bounds', () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    it('the load runs to the latest deadline of the callers still waiting; an earlier one leaves at its own', async () => {
      vi.useFakeTimers({ now: 0 });
      const cache = createSecretCache(base);
      const d = deferred<SecretValue>();
      let seen: LoadContext | undefined;
      const load = (c: LoadContext): Promise<SecretValue> => {
        seen = c;
        return d.promise;
      };
      const early = cache.get(project, load, { deadline: 100 }).catch((e: unknown) => e);
      await vi.advanceTimersByTimeAsync(0);
      expect(seen!.bounds.deadline).toBe(100);
      const late = cache.get(project, load, { deadline: 5000 });
      expect(seen!.bounds.deadline).toBe(5000);
      await vi.advanceTimersByTimeAsync(150);
      expect(await early).toMatchObject({ code: 'SecretReadFailure' });
      expect(seen!.bounds.signal!.aborted).toBe(false);
      d.resolve(SecretValue.fromString('x'));
      expect((await late).value.text()).toBe('x');
    });

    it('a caller past its deadline gets a stale value young enough instead of a failure', async () => {
      vi.useFakeTimers({ now: 0 });
      const cache = createSecretCache({ ...base, ttlMs: 1000 });
      await cache.get(project, () => Promise.resolve(SecretValue.fromString('old')));
      await vi.advanceTimersByTimeAsync(2000);
      const d = deferred<SecretValue>();
      const early = cache.get(project, () => d.promise, { deadline: 2100 });
      const late = cache.get(project, () => d.promise, { deadline: 9000 });
      await vi.advanceTimersByTimeAsync(200);
      expect(await early).toMatchObject({ source: 'stale' });
      d.resolve(SecretValue.fromString('new'));
      expect((await late).value.text()).toBe('new');
    });

    it('the last caller to leave aborts the load, and the next caller starts a new one', async () => {
      const cache = createSecretCache(base);
      const signals: AbortSignal[] = [];
      const load = (c: LoadContext): Promise<SecretValue> => {
        signals.push(c.bounds.signal!);
        return new Promise(() => undefined);
      };
      const a = new AbortController();
      const b = new AbortController();
      const first = cache.get(project, load, { signal: a.signal }).catch((e: unknown) => e);
      const second = cache.get(project, load, { signal: b.signal }).catch((e: unknown) => e);
      await Promise.resolve();
      await Promise.resolve();
      a.abort(new Error('gone'));
      expect(await first).toMatchObject({ message: 'gone' });
      expect(signals[0]!.aborted).toBe(false);
      b.abort(new Error('gone too'));
      expect(await second).toMatchObject({ message: 'gone too' });
      expect(signals[0]!.aborted).toBe(true);
      void cache.get(project, load).catch(() => undefined);
      await Promise.resolve();
      await Promise.resolve();
      expect(signals).toHaveLength(2);
    });
  });

  it('keeps values redacted', async () => {
    const cache = createSecretCache(base);
    const r = await cache.get(project, () => Promise.resolve(SecretValue.fromString('hunter2')));
    expect(JSON.stringify(r)).not.toContain('hunter2');
    expect(`${String(r.value)}`).toBe('[REDACTED]');
  });

  it('the uncached variant calls the backend every time', async () => {
    const cache = uncachedSecretCache();
    let calls = 0;
    const load = (): Promise<SecretValue> => Promise.resolve(SecretValue.fromString(`v${++calls}`));
    await Promise.all([cache.get(project, load), cache.get(project, load)]);
    expect(calls).toBe(2);
  });

  it.each([
    ['100M', 100_000_000],
    ['64Mi', 64 * 1024 * 1024],
    [1234, 1234],
    ['12', 12],
    ['lots', undefined],
  ])('parseCacheSize(%s)', (input, expected) => {
    expect(parseCacheSize(input)).toBe(expected);
  });
});
