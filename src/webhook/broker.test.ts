import type { Pod } from 'kubernetes-types/core/v1.js';
import { describe, expect, it } from 'vitest';
import { AGENT_CONTAINER_NAME } from '../inject/agent.js';
import { brokerUrl, parseBrokerRequest, parseBrokerSecrets, parseEmbeddedSource } from '../broker/protocol.js';
import { secretsToAnnotations } from '../secret/annotations.js';
import { MountRequirement, makeSecret } from '../secret/model.js';
import { agentListsSource, bearerToken, createPodRequestLimiter, podClaims, podProblem, requestedSecrets, type PodClaims } from './broker.js';

const CLAIMS: PodClaims = { namespace: 'ns', serviceAccount: 'sa', podName: 'p', podUid: 'u1' };

function pod(over: { uid?: string; namespace?: string; sa?: string; phase?: string; running?: boolean; deleting?: boolean; args?: string[] } = {}): Pod {
  return {
    metadata: {
      name: 'p',
      namespace: over.namespace ?? 'ns',
      uid: over.uid ?? 'u1',
      ...(over.deleting === true ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}),
      annotations: secretsToAnnotations([makeSecret({ key: 'a', mountRequirement: MountRequirement.FILE }), makeSecret({ key: 'b', mountRequirement: MountRequirement.ENV_VAR })]),
    },
    spec: {
      serviceAccountName: over.sa ?? 'sa',
      initContainers: [{ name: AGENT_CONTAINER_NAME, args: over.args ?? ['agent', '--file', 'embedded:0=/etc/flyte/secrets/a', '--env=embedded:1=B'] }],
      containers: [{ name: 'main' }],
    },
    status: { phase: over.phase ?? 'Pending', ...(over.running === true ? { containerStatuses: [{ name: 'main', image: 'i', imageID: '', ready: false, restartCount: 0, state: { running: {} } }] } : {}) },
  };
}

describe('bearerToken', () => {
  it.each([
    [undefined, 'TokenMissing'],
    ['', 'TokenMissing'],
    ['Basic abc', 'TokenMalformed'],
    ['Bearer abc', 'TokenMalformed'],
    ['Bearer a.b.c d', 'TokenMalformed'],
    ['Bearer a.b.c', undefined],
    ['bearer  a.b.c', undefined],
  ])('%j → %s', (header, code) => {
    const r = bearerToken(header);
    if (code === undefined) expect(r).toEqual({ token: 'a.b.c' });
    else expect(r).toMatchObject({ code });
  });
});

describe('podClaims', () => {
  const extra = { 'authentication.kubernetes.io/pod-name': ['p'], 'authentication.kubernetes.io/pod-uid': ['u1'] };
  it('takes the namespace and service account from the username and the pod from user.extra', () => {
    expect(podClaims({ authenticated: true, audiences: ['aud'], user: { username: 'system:serviceaccount:ns:sa', extra } }, 'aud')).toEqual({ claims: CLAIMS });
  });
  it.each([
    [{ authenticated: false, error: '[invalid bearer token, service account token has expired]' }, 'TokenRejected', 'expired'],
    [{ authenticated: true, audiences: ['other'], user: { username: 'system:serviceaccount:ns:sa', extra } }, 'TokenRejected', 'audience'],
    [{ authenticated: true, user: { username: 'alice', extra } }, 'NotAPodToken', 'service-account'],
    [{ authenticated: true, user: { username: 'system:serviceaccount:ns:sa' } }, 'NotAPodToken', '1.30'],
    [{ authenticated: true, user: { username: 'system:serviceaccount:ns:sa', extra: { ...extra, 'authentication.kubernetes.io/pod-uid': ['a', 'b'] } } }, 'NotAPodToken', 'not bound'],
  ])('%j → %s', (status, code, words) => {
    const r = podClaims(status, 'aud');
    expect(r).toMatchObject({ code });
    expect((r as { message: string }).message).toContain(words);
  });
});

describe('podProblem', () => {
  it.each([
    [{}, undefined],
    [{ uid: 'u2' }, 'PodUidMismatch'],
    [{ namespace: 'other' }, 'PodNamespaceMismatch'],
    [{ sa: 'default' }, 'ServiceAccountMismatch'],
    [{ deleting: true }, 'PodNotFound'],
    [{ running: true }, 'PodStarted'],
    [{ phase: 'Running' }, 'PodStarted'],
    [{ phase: 'Succeeded' }, 'PodStarted'],
  ])('%j → %s', (over, code) => {
    const r = podProblem(pod(over), CLAIMS);
    if (code === undefined) expect(r).toBeUndefined();
    else expect(r?.code).toBe(code);
  });
  it('a pod without serviceAccountName runs as "default"', () => {
    const p = pod();
    delete p.spec!.serviceAccountName;
    expect(podProblem(p, { ...CLAIMS, serviceAccount: 'default' })).toBeUndefined();
  });
});

describe('requestedSecrets', () => {
  it('maps sources to the annotations the agent lists', () => {
    const r = requestedSecrets(pod(), ['embedded:1', 'embedded:0']);
    expect('secrets' in r && r.secrets.map((s) => [s.source, s.secret.key])).toEqual([
      ['embedded:1', 'b'],
      ['embedded:0', 'a'],
    ]);
  });
  it('refuses an index with no annotation, and one the agent does not list', () => {
    expect(requestedSecrets(pod(), ['embedded:2'])).toMatchObject({ code: 'SecretNotRequested' });
    expect(requestedSecrets(pod({ args: ['agent', '--file', 'embedded:0=/x'] }), ['embedded:1'])).toMatchObject({ code: 'SecretNotRequested' });
    const noAgent = pod();
    noAgent.spec!.initContainers = [];
    expect(requestedSecrets(noAgent, ['embedded:0'])).toMatchObject({ code: 'SecretNotRequested' });
  });
  it('agentListsSource needs the source followed by "="', () => {
    expect(agentListsSource({ name: 'x', args: ['--file', 'embedded:10=/a'] }, 'embedded:1')).toBe(false);
    expect(agentListsSource({ name: 'x', args: ['--file', 'embedded:1=/a'] }, 'embedded:1')).toBe(true);
  });
});

describe('createPodRequestLimiter', () => {
  it('allows max requests per pod, then refuses; keeps at most maxPods counts, forgetting the oldest', () => {
    const l = createPodRequestLimiter(2, 100);
    expect([l.take('a'), l.take('a'), l.take('a'), l.take('b')]).toEqual([true, true, false, true]);
    for (let i = 0; i < 500; i++) l.take(`pod-${i}`);
    expect(l.size).toBe(100);
    expect(l.take('a')).toBe(true); // forgotten: memory stays bounded
  });
});

describe('protocol', () => {
  it.each([
    ['embedded:0', 0],
    ['embedded:12', 12],
    ['embedded:012', undefined],
    ['embedded:', undefined],
    ['embedded:-1', undefined],
    ['embedded:1e3', undefined],
    ['https://v.vault.azure.net/secrets/x', undefined],
  ])('parseEmbeddedSource(%j) = %j', (source, index) => {
    expect(parseEmbeddedSource(source)).toBe(index);
  });
  it('parseBrokerRequest refuses what is not a list of distinct embedded sources', () => {
    expect(parseBrokerRequest('{"secrets":["embedded:1","embedded:0"]}')).toEqual({ sources: ['embedded:1', 'embedded:0'] });
    expect(parseBrokerRequest('[]')).toHaveProperty('problem');
    expect(parseBrokerRequest(JSON.stringify({ secrets: Array.from({ length: 1001 }, (_, i) => `embedded:${i}`) }))).toHaveProperty('problem');
  });
  it('parseBrokerSecrets checks every source came back, as base64', () => {
    const body = JSON.stringify({ secrets: [{ source: 'embedded:0', kind: 'string', value: Buffer.from('v').toString('base64') }] });
    expect(parseBrokerSecrets(body, ['embedded:0']).get('embedded:0')?.bytes.toString()).toBe('v');
    expect(() => parseBrokerSecrets(body, ['embedded:0', 'embedded:1'])).toThrow('did not serve embedded:1');
    expect(() => parseBrokerSecrets('{"secrets":[{"source":"embedded:0","kind":"string","value":"!!"}]}', ['embedded:0'])).toThrow('not base64');
  });
  it('brokerUrl is the Service name in the namespace', () => {
    expect(brokerUrl({ serviceName: 'flyte-pod-webhook', servicePort: 443, path: '/broker/v1/secrets' }, 'flyte')).toBe('https://flyte-pod-webhook.flyte.svc:443/broker/v1/secrets');
  });
});
