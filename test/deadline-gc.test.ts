import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import { createEmbeddedInjector } from '../src/inject/embedded.js';
import { makeSecret } from '../src/secret/model.js';
import { SecretValue } from '../src/secret/value.js';
import { createRequestBudget, budgetedFetcher } from '../src/fetch/budget.js';
import { startDeadline, withDeadline } from '../src/fetch/deadline.js';
import { SecretReadFailure, type SecretFetcher } from '../src/fetch/fetcher.js';

// A real, full garbage collection from inside the test (what `node --expose-gc` gives as global.gc).
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/**
 * A backend that never answers by itself, and looks at its signal only by polling `aborted` (no listener), with a
 * full GC before every look. Once a reference timer armed after the deadline's own (and due later) has fired, the
 * deadline must have fired too; if the signal still is not aborted a few turns later, the deadline was lost, and the
 * backend answers with a value so the test sees it. No wall-clock assumption: only the order of two timers.
 */
function pollingBackend(referenceDelayMs: number): SecretFetcher & { lost: number } {
  const backend = {
    kind: 'polling',
    lost: 0,
    async fetch(id: Parameters<SecretFetcher['fetch']>[0], signal?: AbortSignal): Promise<SecretValue> {
      let referenceFired = false;
      setTimeout(() => (referenceFired = true), referenceDelayMs);
      for (let afterReference = 0; ; ) {
        await turn();
        gc();
        if (signal?.aborted === true) throw new SecretReadFailure(`${id.name}`, signal.reason);
        if (referenceFired && ++afterReference > 20) {
          backend.lost++;
          return SecretValue.fromString('the deadline never fired');
        }
      }
    },
  };
  return backend;
}

describe('deadlines survive garbage collection (nodejs/node#57736, #65995)', () => {
  it('the Embedded plain-fetcher path: a backend that never answers is cut at the admission deadline, GC or not', async () => {
    const backend = pollingBackend(300);
    const config = parseConfig({ flyteSecrets: { fetch: { admissionBudget: '100ms' }, embedded: { enforceNamespaceScope: false } } });
    const embedded = createEmbeddedInjector({ config, fetcher: backend });
    const pod = { metadata: { labels: { organization: 'flyte', project: 'p', domain: 'd' } }, spec: { containers: [{ name: 'c' }] } };
    const out = await embedded.inject(makeSecret({ key: 'k' }), pod, { namespace: 'p-d', podName: 'x', warnings: [] });
    expect(backend.lost).toBe(0);
    expect(out).toMatchObject({ injected: false, code: 'SecretReadFailure' });
    expect((out as { reason: string }).reason).toMatch(/timeout/i);
  });

  it('the budgeted path: each attempt is cut at callTimeout, GC or not', async () => {
    const backend = pollingBackend(300);
    const budget = createRequestBudget({ requestsPer10s: 1000, callTimeoutMs: 100, maxAttempts: 1 });
    const err = await budgetedFetcher(backend, budget).fetchWithin({ org: 'o', domain: 'd', project: 'p', name: 'k' }, { deadline: Date.now() + 60_000 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(backend.lost).toBe(0);
    expect(err).toBeInstanceOf(SecretReadFailure);
  });

  it('a caller that gave up: its abort reaches the operation even when nothing else holds the caller\'s controller', async () => {
    // The caller's controller is reachable only inside this function.
    const deadline = ((): ReturnType<typeof startDeadline> => {
      const caller = new AbortController();
      const d = startDeadline(60_000, caller.signal);
      caller.abort(new Error('caller gone'));
      return d;
    })();
    await turn();
    gc();
    expect(deadline.signal.aborted).toBe(true);
    expect((deadline.signal.reason as Error).message).toBe('caller gone');
    deadline.dispose();
  });

  it('an unobserved deadline still reads as aborted after it passed and a GC ran', async () => {
    const deadline = startDeadline(20);
    let referenceFired = false;
    setTimeout(() => (referenceFired = true), 40);
    while (!referenceFired) {
      await turn();
      gc();
    }
    expect(deadline.signal.aborted).toBe(true);
    expect((deadline.signal.reason as DOMException).name).toBe('TimeoutError');
  });

  it('withDeadline clears its timer and detaches from the parent once the operation settles', async () => {
    const parent = new AbortController();
    let seen: AbortSignal | undefined;
    expect(await withDeadline(60_000, parent.signal, (signal) => ((seen = signal), Promise.resolve(42)))).toBe(42);
    parent.abort();
    expect(seen?.aborted).toBe(false);
    const before = startDeadline(undefined, AbortSignal.abort('already'));
    expect(before.signal.reason).toBe('already');
  });
});
