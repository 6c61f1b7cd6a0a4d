// The broker over the wire: the webhook's HTTPS server with the broker route, the fake API server answering
// TokenReview (signed JWTs: signature, issuer, audience, expiry, bound pod) and pod reads through the official
// client, Embedded secrets in the Key Vault emulator through the official Azure SDK. Every refusal is a real request.
import { randomUUID } from 'node:crypto';
import { KubeConfig } from '@kubernetes/client-node';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { fetchFromBroker } from '../src/broker/client.js';
import { parseBrokerError } from '../src/broker/protocol.js';
import { AGENT_CONTAINER_NAME } from '../src/inject/agent.js';
import { parseConfig } from '../src/config/load.js';
import { isFlyteSecretsError } from '../src/errors.js';
import { startEmulator, type Emulator } from '../src/emulator/index.js';
import { createEmbeddedSecretManager } from '../src/assemble/index.js';
import type { EmbeddedInjector } from '../src/inject/embedded.js';
import { secretsToAnnotations } from '../src/secret/annotations.js';
import { MountRequirement, makeSecret } from '../src/secret/model.js';
import { createBroker, type BrokerKube } from '../src/webhook/broker.js';
import { createKubeBrokerApi } from '../src/webhook/broker-kube.js';
import { startApiServerHarness, type ApiServerHarness, type HttpAnswer } from './support/api-server-harness.js';
import { startFakeKubeApiServer, type FakeKubeApiServer } from './support/fake-kube-apiserver.js';
import { forgeToken } from './support/fake-sa-tokens.js';

const NS = 'flytesnacks-development';
const AUDIENCE = 'flyte-secrets-broker';
const LABELS = { organization: 'flyte', project: 'flytesnacks', domain: 'development', 'inject-flyte-secrets': 'true' };
const CANARY = `canary-${randomUUID()}`;
const BINARY = Buffer.from([0x00, 0xff, 0xfe, 0x0a, 0x80, 0x30]);
const PATH = '/broker/v1/secrets';
/** Admission is not exercised here: the address pods would be given does not matter. */
const UNUSED_ENDPOINT = { url: 'https://flyte-pod-webhook.flyte.svc:443/broker/v1/secrets', caPem: () => '' };

let emu: Emulator;
let kube: FakeKubeApiServer;
let harness: ApiServerHarness;
let embedded: EmbeddedInjector;
let brokerKube: BrokerKube;
let clock = Date.now();

const SECRETS = [
  makeSecret({ key: 'token', mountRequirement: MountRequirement.FILE }),
  makeSecret({ key: 'db-password', mountRequirement: MountRequirement.ENV_VAR }),
  makeSecret({ key: 'cert', mountRequirement: MountRequirement.FILE }),
  makeSecret({ key: 'missing', mountRequirement: MountRequirement.FILE }),
  makeSecret({ key: 'unlisted', mountRequirement: MountRequirement.FILE }),
];

/** A task pod as the API server stores it after our admission: annotations, labels, the agent listing s0–s3. */
function storePod(name: string, extra: { serviceAccountName?: string; status?: Pod['status'] } = {}): Pod {
  const pod: Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS, labels: LABELS, annotations: secretsToAnnotations(SECRETS) },
    spec: {
      serviceAccountName: extra.serviceAccountName ?? 'default',
      initContainers: [
        {
          name: AGENT_CONTAINER_NAME,
          image: 'flyte-secrets',
          args: ['agent', '--file', 'embedded:0=/etc/flyte/secrets/token', '--env', 'embedded:1=_UNION_DB-PASSWORD', '--file', 'embedded:2=/etc/flyte/secrets/cert', '--file', 'embedded:3=/etc/flyte/secrets/missing'],
        },
      ],
      containers: [{ name: 'main', image: 'python:3.12' }],
    },
    status: extra.status ?? { phase: 'Pending' },
  };
  return kube.store.put(pod as never) as Pod;
}

function post(token: string | undefined, body: unknown, headers: Record<string, string> = {}): Promise<HttpAnswer> {
  return harness.post(body as object, { path: PATH, headers: { ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...headers } });
}

function refusalOf(a: HttpAnswer): { status: number; code: string; message: string } {
  const e = parseBrokerError(a.text);
  expect(e, a.text).toBeDefined();
  return { status: a.status, code: e!.code, message: e!.message };
}

function tokenFor(pod: string, options: { audiences?: string[]; issuedAt?: number; serviceAccount?: string } = {}): string {
  return kube.issuePodToken(NS, pod, { audiences: options.audiences ?? [AUDIENCE], ...(options.issuedAt === undefined ? {} : { issuedAt: options.issuedAt }), ...(options.serviceAccount === undefined ? {} : { serviceAccount: options.serviceAccount }) });
}

const reviews = (): number => kube.requests.filter((r) => r.path === '/apis/authentication.k8s.io/v1/tokenreviews').length;

beforeAll(async () => {
  emu = await startEmulator({
    clientSecret: 'broker-e2e',
    seed: [
      { org: 'flyte', domain: 'development', project: 'flytesnacks', flyteName: 'token', string: `project-token-${CANARY}` },
      { org: 'flyte', domain: 'development', flyteName: 'db-password', string: 'p@ss "w0rd" $HOME' },
      { org: 'flyte', flyteName: 'cert', binaryBase64: BINARY.toString('base64') },
      { org: 'flyte', flyteName: 'unlisted', string: 'never-served' },
    ],
  });
  for (const [k, v] of Object.entries({ AZURE_AUTHORITY_HOST: emu.authorityHost, AZURE_TENANT_ID: emu.tenantId, AZURE_CLIENT_ID: emu.clientId, AZURE_CLIENT_SECRET: emu.clientSecret })) process.env[k] = v;
  kube = await startFakeKubeApiServer({ now: () => clock });
  for (const sa of ['default', 'other']) kube.store.put({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa, namespace: NS } });
  const raw = {
    webhook: { secretManagerTypes: ['Embedded'], embeddedSecretManagerConfig: { type: 'Azure', azureConfig: { vaultURI: emu.vaultUrl } } },
    flyteSecrets: { embedded: { delivery: 'agent' }, broker: { maxRequestsPerPod: 3 } },
  };
  const kc = new KubeConfig();
  kc.loadFromFile(kube.kubeconfigPath);
  brokerKube = await createKubeBrokerApi(kc);
  embedded = await createEmbeddedSecretManager(parseConfig(raw), { azure: { ca: emu.caPem }, broker: UNUSED_ENDPOINT });
  harness = await startApiServerHarness({
    config: raw,
    mutator: { managers: [], mutate: () => Promise.reject(new Error('not used')) },
    broker: ({ config, logger, registry }) => {
      return createBroker({ config, kube: brokerKube, embedded, logger, registry });
    },
  });
}, 60_000);

afterAll(async () => {
  await harness?.close();
  await kube?.close();
  await emu?.close();
});

beforeEach(() => {
  clock = Date.now();
  kube.onRequest = undefined;
});

describe('the broker serves a pod its own Embedded secrets', () => {
  it('serves exactly the sources asked for, with the stored bytes, to the agent client over TLS', async () => {
    storePod('task-ok');
    const values = await fetchFromBroker({
      url: `https://flyte-pod-webhook.flyte.svc:443${PATH}`,
      connectTo: { host: '127.0.0.1', port: harness.port },
      token: tokenFor('task-ok'),
      caPem: harness.caPem,
      sources: ['embedded:0', 'embedded:1', 'embedded:2'],
      deadline: Date.now() + 10_000,
    });
    expect([...values.keys()]).toEqual(['embedded:0', 'embedded:1', 'embedded:2']);
    expect(values.get('embedded:0')).toEqual({ kind: 'string', bytes: Buffer.from(`project-token-${CANARY}`) });
    expect(values.get('embedded:1')?.bytes.toString()).toBe('p@ss "w0rd" $HOME');
    expect(values.get('embedded:2')).toEqual({ kind: 'binary', bytes: BINARY });
    const line = harness.logs.find((l) => l['event'] === 'broker' && l['pod'] === 'task-ok');
    expect(line).toMatchObject({ outcome: 'served', status: 200, namespace: NS, secrets: 3 });
    expect(JSON.stringify(harness.logs)).not.toContain(CANARY);
    const metrics = await harness.server.metricsText();
    expect(metrics).toMatch(/flyte_secrets_broker_requests_total\{outcome="served"\} [1-9]/);
    expect(metrics).toMatch(/flyte_secrets_broker_secrets_served_total [1-9]/);
  });

  it('answers with cache-control: no-store', async () => {
    storePod('task-headers');
    const a = await post(tokenFor('task-headers'), { secrets: ['embedded:1'] });
    expect(a.status).toBe(200);
    expect(a.headers['cache-control']).toBe('no-store');
  });
});

describe('refusals over the wire', () => {
  it('no token: 401 TokenMissing, and no TokenReview is made', async () => {
    const before = reviews();
    expect(refusalOf(await post(undefined, { secrets: ['embedded:0'] }))).toMatchObject({ status: 401, code: 'TokenMissing' });
    expect(reviews()).toBe(before);
  });

  it.each([['Basic dXNlcjpwYXNz'], ['Bearer not-a-jwt'], ['Bearer a.b'], [`Bearer ${'a'.repeat(9000)}.b.c`]])('malformed %# : 401 TokenMalformed', async (header) => {
    const before = reviews();
    const a = await harness.post({ secrets: ['embedded:0'] }, { path: PATH, headers: { authorization: header } });
    expect(refusalOf(a)).toMatchObject({ status: 401, code: 'TokenMalformed' });
    expect(reviews()).toBe(before);
  });

  it('a token for another audience: 401 TokenRejected naming the audiences', async () => {
    storePod('task-aud');
    const r = refusalOf(await post(tokenFor('task-aud', { audiences: ['vault'] }), { secrets: ['embedded:0'] }));
    expect(r).toMatchObject({ status: 401, code: 'TokenRejected' });
    expect(r.message).toContain('token audiences ["vault"] is invalid for the target audiences ["flyte-secrets-broker"]');
  });

  it('an expired token: 401 TokenRejected (expired)', async () => {
    storePod('task-exp');
    const token = tokenFor('task-exp', { issuedAt: clock - 661_000 }); // 600 s lifetime + the API server's 60 s leeway
    const r = refusalOf(await post(token, { secrets: ['embedded:0'] }));
    expect(r).toMatchObject({ status: 401, code: 'TokenRejected' });
    expect(r.message).toContain('service account token has expired');
  });

  it('a token the API server did not sign: 401 TokenRejected', async () => {
    const pod = storePod('task-forged');
    const sa = kube.store.get('serviceaccounts', NS, 'default')!;
    const token = forgeToken({ namespace: NS, serviceAccount: { name: 'default', uid: sa.metadata!.uid! }, pod: { name: 'task-forged', uid: pod.metadata!.uid! }, audiences: [AUDIENCE] });
    expect(refusalOf(await post(token, { secrets: ['embedded:0'] }))).toMatchObject({ status: 401, code: 'TokenRejected' });
  });

  it('a token not bound to a pod: 401 NotAPodToken', async () => {
    const sa = kube.store.get('serviceaccounts', NS, 'default')!;
    const token = kube.tokens.issue({ namespace: NS, serviceAccount: { name: 'default', uid: sa.metadata!.uid! }, audiences: [AUDIENCE] });
    const r = refusalOf(await post(token, { secrets: ['embedded:0'] }));
    expect(r).toMatchObject({ status: 401, code: 'NotAPodToken' });
    expect(r.message).toContain('Kubernetes 1.30');
  });

  it('a pod that is gone: the API server invalidates its token (401); gone between review and read: 403 PodNotFound', async () => {
    storePod('task-gone');
    const token = tokenFor('task-gone');
    kube.store.delete('pods', NS, 'task-gone');
    const r = refusalOf(await post(token, { secrets: ['embedded:0'] }));
    expect(r).toMatchObject({ status: 401, code: 'TokenRejected' });
    expect(r.message).toContain('invalidated');

    storePod('task-gone2');
    const token2 = tokenFor('task-gone2');
    kube.onRequest = (req) => {
      if (req.method === 'GET' && req.path === `/api/v1/namespaces/${NS}/pods/task-gone2`) kube.store.delete('pods', NS, 'task-gone2');
      return undefined;
    };
    expect(refusalOf(await post(token2, { secrets: ['embedded:0'] }))).toMatchObject({ status: 403, code: 'PodNotFound' });
  });

  it('a pod replaced by one with another uid: 401 from the review; replaced between review and read: 403 PodUidMismatch', async () => {
    storePod('task-uid');
    const token = tokenFor('task-uid');
    kube.store.delete('pods', NS, 'task-uid');
    storePod('task-uid');
    expect(refusalOf(await post(token, { secrets: ['embedded:0'] }))).toMatchObject({ status: 401, code: 'TokenRejected' });

    const fresh = tokenFor('task-uid');
    kube.onRequest = (req) => {
      if (req.method === 'GET' && req.path === `/api/v1/namespaces/${NS}/pods/task-uid`) {
        kube.store.delete('pods', NS, 'task-uid');
        storePod('task-uid');
      }
      return undefined;
    };
    const r = refusalOf(await post(fresh, { secrets: ['embedded:0'] }));
    expect(r).toMatchObject({ status: 403, code: 'PodUidMismatch' });
    expect(r.message).toContain('was replaced');
  });

  it('a pod whose main containers started: 403 PodStarted', async () => {
    storePod('task-running', { status: { phase: 'Running', containerStatuses: [{ name: 'main', image: 'python:3.12', imageID: '', ready: true, restartCount: 0, state: { running: { startedAt: new Date().toISOString() } } }] } });
    const r = refusalOf(await post(tokenFor('task-running'), { secrets: ['embedded:0'] }));
    expect(r).toMatchObject({ status: 403, code: 'PodStarted' });
    expect(r.message).toContain('"main"');
  });

  it('a token for another service account than the pod runs as: 403 ServiceAccountMismatch', async () => {
    storePod('task-sa');
    const r = refusalOf(await post(tokenFor('task-sa', { serviceAccount: 'other' }), { secrets: ['embedded:0'] }));
    expect(r).toMatchObject({ status: 403, code: 'ServiceAccountMismatch' });
  });

  it('a token of a pod in another namespace reads that namespace only: its own pod, not this one', async () => {
    kube.store.put({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace: 'elsewhere' } });
    const other = storePod('task-ns');
    kube.store.put({ ...(other as object), metadata: { ...other.metadata, namespace: 'elsewhere', uid: undefined, resourceVersion: undefined } } as never);
    const token = kube.issuePodToken('elsewhere', 'task-ns', { audiences: [AUDIENCE] });
    const before = kube.requests.length;
    await post(token, { secrets: ['embedded:0'] });
    const reads = kube.requests.slice(before).filter((r) => r.method === 'GET').map((r) => r.path);
    expect(reads).toEqual(['/api/v1/namespaces/elsewhere/pods/task-ns']);
  });

  it('with the namespace scope enforced, the same rules as admission refuse a pod outside its namespace: 403 SecretRefused', async () => {
    const raw = { webhook: { secretManagerTypes: ['Embedded'], embeddedSecretManagerConfig: { type: 'Azure', azureConfig: { vaultURI: emu.vaultUrl } } }, flyteSecrets: { embedded: { delivery: 'agent', enforceNamespaceScope: true } } };
    const scopedEmbedded = await createEmbeddedSecretManager(parseConfig(raw), { azure: { ca: emu.caPem }, broker: UNUSED_ENDPOINT });
    const scoped = await startApiServerHarness({
      config: raw,
      mutator: { managers: [], mutate: () => Promise.reject(new Error('not used')) },
      broker: ({ config, logger, registry }) => createBroker({ config, kube: brokerKube, embedded: scopedEmbedded, logger, registry }),
    });
    try {
      kube.store.put({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace: 'elsewhere' } });
      const p = storePod('task-scope');
      kube.store.put({ ...(p as object), metadata: { ...p.metadata, namespace: 'elsewhere', uid: undefined, resourceVersion: undefined } } as never);
      const token = kube.issuePodToken('elsewhere', 'task-scope', { audiences: [AUDIENCE] });
      const a = await scoped.post({ secrets: ['embedded:0'] }, { path: PATH, headers: { authorization: `Bearer ${token}` } });
      const r = refusalOf(a);
      expect(r).toMatchObject({ status: 403, code: 'SecretRefused' });
      expect(r.message).toContain('select namespace "flytesnacks-development" under namespaceTemplate "{project}-{domain}", but the pod is in namespace "elsewhere"');
    } finally {
      await scoped.close();
    }
  });

  it('a secret the pod did not ask for: 403 SecretNotRequested (no annotation, or not listed by its agent)', async () => {
    storePod('task-ask');
    for (const source of ['embedded:9', 'embedded:4']) {
      const r = refusalOf(await post(tokenFor('task-ask'), { secrets: ['embedded:0', source] }));
      expect(r).toMatchObject({ status: 403, code: 'SecretNotRequested' });
      expect(r.message).toContain(source);
    }
    expect(JSON.stringify(harness.logs)).not.toContain('never-served');
  });

  it('a secret not found across all scopes: 404 with the admission message', async () => {
    storePod('task-missing');
    const r = refusalOf(await post(tokenFor('task-missing'), { secrets: ['embedded:3'] }));
    expect(r).toMatchObject({ status: 404, code: 'SecretNotFound' });
    expect(r.message).toContain('[SecretNotFoundAcrossAllScopes] secret not found across all scopes');
  });

  it('per-pod limit: after maxRequestsPerPod requests the pod gets 429; another pod is unaffected', async () => {
    storePod('task-limit');
    const token = tokenFor('task-limit');
    for (let i = 0; i < 3; i++) expect((await post(token, { secrets: ['embedded:1'] })).status).toBe(200);
    const a = await post(token, { secrets: ['embedded:1'] });
    expect(refusalOf(a)).toMatchObject({ status: 429, code: 'TooManyRequests' });
    expect(a.headers['retry-after']).toBe('1');
    storePod('task-limit-other');
    expect((await post(tokenFor('task-limit-other'), { secrets: ['embedded:1'] })).status).toBe(200);
  });

  it('the API server refusing the TokenReview: 503 KubernetesUnavailable (retry), never a 500', async () => {
    storePod('task-503');
    kube.onRequest = (req) => (req.path.endsWith('/tokenreviews') ? { status: 403, body: { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Forbidden', code: 403, message: 'tokenreviews.authentication.k8s.io is forbidden' } } : undefined);
    expect(refusalOf(await post(tokenFor('task-503'), { secrets: ['embedded:0'] }))).toMatchObject({ status: 503, code: 'KubernetesUnavailable' });
  });

  it.each([
    [{ secrets: [] }, 'non-empty'],
    [{ secrets: ['azure:0'] }, 'embedded:<i>'],
    [{ secrets: ['embedded:1', 'embedded:1'] }, 'twice'],
    ['not json', 'not JSON'],
  ])('a bad body %j: 400 BadRequest', async (body, words) => {
    storePod('task-bad');
    const r = refusalOf(await post(tokenFor('task-bad'), body));
    expect(r).toMatchObject({ status: 400, code: 'BadRequest' });
    expect(r.message).toContain(words);
  });

  it('GET: 405; text/plain: 415', async () => {
    expect(refusalOf(await harness.post(undefined, { path: PATH, method: 'GET' }))).toMatchObject({ status: 405, code: 'MethodNotAllowed' });
    storePod('task-ct');
    expect(refusalOf(await post(tokenFor('task-ct'), { secrets: ['embedded:0'] }, { 'content-type': 'text/plain' }))).toMatchObject({ status: 415, code: 'UnsupportedMediaType' });
  });

  it('the agent client fails at once on a refusal, naming the code, never a value', async () => {
    storePod('task-client');
    let err: unknown;
    try {
      await fetchFromBroker({ url: `https://flyte-pod-webhook.flyte.svc:443${PATH}`, connectTo: { host: '127.0.0.1', port: harness.port }, token: tokenFor('task-client'), caPem: harness.caPem, sources: ['embedded:0', 'embedded:3'], deadline: Date.now() + 10_000 });
    } catch (e) {
      err = e;
    }
    expect(isFlyteSecretsError(err, 'BrokerRefused')).toBe(true);
    expect((err as Error).message).toContain('HTTP 404 SecretNotFound');
    expect((err as Error).message).not.toContain(CANARY);
  });

  it('every refusal is counted by code and logged without a token or a value', async () => {
    const metrics = await harness.server.metricsText();
    for (const code of ['TokenMissing', 'TokenMalformed', 'TokenRejected', 'NotAPodToken', 'PodNotFound', 'PodUidMismatch', 'PodStarted', 'ServiceAccountMismatch', 'SecretNotRequested', 'SecretNotFound', 'TooManyRequests', 'KubernetesUnavailable', 'BadRequest']) {
      expect(metrics).toMatch(new RegExp(`flyte_secrets_broker_requests_total\\{outcome="${code}"\\} [1-9]`));
    }
    const text = JSON.stringify(harness.logs);
    expect(text).not.toContain(CANARY);
    expect(text).not.toMatch(/eyJ[A-Za-z0-9_-]{20,}/);
    expect(harness.logs.filter((l) => l['event'] === 'broker' && l['outcome'] !== 'served').every((l) => typeof l['message'] === 'string')).toBe(true);
  });
});
