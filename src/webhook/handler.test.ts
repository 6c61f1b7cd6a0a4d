import type { Pod } from 'kubernetes-types/core/v1.js';
import { describe, expect, it } from 'vitest';
import type { MutationOutcome, PodMutator } from '../inject/mutator.js';
import { INTERNAL_ERROR_MESSAGE, admissionNamespace, createAdmissionHandler, isPodRequest } from './handler.js';
import { createLogger } from './logger.js';
import { createWebhookMetrics } from './metrics.js';
import type { AdmissionRequest, AdmissionReview } from './review.js';

/** A mutator double: records its calls and answers what the test says. */
function stubMutator(answer: (pod: Pod) => MutationOutcome | Promise<MutationOutcome>): PodMutator & { calls: { pod: Pod; ctx: { namespace: string; dryRun: boolean } }[] } {
  const calls: { pod: Pod; ctx: { namespace: string; dryRun: boolean } }[] = [];
  return {
    managers: ['Global', 'Azure'],
    calls,
    async mutate(pod, ctx) {
      calls.push({ pod, ctx });
      return answer(pod);
    },
  };
}

function captureLogs() {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ level: 'debug', destination: { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) } });
  return { logger, lines };
}

const pod: Pod = { apiVersion: 'v1', kind: 'Pod', metadata: { generateName: 'task-', namespace: 'ns-from-pod', annotations: { 'flyte.secrets/s0': 'x' } }, spec: { containers: [{ name: 'c', image: 'i' }] } };

function review(overrides: Partial<AdmissionRequest> = {}, apiVersion = 'admission.k8s.io/v1'): Buffer {
  return Buffer.from(
    JSON.stringify({
      apiVersion,
      kind: 'AdmissionReview',
      request: { uid: 'uid-1', kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' }, operation: 'CREATE', namespace: 'team-a', object: pod, ...overrides },
    }),
  );
}

const mutated = (extra: Partial<Extract<MutationOutcome, { kind: 'mutated' }>> = {}): MutationOutcome => ({
  kind: 'mutated',
  pod,
  patch: [{ op: 'add', path: '/metadata/labels', value: { x: 'y' } }],
  warnings: [],
  managers: ['Azure', 'Azure', 'Global'],
  secrets: 3,
  ...extra,
});

function responseOf(body: object): NonNullable<AdmissionReview['response']> {
  const r = (body as AdmissionReview).response;
  if (r === undefined) throw new Error('no response');
  return r;
}

describe('createAdmissionHandler', () => {
  it('runs the mutator with the request namespace and answers its patch', async () => {
    const mutator = stubMutator(() => mutated());
    const metrics = createWebhookMetrics({ processMetrics: false });
    const handle = createAdmissionHandler({ mutator, metrics });
    const out = await handle(review());
    expect(out.status).toBe(200);
    expect(out.outcome).toBe('mutated');
    expect((out.body as AdmissionReview).apiVersion).toBe('admission.k8s.io/v1');
    const r = responseOf(out.body);
    expect(r).toMatchObject({ uid: 'uid-1', allowed: true, patchType: 'JSONPatch' });
    expect(JSON.parse(Buffer.from(r.patch ?? '', 'base64').toString())).toEqual([{ op: 'add', path: '/metadata/labels', value: { x: 'y' } }]);
    expect(mutator.calls).toHaveLength(1);
    expect(mutator.calls[0]?.ctx).toEqual({ namespace: 'team-a', dryRun: false });
    expect(mutator.calls[0]?.pod).toEqual(pod);
    const text = await metrics.text();
    expect(text).toContain('flyte_secrets_admission_requests_total{outcome="mutated"} 1');
    expect(text).toContain('flyte_secrets_injections_total{manager="Azure"} 2');
    expect(text).toContain('flyte_secrets_injections_total{manager="Global"} 1');
    expect(text).toContain('flyte_secrets_admission_duration_seconds_count 1');
  });

  it('answers v1beta1 in v1beta1', async () => {
    const out = await createAdmissionHandler({ mutator: stubMutator(() => mutated()) })(review({}, 'admission.k8s.io/v1beta1'));
    expect((out.body as AdmissionReview).apiVersion).toBe('admission.k8s.io/v1beta1');
  });

  it('passes dryRun to the mutator', async () => {
    const mutator = stubMutator(() => mutated());
    await createAdmissionHandler({ mutator })(review({ dryRun: true }));
    expect(mutator.calls[0]?.ctx.dryRun).toBe(true);
  });

  it('falls back to the pod’s namespace, then to "default"', async () => {
    const mutator = stubMutator(() => ({ kind: 'unchanged', secrets: 0 }));
    const handle = createAdmissionHandler({ mutator });
    await handle(review({ namespace: '' }));
    expect(mutator.calls[0]?.ctx.namespace).toBe('ns-from-pod');
    expect(admissionNamespace({ uid: 'u', kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' }, operation: 'CREATE' }, { metadata: {} })).toBe('default');
  });

  it.each([
    ['a non-pod kind', { kind: { group: 'apps', version: 'v1', kind: 'Deployment' }, resource: { group: 'apps', version: 'v1', resource: 'deployments' } }],
    ['a pod subresource', { subResource: 'ephemeralcontainers' }],
    ['a pods binding', { kind: { group: '', version: 'v1', kind: 'Binding' }, subResource: 'binding' }],
    ['an UPDATE', { operation: 'UPDATE' }],
    ['a DELETE', { operation: 'DELETE' }],
  ])('allows %s unchanged without calling the mutator', async (_name, overrides) => {
    const mutator = stubMutator(() => mutated());
    const out = await createAdmissionHandler({ mutator })(review(overrides));
    expect(out.outcome).toBe('skipped');
    expect(responseOf(out.body)).toEqual({ uid: 'uid-1', allowed: true, status: { code: 200, message: 'No changes' } });
    expect(mutator.calls).toHaveLength(0);
  });

  it('answers "No changes" for a pod without secrets, and for an empty patch (already injected)', async () => {
    for (const outcome of [{ kind: 'unchanged', secrets: 0 } as const, mutated({ patch: [] })]) {
      const out = await createAdmissionHandler({ mutator: stubMutator(() => outcome) })(review());
      expect(out.outcome).toBe('allowed');
      const r = responseOf(out.body);
      expect(r.allowed).toBe(true);
      expect(r.patch).toBeUndefined();
      expect(r.patchType).toBeUndefined();
    }
  });

  it('answers a mutator denial with code 400, its message and warnings, and counts it by code', async () => {
    const metrics = createWebhookMetrics({ processMetrics: false });
    const handle = createAdmissionHandler({
      mutator: stubMutator(() => ({ kind: 'denied', message: 'failed to unmarshal secrets from pod annotations: error unmarshaling secret [flyte.secrets/s0]. Error: x', code: 'InvalidAnnotation', warnings: ['careful'], secrets: 1 })),
      metrics,
    });
    const out = await handle(review());
    expect(out.status).toBe(200);
    expect(out.outcome).toBe('denied');
    expect(responseOf(out.body)).toEqual({
      uid: 'uid-1',
      allowed: false,
      status: { code: 400, reason: 'BadRequest', message: 'failed to unmarshal secrets from pod annotations: error unmarshaling secret [flyte.secrets/s0]. Error: x' },
      warnings: ['careful'],
    });
    expect(await metrics.text()).toContain('flyte_secrets_admission_denials_total{reason="InvalidAnnotation"} 1');
  });

  it.each([
    ['no object', { object: undefined }],
    ['an object that is a string', { object: 'pod' }],
    ['an object of another kind', { object: { kind: 'Service' } }],
    ['a spec that is not an object', { object: { kind: 'Pod', spec: [] } }],
  ])('denies %s with code 400 (Flyte: Errored(400))', async (_name, overrides) => {
    const mutator = stubMutator(() => mutated());
    const out = await createAdmissionHandler({ mutator })(review(overrides));
    const r = responseOf(out.body);
    expect(r.allowed).toBe(false);
    expect(r.status?.code).toBe(400);
    expect(r.status?.message).toMatch(/^cannot decode the admission request object as a Pod: /);
    expect(mutator.calls).toHaveLength(0);
  });

  it('turns an unexpected exception into a generic denial, logged without its message', async () => {
    const { logger, lines } = captureLogs();
    const metrics = createWebhookMetrics({ processMetrics: false });
    const handle = createAdmissionHandler({
      mutator: stubMutator(() => {
        throw new TypeError('value sup3r-s3cret-canary leaked into a message');
      }),
      logger,
      metrics,
    });
    const out = await handle(review());
    expect(out.status).toBe(200);
    expect(out.outcome).toBe('error');
    expect(responseOf(out.body)).toMatchObject({ allowed: false, status: { code: 500, message: INTERNAL_ERROR_MESSAGE, reason: 'InternalError' } });
    const all = lines.map((l) => JSON.stringify(l)).join('\n');
    expect(all).not.toContain('sup3r-s3cret-canary');
    expect(lines.some((l) => l['errorType'] === 'TypeError' && Array.isArray(l['frames']))).toBe(true);
    expect(await metrics.text()).toContain('flyte_secrets_admission_denials_total{reason="Internal"} 1');
  });

  it('answers HTTP 400 with a Status for bodies that are not AdmissionReviews', async () => {
    const metrics = createWebhookMetrics({ processMetrics: false });
    const handle = createAdmissionHandler({ mutator: stubMutator(() => mutated()), metrics });
    for (const b of ['nope', '{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1"}', '{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{}}']) {
      const out = await handle(Buffer.from(b));
      expect(out.status).toBe(400);
      expect(out.body).toMatchObject({ kind: 'Status', code: 400, reason: 'BadRequest' });
      expect((out.body as { message: string }).message.length).toBeGreaterThan(10);
    }
    expect(await metrics.text()).toContain('flyte_secrets_admission_requests_total{outcome="bad_request"} 3');
  });

  it('writes one allowlisted line per admission: uid, namespace, pod, secrets, managers, outcome, duration', async () => {
    const { logger, lines } = captureLogs();
    const handle = createAdmissionHandler({ mutator: stubMutator(() => mutated({ warnings: ['w1'] })), logger });
    await handle(review());
    const admission = lines.filter((l) => l['event'] === 'admission');
    expect(admission).toHaveLength(1);
    const line = admission[0] ?? {};
    expect(line).toMatchObject({ uid: 'uid-1', namespace: 'team-a', pod: 'task-', operation: 'CREATE', dryRun: false, secrets: 3, managers: ['Azure', 'Global'], outcome: 'mutated', warnings: 1 });
    expect(typeof line['durationMs']).toBe('number');
    const keys = Object.keys(line).filter((k) => !['level', 'time', 'pid', 'hostname', 'name', 'msg'].includes(k)).sort();
    expect(keys).toEqual(['dryRun', 'durationMs', 'event', 'managers', 'namespace', 'operation', 'outcome', 'pod', 'secrets', 'uid', 'warnings']);
    expect(JSON.stringify(line)).not.toContain('flyte.secrets/s0');
  });
});

describe('isPodRequest', () => {
  it('is true only for core/v1 pods without a subresource', () => {
    const base = { uid: 'u', operation: 'CREATE', kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' } };
    expect(isPodRequest(base)).toBe(true);
    expect(isPodRequest({ ...base, subResource: 'status' })).toBe(false);
    expect(isPodRequest({ ...base, kind: { group: 'x.io', version: 'v1', kind: 'Pod' } })).toBe(false);
    expect(isPodRequest({ ...base, resource: { group: '', version: 'v1', resource: 'services' } })).toBe(false);
  });
});
