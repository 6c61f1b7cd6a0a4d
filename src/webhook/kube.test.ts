import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubeStatus, startFakeKubeApiServer, type FakeKubeApiServer } from '../../test/support/fake-kube-apiserver.js';
import { freePort } from '../../test/support/free-port.js';
import { isFlyteSecretsError } from '../errors.js';
import { isKubeStatus, kubeApiError, kubeStatusOf, loadKubeConfig, webhookNamespace } from './kube.js';

let kube: FakeKubeApiServer;
const tmp = mkdtempSync(join(tmpdir(), 'kube-test-'));
const emptyHome = join(tmp, 'home');
const noSa = join(tmp, 'no-sa');

beforeAll(async () => {
  kube = await startFakeKubeApiServer();
  mkdirSync(emptyHome);
});
afterAll(async () => {
  await kube.close();
  rmSync(tmp, { recursive: true, force: true });
});

async function caught(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected an error');
}

describe('loadKubeConfig', () => {
  it('uses an explicit kubeconfig first', async () => {
    const kc = await loadKubeConfig({ kubeconfig: kube.kubeconfigPath, env: { KUBECONFIG: '/nonexistent', HOME: emptyHome } });
    expect(kc.getCurrentCluster()?.server).toBe(kube.url);
    await expect(kc.makeApiClient(CoreV1Api).listNamespacedSecret({ namespace: 'x' })).resolves.toMatchObject({ items: [] });
  });

  it('then KUBECONFIG (the first file wins when several are listed)', async () => {
    const second = join(tmp, 'second.kubeconfig');
    writeFileSync(second, JSON.stringify({ apiVersion: 'v1', kind: 'Config', clusters: [{ name: 'other', cluster: { server: 'https://other:6443' } }], users: [{ name: 'o', user: {} }], contexts: [{ name: 'o', context: { cluster: 'other', user: 'o' } }], 'current-context': 'o' }));
    const kc = await loadKubeConfig({ env: { KUBECONFIG: `${kube.kubeconfigPath}:${second}`, HOME: emptyHome }, serviceAccountDir: noSa });
    expect(kc.getCurrentCluster()?.server).toBe(kube.url);
    expect(kc.getClusters().map((c) => c.name).sort()).toEqual(['fake', 'other']);
  });

  it('then the in-cluster service account (token file, CA file, namespace)', async () => {
    const sa = join(tmp, 'sa');
    mkdirSync(sa);
    writeFileSync(join(sa, 'token'), kube.token);
    writeFileSync(join(sa, 'ca.crt'), kube.caPem);
    writeFileSync(join(sa, 'namespace'), 'flyte\n');
    const kc = await loadKubeConfig({ env: { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(kube.port), HOME: emptyHome }, serviceAccountDir: sa });
    expect(kc.getCurrentCluster()?.server).toBe(kube.url);
    expect(kc.getContextObject(kc.getCurrentContext())?.namespace).toBe('flyte');
    kube.requests.length = 0;
    await kc.makeApiClient(CoreV1Api).listNamespacedSecret({ namespace: 'flyte' });
    expect(kube.requests[0]?.headers.authorization).toBe(`Bearer ${kube.token}`);
  });

  it('then ~/.kube/config', async () => {
    const home = join(tmp, 'home2');
    mkdirSync(join(home, '.kube'), { recursive: true });
    writeFileSync(join(home, '.kube', 'config'), JSON.stringify({ apiVersion: 'v1', kind: 'Config', clusters: [{ name: 'h', cluster: { server: 'https://home:6443' } }], users: [{ name: 'h', user: {} }], contexts: [{ name: 'h', context: { cluster: 'h', user: 'h' } }], 'current-context': 'h' }));
    expect((await loadKubeConfig({ env: { HOME: home }, serviceAccountDir: noSa })).getCurrentCluster()?.server).toBe('https://home:6443');
  });

  it.each([
    ['nothing at all', { env: { HOME: emptyHome }, serviceAccountDir: noSa }, /no Kubernetes API configuration found: pass --kubeconfig FILE, set KUBECONFIG/],
    ['a missing --kubeconfig', { kubeconfig: join(tmp, 'missing'), env: {} }, /cannot read kubeconfig .*missing \(from --kubeconfig\): no such file/],
    ['a missing KUBECONFIG file', { env: { KUBECONFIG: join(tmp, 'missing2') } }, /cannot read kubeconfig .*missing2 \(from KUBECONFIG\): no such file/],
    ['in-cluster env without a token', { env: { KUBERNETES_SERVICE_HOST: '10.0.0.1', HOME: emptyHome }, serviceAccountDir: noSa }, /no Kubernetes API configuration found/],
  ])('fails clearly on %s', async (_name, source, message) => {
    const err = await caught(() => loadKubeConfig(source));
    expect(isFlyteSecretsError(err, 'KubernetesApi')).toBe(true);
    expect((err as Error).message).toMatch(message);
  });

  it('fails clearly on a kubeconfig without a current context or with bad YAML', async () => {
    const noCtx = join(tmp, 'noctx');
    writeFileSync(noCtx, JSON.stringify({ apiVersion: 'v1', kind: 'Config', clusters: [], users: [], contexts: [] }));
    expect(await caught(() => loadKubeConfig({ kubeconfig: noCtx }))).toMatchObject({ code: 'KubernetesApi', message: expect.stringMatching(/has no current context/) as string });
    const bad = join(tmp, 'bad');
    writeFileSync(bad, 'clusters: [unclosed');
    expect(await caught(() => loadKubeConfig({ kubeconfig: bad }))).toMatchObject({ code: 'KubernetesApi', message: expect.stringMatching(/^cannot load kubeconfig .*bad \(from --kubeconfig\): /) as string });
  });
});

describe('webhookNamespace', () => {
  it.each([
    [{ POD_NAMESPACE: 'from-env' }, 'from-flag', 'from-env'],
    [{}, 'from-flag', 'from-flag'],
    [{ POD_NAMESPACE: '' }, undefined, 'flyte'],
    [{}, undefined, 'flyte'],
  ])('%j + flag %s → %s', (env, flag, expected) => {
    expect(webhookNamespace(env, flag)).toBe(expected);
  });
});

describe('API errors', () => {
  it('reads the Status of a client error and words it without the request body', async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(kube.kubeconfigPath);
    kube.onRequest = () => kubeStatus(403, 'Forbidden', 'secrets "s" is forbidden: User "system:serviceaccount:flyte:x" cannot create resource "secrets"');
    let err: unknown;
    try {
      await kc.makeApiClient(CoreV1Api).createNamespacedSecret({ namespace: 'flyte', body: { metadata: { name: 's' }, stringData: { password: 'hunter2' } } });
    } catch (e) {
      err = e;
    } finally {
      kube.onRequest = undefined;
    }
    expect(kubeStatusOf(err)).toEqual({ code: 403, reason: 'Forbidden', message: expect.stringMatching(/cannot create resource "secrets"/) as string });
    expect(isKubeStatus(err, 403)).toBe(true);
    expect(isKubeStatus(err, 403, 'Forbidden')).toBe(true);
    expect(isKubeStatus(err, 409)).toBe(false);
    const wrapped = kubeApiError(err, 'create Secret flyte/s');
    expect(wrapped.code).toBe('KubernetesApi');
    expect(wrapped.message).toBe(
      'failed to create Secret flyte/s: 403 Forbidden: secrets "s" is forbidden: User "system:serviceaccount:flyte:x" cannot create resource "secrets" (check the RBAC rules of the service account)',
    );
    expect(wrapped.message).not.toContain('hunter2');
  });

  it('words a connection failure in one line', async () => {
    // A port that was free a moment ago and has no listener now (fetch refuses well-known "bad ports" such as 1).
    const port = await freePort();
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: `https://127.0.0.1:${port}`, skipTLSVerify: false }],
      users: [{ name: 'u', token: 't' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    let err: unknown;
    try {
      await kc.makeApiClient(CoreV1Api).readNamespacedSecret({ name: 's', namespace: 'n' });
    } catch (e) {
      err = e;
    }
    expect(kubeStatusOf(err)).toBeUndefined();
    const wrapped = kubeApiError(err, 'read Secret n/s');
    expect(wrapped.message).toMatch(/^failed to read Secret n\/s: .*ECONNREFUSED/);
    expect(wrapped.message).not.toContain('\n');
  });
});
