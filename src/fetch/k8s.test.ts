import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { kubeStatus, startFakeKubeApiServer, type FakeKubeApiServer } from '../../test/support/fake-kube-apiserver.js';
import { md5Hex, type FlyteSecretId } from '../secret/flyte-id.js';
import type { SecretFetcher } from './fetcher.js';
import { createImagePullSecretStore, createK8sFetcher, createKubeSecretsApi, type ImagePullSecretStore } from './k8s.js';

let kube: FakeKubeApiServer;
let fetcher: SecretFetcher;
let store: ImagePullSecretStore;

// Flyte's K8s fetcher vectors use the id "test-secret"; ours are full Flyte ids (what the Embedded manager passes).
const id: FlyteSecretId = { org: 'flyte', domain: 'development', project: 'flytesnacks', name: 'my-secret' };
const ID = 'u__org__flyte__domain__development__project__flytesnacks__key__my-secret';
const MD5 = '209ab6535a0e009361229977898c057f'; // spec Appendix A

beforeAll(async () => {
  kube = await startFakeKubeApiServer();
  const api = createKubeSecretsApi({ kubeconfigPath: kube.kubeconfigPath });
  fetcher = createK8sFetcher({ namespace: 'flyte', api });
  store = createImagePullSecretStore({ api, referenceNamespace: 'flyte' });
});
afterAll(async () => {
  await kube.close();
});
beforeEach(() => {
  kube.onRequest = undefined;
});

describe('K8s fetcher (Flyte: `secret/k8s_secret_fetcher.go`) against the fake API server', () => {
  it('reads Secret md5hex(<id>) in k8sConfig.namespace, data key <id>, as bytes', async () => {
    kube.store.put({ apiVersion: 'v1', kind: 'Secret', metadata: { name: MD5, namespace: 'flyte' }, data: { [ID]: Buffer.from('test-secret').toString('base64') } });
    const v = await fetcher.fetch(id);
    expect(v.kind).toBe('binary');
    expect(v.text()).toBe('test-secret');
    expect(kube.requests.at(-1)).toMatchObject({ method: 'GET', path: `/api/v1/namespaces/flyte/secrets/${MD5}` });
  });

  it('not found → «[SecretNotFound] secret <id> not found in the secret manager, caused by: secrets "<md5>" not found»', async () => {
    const missing = { ...id, name: 'nope' };
    const err = await fetcher.fetch(missing).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'SecretNotFound' });
    expect((err as Error).message).toMatch(/^\[SecretNotFound\] secret u__org__flyte__domain__development__project__flytesnacks__key__nope not found in the secret manager, caused by: secrets "[0-9a-f]{32}" not found$/);
  });

  it('Secret without the data key → «[SecretNil] … read as empty from the secret manager, caused by: secret data is nil»', async () => {
    const other: FlyteSecretId = { ...id, name: 'wrong-data' };
    const otherId = 'u__org__flyte__domain__development__project__flytesnacks__key__wrong-data';
    kube.store.put({ apiVersion: 'v1', kind: 'Secret', metadata: { name: md5Hex(otherId), namespace: 'flyte' }, data: { unrelated: 'eA==' } });
    await expect(fetcher.fetch(other)).rejects.toMatchObject({
      code: 'SecretNil',
      message: `[SecretNil] secret ${otherId} read as empty from the secret manager, caused by: secret data is nil`,
    });
  });

  it('an empty value is accepted', async () => {
    const empty: FlyteSecretId = { ...id, name: 'empty' };
    const emptyId = 'u__org__flyte__domain__development__project__flytesnacks__key__empty';
    kube.store.put({ apiVersion: 'v1', kind: 'Secret', metadata: { name: md5Hex(emptyId), namespace: 'flyte' }, data: { [emptyId]: '' } });
    expect((await fetcher.fetch(empty)).bytes()).toHaveLength(0);
  });

  it('client errors → SecretReadFailure with the API server’s message; 5xx and 429 retryable, 403 not', async () => {
    kube.onRequest = () => kubeStatus(403, 'Forbidden', 'secrets "x" is forbidden: User "webhook" cannot get resource "secrets"');
    const forbidden = await fetcher.fetch(id).catch((e: unknown) => e);
    expect(forbidden).toMatchObject({ code: 'SecretReadFailure', retryable: false, status: 403 });
    expect((forbidden as Error).message).toBe(`[SecretReadFailure] secret ${ID} failed to be read from secret manager, caused by: secrets "x" is forbidden: User "webhook" cannot get resource "secrets"`);
    kube.onRequest = () => kubeStatus(503, 'ServiceUnavailable', 'etcd is down');
    await expect(fetcher.fetch(id)).rejects.toMatchObject({ code: 'SecretReadFailure', retryable: true, status: 503 });
    kube.onRequest = () => kubeStatus(429, 'TooManyRequests', 'slow down');
    await expect(fetcher.fetch(id)).rejects.toMatchObject({ code: 'SecretReadFailure', retryable: true, throttled: true });
  });

  it('honours the AbortSignal (an API server that has not answered)', async () => {
    // The API server holds the request until released: the fetch can only end because of the abort.
    let release!: () => void;
    const held = new Promise<undefined>((r) => (release = () => r(undefined)));
    let arrived!: () => void;
    const received = new Promise<void>((r) => (arrived = r));
    kube.onRequest = () => (arrived(), held);
    const controller = new AbortController();
    try {
      const outcome = fetcher.fetch(id, controller.signal).catch((e: unknown) => e);
      await received;
      controller.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError'));
      expect(await outcome).toMatchObject({ code: 'SecretReadFailure', retryable: true });
    } finally {
      kube.onRequest = undefined;
      release();
    }
  });
});

describe('image-pull secret store (Flyte: `secret/imagepull_kubernetes_utils.go`) against the fake API server', () => {
  const name = 'img-pull-4be78d4babe90815';

  it('no reference secret → false, nothing created', async () => {
    expect(await store.mirror('img-pull-0000000000000000', 'team-a', { dryRun: false })).toBe(false);
    expect(kube.store.get('secrets', 'team-a', 'img-pull-0000000000000000')).toBeUndefined();
  });

  it('creates a copy in the pod namespace (labels, annotations, type, data), and in dry-run creates nothing', async () => {
    kube.store.put({
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/dockerconfigjson',
      metadata: { name, namespace: 'flyte', labels: { 'union.ai/secret-type': 'image-pull-secret' }, annotations: { note: 'x' } },
      data: { '.dockerconfigjson': Buffer.from('{"auths":{}}').toString('base64') },
    });
    expect(await store.mirror(name, 'team-dry', { dryRun: true })).toBe(true);
    expect(kube.store.get('secrets', 'team-dry', name)).toBeUndefined();
    expect(kube.requests.filter((r) => r.method === 'POST')).toHaveLength(0);

    expect(await store.mirror(name, 'team-a', { dryRun: false })).toBe(true);
    const copy = kube.store.get('secrets', 'team-a', name);
    expect(copy).toMatchObject({
      type: 'kubernetes.io/dockerconfigjson',
      metadata: { name, namespace: 'team-a', labels: { 'union.ai/secret-type': 'image-pull-secret' }, annotations: { note: 'x' } },
      data: { '.dockerconfigjson': Buffer.from('{"auths":{}}').toString('base64') },
    });
    expect(copy?.metadata?.ownerReferences).toBeUndefined();
  });

  it('an existing mirror is left alone (never updated)', async () => {
    kube.store.put({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: 'team-b' }, data: { old: 'eA==' } });
    const posts = kube.requests.filter((r) => r.method === 'POST').length;
    expect(await store.mirror(name, 'team-b', { dryRun: false })).toBe(true);
    expect(kube.requests.filter((r) => r.method === 'POST').length).toBe(posts);
    expect(kube.store.get('secrets', 'team-b', name)?.data).toEqual({ old: 'eA==' });
  });

  it('errors carry Flyte’s texts', async () => {
    kube.onRequest = () => kubeStatus(403, 'Forbidden', 'no');
    await expect(store.mirror(name, 'team-c', { dryRun: false })).rejects.toThrow(`failed to get reference secret [${name}]: no`);
    kube.onRequest = (r) => (r.path.includes('/namespaces/team-c/') ? kubeStatus(500, 'InternalError', 'boom') : undefined);
    await expect(store.mirror(name, 'team-c', { dryRun: false })).rejects.toThrow(`failed to check for mirrored secret [${name}] in namespace [team-c]: boom`);
    kube.onRequest = (r) => (r.method === 'POST' ? kubeStatus(403, 'Forbidden', 'cannot create') : undefined);
    await expect(store.mirror(name, 'team-c', { dryRun: false })).rejects.toThrow(`failed to create mirrored secret [${name}] in namespace [team-c]: cannot create`);
  });
});
