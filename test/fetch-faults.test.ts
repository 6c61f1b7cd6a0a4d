// Faults between the webhook and Key Vault: throttling (429 + Retry-After), 5xx, responses slower than callTimeout
// and dropped connections, injected by the emulator while pods are admitted through the HTTPS webhook. Every
// admission must end inside its time budget, with a clear denial or a stale value served with a warning; nothing
// crashes and nothing hangs.
import type { Pod } from 'kubernetes-types/core/v1.js';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import { startEmulator, type Emulator } from '../src/emulator/index.js';
import { createEmbeddedSecretManager } from '../src/assemble/index.js';
import { FETCH_METRIC_NAMES } from '../src/fetch/index.js';
import { INJECT_LABEL, INJECT_LABEL_VALUE, secretsToAnnotations } from '../src/secret/annotations.js';
import { MountRequirement, makeSecret } from '../src/secret/model.js';
import { startApiServerHarness, type Admission, type ApiServerHarness } from './support/api-server-harness.js';

/**
 * No test here assumes how fast the machine is. Tests that are not about time get generous bounds (GENEROUS_*), so a
 * slow machine never turns a call into a timeout or a retry. Tests about the budget use a short one (BUDGET_MS) against
 * a vault that would answer much later than OUTER_MS (held open, or a Retry-After of minutes): ending before OUTER_MS
 * (10x the budget) can only be the budget's doing, and no load stretches 1.5 s of work into 15 s.
 */
const BUDGET_MS = 1500;
const OUTER_MS = 10 * BUDGET_MS;
const GENEROUS_CALL_TIMEOUT = '10s';
const GENEROUS_BUDGET_MS = 20_000;
/** A Key Vault throttling window far longer than any budget here: its Retry-After is never waited out. */
const LONG_WINDOW_MS = 120_000;

let emu: Emulator;
const harnesses: ApiServerHarness[] = [];

beforeAll(async () => {
  emu = await startEmulator({ clientSecret: 'faults', rateLimit: 0 });
  process.env.AZURE_AUTHORITY_HOST = emu.authorityHost;
  process.env.AZURE_TENANT_ID = emu.tenantId;
  process.env.AZURE_CLIENT_ID = emu.clientId;
  process.env.AZURE_CLIENT_SECRET = emu.clientSecret;
  emu.seed([
    { org: 'flyte', domain: 'development', project: 'flytesnacks', flyteName: 'api-key', string: 'project-api-key' },
    { org: 'flyte', domain: '', project: '', flyteName: 'org-only', string: 'org-value' },
    ...Array.from({ length: 8 }, (_, i) => ({ org: 'flyte', domain: 'development', project: 'flytesnacks', flyteName: `s${i}`, string: `v${i}` })),
  ]);
}, 60_000);

afterEach(async () => {
  emu.setFaults({}, { rateLimit: 0 });
  while (harnesses.length > 0) await harnesses.pop()?.close();
});

afterAll(async () => {
  await emu?.close();
});

/** A fresh webhook (own cache and request budget); generous time bounds unless the test sets them. */
async function webhook(overrides: { ttl?: string; maxAttempts?: number; callTimeout?: string; budgetMs?: number } = {}): Promise<{ harness: ApiServerHarness; registry: Registry }> {
  const raw = {
    webhook: { secretManagerTypes: ['Embedded'], embeddedSecretManagerConfig: { type: 'Azure', azureConfig: { vaultURI: emu.vaultUrl } } },
    cache: { inMemoryFixedSize: { defaultExpiration: overrides.ttl ?? '24h' } },
    flyteSecrets: { fetch: { callTimeout: overrides.callTimeout ?? GENEROUS_CALL_TIMEOUT, admissionBudget: `${overrides.budgetMs ?? GENEROUS_BUDGET_MS}ms`, maxAttempts: overrides.maxAttempts ?? 3, staleIfErrorMaxAge: '1h', negativeCacheTtl: '10s' } },
  };
  const registry = new Registry();
  const embedded = await createEmbeddedSecretManager(parseConfig(raw), { registry, azure: { ca: emu.caPem } });
  const harness = await startApiServerHarness({ config: raw, deps: { embedded } });
  harnesses.push(harness);
  return { harness, registry };
}

function taskPod(keys: string[], name = 'task'): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      labels: { organization: 'flyte', project: 'flytesnacks', domain: 'development', [INJECT_LABEL]: INJECT_LABEL_VALUE },
      annotations: secretsToAnnotations(keys.map((key) => makeSecret({ key, mountRequirement: MountRequirement.ENV_VAR }))),
    },
    spec: { containers: [{ name: 'main', image: 'python:3.12' }] },
  };
}

/** Admit and measure; re-admission is not checked (faults may still be on). */
async function timedAdmit(harness: ApiServerHarness, pod: Pod): Promise<Admission & { ms: number }> {
  const started = performance.now();
  const a = await harness.admit(pod, { checkIdempotent: false });
  return { ...a, ms: performance.now() - started };
}

function envValue(a: Admission, name: string): string | undefined {
  return a.pod.spec?.containers[0]?.env?.find((e) => e.name === name)?.value;
}

async function counter(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = registry.getSingleMetric(name);
  if (m === undefined) return 0;
  return (await m.get()).values.filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((s, v) => s + v.value, 0);
}

/** Warm the cache, then let the entry expire (TTL 200 ms) so the next read needs Key Vault. */
async function warmAndExpire(harness: ApiServerHarness): Promise<void> {
  const warm = await timedAdmit(harness, taskPod(['api-key']));
  expect(envValue(warm, '_UNION_API-KEY')).toBe('project-api-key');
  await new Promise((r) => setTimeout(r, 250));
}

describe('throttling (429 with Retry-After)', () => {
  it('a Retry-After longer than the budget denies at once, with the reason (the cascade stops there)', async () => {
    const { harness, registry } = await webhook();
    await timedAdmit(harness, taskPod(['api-key'])); // token and connection set up
    emu.setFaults({}, { rateLimit: 1, rateLimitWindowMs: LONG_WINDOW_MS });
    // org-only: the project-scope GET is the one allowed (404); the domain-scope GET gets 429 with Retry-After ≈ 120 s.
    const a = await timedAdmit(harness, taskPod(['org-only']));
    expect(a.response.allowed).toBe(false);
    expect(a.response.status?.message).toMatch(/\[SecretReadFailure\] secret u__org__flyte__domain__development__project____key__org-only failed to be read from secret manager, caused by: Request was not processed because too many requests were received/);
    // "At once": neither the Retry-After nor the (20 s) budget was waited out.
    expect(a.ms).toBeLessThan(GENEROUS_BUDGET_MS);
    expect(await counter(registry, FETCH_METRIC_NAMES.budgetWaits)).toBe(0);
    expect(await counter(registry, FETCH_METRIC_NAMES.throttled)).toBe(1);
    expect(await counter(registry, FETCH_METRIC_NAMES.backendRequests, { outcome: 'throttled' })).toBe(1);
  });

  it('a short Retry-After is waited out inside the budget and the pod is admitted', async () => {
    const { harness, registry } = await webhook();
    await timedAdmit(harness, taskPod(['api-key']));
    // The window is empty (requests are not counted while throttling is off). A 4 s window: the three GETs below fall
    // in one window even on a busy machine, and the Retry-After (1-4 s) stays far inside the 20 s budget.
    emu.setFaults({}, { rateLimit: 2, rateLimitWindowMs: 4000 });
    // org-only: project 404 and domain 404 use the window; the org GET gets 429 + Retry-After, waits, then 200.
    const a = await timedAdmit(harness, taskPod(['org-only']));
    // Admitted at all means the wait ended inside the budget; at least the 1 s Retry-After was waited.
    expect(a.response.allowed).toBe(true);
    expect(envValue(a, '_UNION_ORG-ONLY')).toBe('org-value');
    expect(a.ms).toBeGreaterThanOrEqual(900);
    expect(await counter(registry, FETCH_METRIC_NAMES.throttled)).toBe(1);
    expect(await counter(registry, FETCH_METRIC_NAMES.budgetWaits)).toBeGreaterThanOrEqual(1);
  });

  it('with a stale value in the cache, a throttled refresh serves it and warns', async () => {
    const { harness, registry } = await webhook({ ttl: '200ms' });
    await warmAndExpire(harness);
    emu.setFaults({}, { rateLimit: 1, rateLimitWindowMs: LONG_WINDOW_MS });
    await timedAdmit(harness, taskPod(['org-only'])); // uses the one allowed request of the window
    const a = await timedAdmit(harness, taskPod(['api-key']));
    expect(a.response.allowed).toBe(true);
    expect(envValue(a, '_UNION_API-KEY')).toBe('project-api-key');
    expect(a.response.warnings?.join('\n')).toMatch(/secret "api-key": the secret store could not be read, so a cached value \d+s old was used/);
    expect(a.ms).toBeLessThan(GENEROUS_BUDGET_MS);
    expect(await counter(registry, FETCH_METRIC_NAMES.cacheLookups, { result: 'stale' })).toBe(1);
  });

  it('20 concurrent admissions under throttling all end inside the budget', async () => {
    const { harness } = await webhook({ callTimeout: '300ms', budgetMs: BUDGET_MS });
    await timedAdmit(harness, taskPod(['org-only']));
    emu.setFaults({}, { rateLimit: 2, rateLimitWindowMs: LONG_WINDOW_MS });
    const all = await Promise.all(Array.from({ length: 20 }, (_, i) => timedAdmit(harness, taskPod(['api-key', `cold-${i}`], `p${i}`))));
    for (const a of all) {
      expect(a.ms).toBeLessThan(OUTER_MS);
      expect(a.response.allowed).toBe(false);
      expect(a.response.status?.message).toMatch(/SecretReadFailure|SecretNotFoundAcrossAllScopes/);
    }
  });
});

describe('5xx answers', () => {
  it('one 503 is retried and the pod admitted', async () => {
    const { harness, registry } = await webhook();
    await timedAdmit(harness, taskPod(['org-only']));
    emu.setFaults({ failNext: 1, failStatus: 503, operations: ['get'] });
    const a = await timedAdmit(harness, taskPod(['api-key']));
    expect(a.response.allowed).toBe(true);
    expect(envValue(a, '_UNION_API-KEY')).toBe('project-api-key');
    expect(await counter(registry, FETCH_METRIC_NAMES.retries)).toBe(1);
  });

  it('a vault that keeps failing: denied after maxAttempts, inside the budget, naming the status', async () => {
    const { harness, registry } = await webhook();
    await timedAdmit(harness, taskPod(['org-only']));
    emu.setFaults({ failRatio: 1, failStatus: 500, operations: ['get'] });
    const a = await timedAdmit(harness, taskPod(['api-key']));
    expect(a.response.allowed).toBe(false);
    expect(a.response.status?.message).toMatch(/\[SecretReadFailure\] secret u__org__flyte__domain__development__project__flytesnacks__key__api-key failed to be read from secret manager, caused by: /);
    expect(a.ms).toBeLessThan(GENEROUS_BUDGET_MS);
    expect(await counter(registry, FETCH_METRIC_NAMES.backendRequests, { outcome: 'error' })).toBe(3);
  });

  it('with a stale value at hand, one 503 is still retried and the fresh value used (no warning)', async () => {
    const { harness, registry } = await webhook({ ttl: '200ms' });
    await warmAndExpire(harness);
    emu.setFaults({ failNext: 1, failStatus: 503, operations: ['get'] });
    const a = await timedAdmit(harness, taskPod(['api-key']));
    expect(a.response.allowed).toBe(true);
    expect(a.response.warnings ?? []).toEqual([]);
    expect(await counter(registry, FETCH_METRIC_NAMES.cacheLookups, { result: 'stale' })).toBe(0);
    expect(await counter(registry, FETCH_METRIC_NAMES.retries)).toBe(1);
  });

  it('a failing refresh of an expired value serves the stale value', async () => {
    const { harness } = await webhook({ ttl: '200ms' });
    await warmAndExpire(harness);
    emu.setFaults({ failRatio: 1, failStatus: 503, operations: ['get'] });
    const a = await timedAdmit(harness, taskPod(['api-key']));
    expect(a.response.allowed).toBe(true);
    expect(envValue(a, '_UNION_API-KEY')).toBe('project-api-key');
    expect(a.response.warnings?.length).toBe(1);
  });
});

describe('slow responses (latency > callTimeout)', () => {
  it('each attempt is cut at callTimeout and the admission denied inside the budget', async () => {
    // callTimeout 300 ms, 2 s budget: room for every attempt (maxAttempts 3) even when a busy machine stretches them.
    const { harness, registry } = await webhook({ callTimeout: '300ms', budgetMs: 2000 });
    await timedAdmit(harness, taskPod(['org-only']));
    const held = emu.hold(); // the vault never answers until released
    try {
      const a = await timedAdmit(harness, taskPod(['api-key']));
      expect(a.response.allowed).toBe(false);
      expect(a.response.status?.message).toContain('[SecretReadFailure]');
      expect(a.ms).toBeLessThan(OUTER_MS);
      expect(held.parked.length).toBeGreaterThanOrEqual(2);
      expect(await counter(registry, FETCH_METRIC_NAMES.backendRequests, { outcome: 'timeout' })).toBeGreaterThanOrEqual(2);
    } finally {
      held.release();
    }
  });

  it('a slow vault with a stale value: served, inside the budget', async () => {
    const { harness, registry } = await webhook({ ttl: '200ms', callTimeout: '300ms' });
    await warmAndExpire(harness);
    const held = emu.hold();
    try {
      const a = await timedAdmit(harness, taskPod(['api-key']));
      expect(a.response.allowed).toBe(true);
      expect(envValue(a, '_UNION_API-KEY')).toBe('project-api-key');
      // With a stale value to fall back on, the refresh gets one callTimeout (one attempt), not the whole 20 s budget.
      expect(await counter(registry, FETCH_METRIC_NAMES.backendRequests, { outcome: 'timeout' })).toBe(1);
      expect(held.parked.length).toBe(1);
      expect(a.ms).toBeLessThan(GENEROUS_BUDGET_MS);
    } finally {
      held.release();
    }
  });

  it('all secrets of a pod share one admission budget', async () => {
    const { harness } = await webhook({ budgetMs: BUDGET_MS });
    await timedAdmit(harness, taskPod(['api-key']));
    // Each GET takes at least 400 ms (far under the 10 s callTimeout, and under the budget on its own): 8 secrets one
    // after the other need at least 3.2 s, more than the budget. Which secret runs out depends on the machine's speed.
    emu.setFaults({ latencyMs: 400 });
    const a = await timedAdmit(harness, taskPod(Array.from({ length: 8 }, (_, i) => `s${i}`)));
    expect(a.response.allowed).toBe(false);
    expect(a.response.status?.message).toMatch(/secret u__org__flyte__domain__development__project__flytesnacks__key__s[0-7] /);
    expect(a.ms).toBeLessThan(OUTER_MS);
    // Without the fault the same pod is admitted (the first secrets are cached by now).
    emu.setFaults({});
    expect((await timedAdmit(harness, taskPod(Array.from({ length: 8 }, (_, i) => `s${i}`)))).response.allowed).toBe(true);
  });
});

describe('dropped connections', () => {
  it('one dropped connection is retried and the pod admitted', async () => {
    const { harness } = await webhook();
    await timedAdmit(harness, taskPod(['org-only']));
    emu.setFaults({ dropNext: 1, operations: ['get'] });
    const a = await timedAdmit(harness, taskPod(['api-key']));
    expect(a.response.allowed).toBe(true);
    expect(envValue(a, '_UNION_API-KEY')).toBe('project-api-key');
  });

  it('every connection dropped: denied inside the budget; the webhook keeps serving afterwards', async () => {
    const { harness } = await webhook();
    await timedAdmit(harness, taskPod(['org-only']));
    emu.setFaults({ dropRatio: 1, operations: ['get'] });
    const a = await timedAdmit(harness, taskPod(['api-key']));
    expect(a.response.allowed).toBe(false);
    expect(a.response.status?.message).toContain('[SecretReadFailure]');
    expect(a.ms).toBeLessThan(GENEROUS_BUDGET_MS);
    emu.setFaults({});
    const b = await timedAdmit(harness, taskPod(['api-key']));
    expect(b.response.allowed).toBe(true);
    const health = await harness.post(undefined, { method: 'GET', path: '/healthz' });
    expect(health.status).toBe(200);
  });
});
