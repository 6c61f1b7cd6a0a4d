import { describe, expect, it } from 'vitest';
import { isFlyteSecretsError } from '../errors.js';
import { FaultController, parseFaultSettings, SlidingWindowLimiter } from './faults.js';

describe('SlidingWindowLimiter', () => {
  it('accepts `limit` requests per window, then says how long to wait (rejections do not count)', () => {
    const l = new SlidingWindowLimiter(3, 10_000);
    expect([0, 100, 200].map((t) => l.take(t).ok)).toEqual([true, true, true]);
    expect(l.take(300)).toEqual({ ok: false, retryAfterSeconds: 10 }); // oldest (t=0) leaves at 10 000
    expect(l.take(9_500)).toEqual({ ok: false, retryAfterSeconds: 1 });
    expect(l.take(10_000).ok).toBe(true); // t=0 left the window
    expect(l.take(10_050)).toEqual({ ok: false, retryAfterSeconds: 1 }); // t=100 leaves at 10 100
    expect(l.take(10_100).ok).toBe(true);
  });

  it('limit 0 disables throttling; configure changes the limit at runtime', () => {
    const l = new SlidingWindowLimiter(0, 1000);
    for (let i = 0; i < 100; i++) expect(l.take(i).ok).toBe(true);
    l.configure({ rateLimit: 1, rateLimitWindowMs: 1000 });
    expect(l.take(200).ok).toBe(true);
    expect(l.take(300).ok).toBe(false);
    expect(l.settings).toEqual({ rateLimit: 1, rateLimitWindowMs: 1000 });
  });

  it('keeps memory bounded over many windows', () => {
    const l = new SlidingWindowLimiter(5, 10);
    let accepted = 0;
    for (let t = 0; t < 50_000; t++) if (l.take(t).ok) accepted++;
    expect(accepted).toBe(25_000); // 5 per 10 ms
  });
});

describe('FaultController', () => {
  it('throttles first, then drops, then fails; counts each', () => {
    const fc = new FaultController({ rateLimit: 4, rateLimitWindowMs: 1000 });
    fc.setFaults({ dropNext: 1, failNext: 2, failStatus: 500 });
    const actions = [0, 1, 2, 3, 4].map((t) => fc.decide('get', t).action);
    expect(actions).toEqual(['drop', 'fail', 'fail', 'pass', 'throttle']);
    expect(fc.stats()).toEqual({ dropped: 1, faulted: 2, throttled: 1 });
    expect(fc.faults).toMatchObject({ dropNext: 0, failNext: 0, rateLimit: 4 });
    fc.resetStats();
    expect(fc.stats()).toEqual({});
  });

  it('defaults to 503, applies ratios with the given random source, and can target operations', () => {
    const fc = new FaultController({ random: () => 0.5 });
    fc.setFaults({ failRatio: 0.6, operations: ['get'] });
    expect(fc.decide('get', 0)).toEqual({ action: 'fail', status: 503 });
    expect(fc.decide('set', 0)).toEqual({ action: 'pass' });
    fc.setFaults({ failRatio: 0.4 });
    expect(fc.decide('get', 0)).toEqual({ action: 'pass' });
    fc.setFaults({ dropRatio: 1 });
    expect(fc.decide('list', 0)).toEqual({ action: 'drop' });
    fc.setFaults({ latencyMs: 25 });
    expect(fc.extraLatencyMs).toBe(25);
  });

  it('uses Key Vault\'s 4000 per 10 s by default', () => {
    expect(new FaultController().faults).toMatchObject({ rateLimit: 4000, rateLimitWindowMs: 10_000 });
  });
});

describe('parseFaultSettings', () => {
  it('splits faults from rate-limit settings', () => {
    expect(parseFaultSettings({ failNext: 3, failStatus: 500, rateLimit: 10 })).toEqual({ faults: { failNext: 3, failStatus: 500 }, rateLimit: { rateLimit: 10 } });
    expect(parseFaultSettings({})).toEqual({ faults: {} });
  });

  it.each([
    [[], /expected a JSON object/],
    [{ failNext: -1 }, /"failNext" must be a non-negative integer/],
    [{ failRatio: 2 }, /"failRatio" must be a number from 0 to 1/],
    [{ failStatus: 502 }, /"failStatus" must be 500 or 503/],
    [{ operations: 'get' }, /"operations" must be a list/],
    [{ rateLimitWindowMs: 0 }, /at least 1/],
    [{ failnext: 1 }, /unknown key "failnext"/],
  ])('%j is refused', (input, message) => {
    let err: unknown;
    try {
      parseFaultSettings(input);
    } catch (e) {
      err = e;
    }
    expect(isFlyteSecretsError(err, 'InvalidInput')).toBe(true);
    expect((err as Error).message).toMatch(message);
  });
});
