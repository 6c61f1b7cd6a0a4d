import { AdmissionregistrationV1Api, CoreV1Api, KubeConfig, PatchStrategy, Watch, setHeaderOptions, type V1Secret } from '@kubernetes/client-node';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { decodeSecretData, kubeStatus, startFakeKubeApiServer, type FakeKubeApiServer, type KubeObject } from './support/fake-kube-apiserver.js';

let kube: FakeKubeApiServer;
let core: CoreV1Api;
let admission: AdmissionregistrationV1Api;
let kc: KubeConfig;

/** The parsed Status of a client error. */
async function statusOf(p: Promise<unknown>): Promise<{ code: number; reason: string; message: string; details?: Record<string, unknown> }> {
  try {
    await p;
  } catch (err) {
    const e = err as { code: number; body: string };
    return { ...(JSON.parse(e.body) as { reason: string; message: string; details?: Record<string, unknown> }), code: e.code };
  }
  throw new Error('expected the call to fail');
}

beforeAll(async () => {
  kube = await startFakeKubeApiServer();
  kc = new KubeConfig();
  kc.loadFromFile(kube.kubeconfigPath);
  core = kc.makeApiClient(CoreV1Api);
  admission = kc.makeApiClient(AdmissionregistrationV1Api);
});
afterAll(async () => {
  await kube.close();
});
beforeEach(() => {
  kube.onRequest = undefined;
});

describe('fake kube-apiserver: Secrets', () => {
  it('creates, reads, lists, replaces and deletes, with uid and resourceVersion', async () => {
    const created = await core.createNamespacedSecret({ namespace: 'ns1', body: { metadata: { name: 'alpha', labels: { app: 'x' } }, stringData: { user: 'me' } } });
    expect(created.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.type).toBe('Opaque');
    expect(created.data).toEqual({ user: Buffer.from('me').toString('base64') });
    expect(created.stringData).toBeUndefined();
    const rv1 = created.metadata?.resourceVersion;

    const read = await core.readNamespacedSecret({ name: 'alpha', namespace: 'ns1' });
    expect(read.metadata?.resourceVersion).toBe(rv1);
    expect(decodeSecretData(kube.store.get('secrets', 'ns1', 'alpha'))).toEqual({ user: 'me' });

    const updated = await core.replaceNamespacedSecret({ name: 'alpha', namespace: 'ns1', body: { ...read, data: { user: Buffer.from('you').toString('base64') } } });
    expect(Number(updated.metadata?.resourceVersion)).toBeGreaterThan(Number(rv1));
    expect(updated.metadata?.uid).toBe(created.metadata?.uid);

    await core.createNamespacedSecret({ namespace: 'ns1', body: { metadata: { name: 'beta' } } });
    await core.createNamespacedSecret({ namespace: 'ns2', body: { metadata: { name: 'gamma', labels: { app: 'x' } } } });
    const list = await core.listNamespacedSecret({ namespace: 'ns1' });
    expect(list.items.map((s) => s.metadata?.name)).toEqual(['alpha', 'beta']);
    const labelled = await core.listSecretForAllNamespaces({ labelSelector: 'app=x' });
    expect(labelled.items.map((s) => `${s.metadata?.namespace}/${s.metadata?.name}`)).toEqual(['ns1/alpha', 'ns2/gamma']);
    const byName = await core.listNamespacedSecret({ namespace: 'ns1', fieldSelector: 'metadata.name=beta' });
    expect(byName.items.map((s) => s.metadata?.name)).toEqual(['beta']);

    await core.deleteNamespacedSecret({ name: 'beta', namespace: 'ns1' });
    expect(kube.store.get('secrets', 'ns1', 'beta')).toBeUndefined();
  });

  it('answers real Status objects: NotFound, AlreadyExists, Conflict', async () => {
    const nf = await statusOf(core.readNamespacedSecret({ name: 'nope', namespace: 'ns1' }));
    expect(nf).toMatchObject({ code: 404, reason: 'NotFound', message: 'secrets "nope" not found', details: { name: 'nope', kind: 'secrets' } });

    await core.createNamespacedSecret({ namespace: 'ns3', body: { metadata: { name: 'dup' } } });
    const ae = await statusOf(core.createNamespacedSecret({ namespace: 'ns3', body: { metadata: { name: 'dup' } } }));
    expect(ae).toMatchObject({ code: 409, reason: 'AlreadyExists', message: 'secrets "dup" already exists' });

    const first = await core.readNamespacedSecret({ name: 'dup', namespace: 'ns3' });
    await core.replaceNamespacedSecret({ name: 'dup', namespace: 'ns3', body: { ...first, data: { a: 'YQ==' } } });
    const conflict = await statusOf(core.replaceNamespacedSecret({ name: 'dup', namespace: 'ns3', body: { ...first, data: { a: 'Yg==' } } }));
    expect(conflict).toMatchObject({ code: 409, reason: 'Conflict' });
    expect(conflict.message).toBe('Operation cannot be fulfilled on secrets "dup": the object has been modified; please apply your changes to the latest version and try again');

    const gone = await statusOf(core.replaceNamespacedSecret({ name: 'ghost', namespace: 'ns3', body: { metadata: { name: 'ghost' } } }));
    expect(gone).toMatchObject({ code: 404, reason: 'NotFound' });
  });

  it('rejects invalid names, bad base64, mismatched namespaces, and changes to an immutable Secret', async () => {
    expect(await statusOf(core.createNamespacedSecret({ namespace: 'ns4', body: { metadata: { name: 'Bad_Name' } } }))).toMatchObject({ code: 422, reason: 'Invalid' });
    expect(await statusOf(core.createNamespacedSecret({ namespace: 'ns4', body: { metadata: { name: 'b64' }, data: { k: 'not base64!' } } }))).toMatchObject({ code: 400 });
    expect(await statusOf(core.createNamespacedSecret({ namespace: 'ns4', body: { metadata: { name: 'x', namespace: 'other' } } }))).toMatchObject({ code: 400, reason: 'BadRequest' });

    const frozen = await core.createNamespacedSecret({ namespace: 'ns4', body: { metadata: { name: 'frozen' }, immutable: true, data: { a: 'YQ==' } } });
    const refused = await statusOf(core.replaceNamespacedSecret({ name: 'frozen', namespace: 'ns4', body: { ...frozen, data: { a: 'Yg==' } } }));
    expect(refused).toMatchObject({ code: 422, reason: 'Invalid' });
    expect(refused.message).toBe('Secret "frozen" is invalid: data: Forbidden: field is immutable when `immutable` is set');
    // labels may still change
    await core.replaceNamespacedSecret({ name: 'frozen', namespace: 'ns4', body: { ...frozen, metadata: { ...frozen.metadata, labels: { l: 'v' } } } });
  });

  it('honours delete preconditions and dryRun', async () => {
    const s = await core.createNamespacedSecret({ namespace: 'ns5', body: { metadata: { name: 'pre' } } });
    const stale = await statusOf(core.deleteNamespacedSecret({ name: 'pre', namespace: 'ns5', body: { preconditions: { resourceVersion: '1' } } }));
    expect(stale).toMatchObject({ code: 409, reason: 'Conflict' });
    expect(stale.message).toMatch(/Precondition failed: ResourceVersion in precondition: 1/);
    await core.deleteNamespacedSecret({ name: 'pre', namespace: 'ns5', body: { preconditions: { resourceVersion: s.metadata?.resourceVersion as string, uid: s.metadata?.uid as string } } });
    expect(kube.store.get('secrets', 'ns5', 'pre')).toBeUndefined();

    await core.createNamespacedSecret({ namespace: 'ns5', body: { metadata: { name: 'dry' } }, dryRun: 'All' });
    expect(kube.store.get('secrets', 'ns5', 'dry')).toBeUndefined();
  });

  it('applies JSON Patch (the client default) and merge patch', async () => {
    await core.createNamespacedSecret({ namespace: 'ns6', body: { metadata: { name: 'p', labels: { a: '1' } } } });
    await core.patchNamespacedSecret({ name: 'p', namespace: 'ns6', body: [{ op: 'add', path: '/metadata/labels/b', value: '2' }] });
    await core.patchNamespacedSecret(
      { name: 'p', namespace: 'ns6', body: { metadata: { labels: { a: null } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    expect(kube.store.get('secrets', 'ns6', 'p')?.metadata?.labels).toEqual({ b: '2' });
  });

  it('streams watch events after a list', async () => {
    await core.createNamespacedSecret({ namespace: 'ns7', body: { metadata: { name: 'w1' } } });
    const list = await core.listNamespacedSecret({ namespace: 'ns7' });
    const events: string[] = [];
    const watch = new Watch(kc);
    let resolveDone: () => void = () => undefined;
    const done = new Promise<void>((resolve) => (resolveDone = resolve));
    const controller = await watch.watch(
      '/api/v1/namespaces/ns7/secrets',
      { resourceVersion: list.metadata?.resourceVersion },
      (type: string, obj: V1Secret) => {
        events.push(`${type} ${obj.metadata?.name ?? ''}`);
        if (events.length === 3) resolveDone();
      },
      () => undefined,
    );
    await core.createNamespacedSecret({ namespace: 'ns7', body: { metadata: { name: 'w2' } } });
    await core.createNamespacedSecret({ namespace: 'other', body: { metadata: { name: 'unrelated' } } });
    await core.patchNamespacedSecret({ name: 'w2', namespace: 'ns7', body: [{ op: 'add', path: '/metadata/labels', value: { x: 'y' } }] });
    await core.deleteNamespacedSecret({ name: 'w1', namespace: 'ns7' });
    await Promise.race([done, new Promise((_r, reject) => setTimeout(() => reject(new Error('watch timed out')), 5000))]);
    controller.abort();
    expect(events).toEqual(['ADDED w2', 'MODIFIED w2', 'DELETED w1']);
  });
});

describe('fake kube-apiserver: pods, webhook configurations, auth, faults', () => {
  it('serves seeded pods', async () => {
    kube.store.put({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-0', namespace: 'flyte', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web', uid: 'u1' }] } });
    const pod = await core.readNamespacedPod({ name: 'web-0', namespace: 'flyte' });
    expect(pod.metadata?.ownerReferences?.[0]?.name).toBe('web');
    expect(await statusOf(core.readNamespacedPod({ name: 'web-1', namespace: 'flyte' }))).toMatchObject({ code: 404, message: 'pods "web-1" not found' });
  });

  it('keeps MutatingWebhookConfigurations cluster-scoped, with group-qualified errors', async () => {
    const body = { metadata: { name: 'hook', namespace: 'ignored' }, webhooks: [] };
    const created = await admission.createMutatingWebhookConfiguration({ body });
    expect(created.metadata?.namespace).toBeUndefined();
    const dup = await statusOf(admission.createMutatingWebhookConfiguration({ body }));
    expect(dup).toMatchObject({ code: 409, reason: 'AlreadyExists', message: 'mutatingwebhookconfigurations.admissionregistration.k8s.io "hook" already exists' });
    expect(dup.details).toMatchObject({ group: 'admissionregistration.k8s.io', kind: 'mutatingwebhookconfigurations' });
    const read = await admission.readMutatingWebhookConfiguration({ name: 'hook' });
    await admission.replaceMutatingWebhookConfiguration({ name: 'hook', body: { ...read, metadata: { ...read.metadata, labels: { a: 'b' } } } });
    expect(await statusOf(admission.replaceMutatingWebhookConfiguration({ name: 'hook', body: read }))).toMatchObject({ code: 409, reason: 'Conflict' });
    await admission.deleteMutatingWebhookConfiguration({ name: 'hook' });
    expect(await statusOf(admission.readMutatingWebhookConfiguration({ name: 'hook' }))).toMatchObject({
      code: 404,
      message: 'mutatingwebhookconfigurations.admissionregistration.k8s.io "hook" not found',
    });
  });

  it('records requests with their bearer token, and refuses a wrong token with 401', async () => {
    kube.requests.length = 0;
    await core.listNamespacedSecret({ namespace: 'ns1' });
    expect(kube.requests).toHaveLength(1);
    expect(kube.requests[0]).toMatchObject({ method: 'GET', path: '/api/v1/namespaces/ns1/secrets', status: 200 });
    expect(kube.requests[0]?.headers.authorization).toBe(`Bearer ${kube.token}`);

    const wrong = new KubeConfig();
    wrong.loadFromOptions({
      clusters: [{ name: 'c', server: kube.url, caData: Buffer.from(kube.caPem).toString('base64') }],
      users: [{ name: 'u', token: 'wrong' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    await expect(wrong.makeApiClient(CoreV1Api).listNamespacedSecret({ namespace: 'ns1' })).rejects.toMatchObject({ code: 401 });
  });

  it('lets a test force answers (fault injection) through onRequest', async () => {
    kube.onRequest = (req) => (req.method === 'POST' ? kubeStatus(403, 'Forbidden', 'secrets is forbidden: User "x" cannot create resource "secrets"') : undefined);
    expect(await statusOf(core.createNamespacedSecret({ namespace: 'ns8', body: { metadata: { name: 'f' } } }))).toMatchObject({ code: 403, reason: 'Forbidden' });
    expect(kube.store.get('secrets', 'ns8', 'f')).toBeUndefined();
    // reads still go through
    await expect(core.listNamespacedSecret({ namespace: 'ns8' })).resolves.toMatchObject({ items: [] });
  });

  it('store.put seeds objects that the API then serves, and refuses unknown kinds', async () => {
    const seeded: KubeObject = kube.store.put({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'seed', namespace: 'ns9' }, stringData: { k: 'v' } });
    expect(seeded.metadata?.resourceVersion).toBeDefined();
    const s = await core.readNamespacedSecret({ name: 'seed', namespace: 'ns9' });
    expect(s.data).toEqual({ k: Buffer.from('v').toString('base64') });
    expect(() => kube.store.put({ apiVersion: 'v1', kind: 'Unknown', metadata: { name: 'x' } })).toThrow(/unknown kind/);
  });
});
