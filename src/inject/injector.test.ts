import { describe, expect, it } from 'vitest';
import { injected, refused, refusedLazily } from './injector.js';

describe('outcomes', () => {
  it('refused and injected', () => {
    expect(refused('no', 'SecretNotFound')).toEqual({ injected: false, reason: 'no', code: 'SecretNotFound' });
    expect(injected({ spec: { containers: [] } })).toEqual({ injected: true, pod: { spec: { containers: [] } } });
  });

  it('refusedLazily writes its reason only when read, once, and reads like refused', () => {
    let calls = 0;
    const out = refusedLazily(() => {
      calls++;
      return 'because';
    }, 'InvalidSecret');
    expect(calls).toBe(0);
    expect(out.injected).toBe(false);
    if (out.injected) return;
    expect(out.code).toBe('InvalidSecret');
    expect(out.reason).toBe('because');
    expect(out.reason).toBe('because');
    expect(calls).toBe(1);
    expect(out).toEqual(refused('because', 'InvalidSecret'));
    expect(JSON.stringify(out)).toBe(JSON.stringify(refused('because', 'InvalidSecret')));
    expect({ ...out }).toEqual({ injected: false, reason: 'because', code: 'InvalidSecret' });
  });
});
