/**
 * End to end: `certs init` and `register` against the fake Kubernetes API server (test/support/fake-kube-apiserver.ts)
 * through @kubernetes/client-node, as library calls and as the real binary (`node bin/flyte-secrets.js`, build
 * first: `npx tsc -p tsconfig.build.json`) in child processes.
 */
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdmissionregistrationV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { MutatingWebhookConfiguration as MwcModel } from 'kubernetes-models/admissionregistration.k8s.io/v1/MutatingWebhookConfiguration';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Command } from 'commander';
import { register as registerCertsCommand } from '../src/cli/commands/certs.js';
import { CliError } from '../src/cli/io.js';
import { parseConfig } from '../src/config/load.js';
import type { Config } from '../src/config/schema.js';
import {
  certificateSecretData,
  certificatesMatch,
  generateCertificates,
  initCertificates,
  type CertificateBundle,
  type InitCertificatesResult,
} from '../src/webhook/certs.js';
import { registerWebhook } from '../src/webhook/register.js';
import { decodeSecretData, kubeStatus, startFakeKubeApiServer, type FakeKubeApiServer, type KubeObject, type RecordedRequest } from './support/fake-kube-apiserver.js';
import { CLI_BIN as BIN, PACKAGE_ROOT as ROOT } from './support/cli.js';

const DAY = 86_400_000;
const YEAR = 365 * DAY;

let kube: FakeKubeApiServer;
let core: CoreV1Api;
let admission: AdmissionregistrationV1Api;
const tmp = mkdtempSync(join(tmpdir(), 'certs-register-'));

beforeAll(async () => {
  kube = await startFakeKubeApiServer();
  const kc = new KubeConfig();
  kc.loadFromFile(kube.kubeconfigPath);
  core = kc.makeApiClient(CoreV1Api);
  admission = kc.makeApiClient(AdmissionregistrationV1Api);
});
afterAll(async () => {
  await kube.close();
  rmSync(tmp, { recursive: true, force: true });
});
beforeEach(() => {
  kube.onRequest = undefined;
  kube.requests.length = 0;
});

let counter = 0;
/** A config whose certDir is a fresh temporary directory, plus a fresh namespace. */
function setup(webhook: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): { config: Config; namespace: string; certDir: string } {
  counter++;
  const certDir = join(tmp, `certs-${counter}`);
  return { config: parseConfig({ webhook: { certDir, ...webhook }, ...extra }), namespace: `ns-${counter}`, certDir };
}

function secretOf(namespace: string, name = 'flyte-pod-webhook'): KubeObject | undefined {
  return kube.store.get('secrets', namespace, name);
}

/** Hold matching requests until `count` of them have arrived (or `maxWaitMs` passed), so callers really race. */
function barrier(match: (r: RecordedRequest) => boolean, count: number, maxWaitMs = 5000): void {
  let arrived = 0;
  let release: () => void = () => undefined;
  const all = new Promise<void>((resolve) => (release = resolve));
  const timeout = new Promise<void>((resolve) => setTimeout(resolve, maxWaitMs).unref());
  kube.onRequest = async (r) => {
    if (!match(r)) return undefined;
    arrived++;
    if (arrived === count) release();
    if (arrived <= count) await Promise.race([all, timeout]);
    return undefined;
  };
}

const isSecretGet = (r: RecordedRequest): boolean => r.method === 'GET' && r.path.includes('/secrets/');
const writes = (): RecordedRequest[] => kube.requests.filter((r) => r.method !== 'GET');

describe('certs init (library)', () => {
  it('creates the Secret with ca.crt, tls.crt, tls.key, not immutable, and writes local files when localCert', async () => {
    const { config, namespace, certDir } = setup({ localCert: true });
    const r = await initCertificates(config, { core, namespace });
    expect(r.action).toBe('created');
    expect(r.caChanged).toBe(true);
    const secret = secretOf(namespace);
    expect(secret?.type).toBe('Opaque');
    expect(secret?.immutable).toBeUndefined();
    expect(secret?.metadata?.labels).toEqual({ 'app.kubernetes.io/managed-by': 'flyte-secrets' });
    const data = decodeSecretData(secret);
    expect(Object.keys(data).sort()).toEqual(['ca.crt', 'ca.key', 'tls.crt', 'tls.key']);
    expect(certificatesMatch(data['ca.crt']!, data['tls.crt']!)).toBe(true);
    expect(new X509Certificate(data['tls.crt']!).subject).toContain(`CN=flyte-pod-webhook.${namespace}.svc`);
    expect(r.certificates).toEqual({ caCert: data['ca.crt'], tlsCert: data['tls.crt'], tlsKey: data['tls.key'] });
    // validity: flyteSecrets.certs.validity (8760h)
    expect(Math.round((r.expiresAt.getTime() - Date.now()) / DAY)).toBe(365);
    // local files
    expect(r.local?.written.sort()).toEqual(['ca.crt', 'tls.crt', 'tls.key']);
    expect(readFileSync(join(certDir, 'tls.crt'), 'utf8')).toBe(data['tls.crt']);
    expect(statSync(join(certDir, 'tls.key')).mode & 0o777).toBe(0o600);
    expect(existsSync(join(certDir, 'ca.key'))).toBe(false);
  });

  it('keeps good certificates on a second run, without writing anything', async () => {
    const { config, namespace } = setup();
    const first = await initCertificates(config, { core, namespace });
    kube.requests.length = 0;
    const second = await initCertificates(config, { core, namespace });
    expect(second.action).toBe('kept');
    expect(second.certificates).toEqual(first.certificates);
    expect(second.local).toBeUndefined();
    expect(writes()).toEqual([]);
  });

  it('renews a serving certificate near expiry under the same CA, then a CA near expiry with a new CA', async () => {
    const { config, namespace } = setup();
    const created = await initCertificates(config, { core, namespace });
    const rv = secretOf(namespace)?.metadata?.resourceVersion;

    const later = new Date(Date.now() + YEAR - 10 * DAY); // inside renewBefore (720h)
    const renewed = await initCertificates(config, { core, namespace, now: later });
    expect(renewed.action).toBe('renewed');
    expect(renewed.reason).toMatch(/^tls\.crt expires at /);
    expect(renewed.caChanged).toBe(false);
    expect(renewed.certificates.caCert).toBe(created.certificates.caCert);
    expect(renewed.certificates.tlsCert).not.toBe(created.certificates.tlsCert);
    expect(certificatesMatch(created.certificates.caCert, renewed.certificates.tlsCert)).toBe(true);
    const put = kube.requests.find((r) => r.method === 'PUT');
    expect((put?.body as KubeObject).metadata?.resourceVersion).toBe(rv);
    expect(decodeSecretData(secretOf(namespace))['tls.crt']).toBe(renewed.certificates.tlsCert);

    const muchLater = new Date(Date.now() + 9.7 * YEAR); // the CA cannot sign another year
    const rotated = await initCertificates(config, { core, namespace, now: muchLater });
    expect(rotated.action).toBe('renewed');
    expect(rotated.caChanged).toBe(true);
    expect(rotated.certificates.caCert).not.toBe(created.certificates.caCert);
  });

  it('renews certificates that do not match their CA or do not cover the service', async () => {
    const { config, namespace } = setup();
    const a = await generateCertificates({ serviceName: 'flyte-pod-webhook', namespace, validityMs: YEAR });
    const b = await generateCertificates({ serviceName: 'flyte-pod-webhook', namespace, validityMs: YEAR });
    kube.store.put({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'flyte-pod-webhook', namespace, labels: { keep: 'me' } }, data: { ...certificateSecretData(a), 'ca.crt': certificateSecretData(b)['ca.crt']!, other: 'eA==' } });
    const r = await initCertificates(config, { core, namespace });
    expect(r.action).toBe('renewed');
    expect(r.reason).toBe('tls.crt is not signed by ca.crt');
    const secret = secretOf(namespace);
    expect(secret?.metadata?.labels).toEqual({ keep: 'me' }); // other fields kept
    expect(decodeSecretData(secret).other).toBe('x');
    expect(certificatesMatch(decodeSecretData(secret)['ca.crt']!, decodeSecretData(secret)['tls.crt']!)).toBe(true);

    const renamed = parseConfig({ webhook: { serviceName: 'renamed-webhook', secretName: 'flyte-pod-webhook' } });
    const again = await initCertificates(renamed, { core, namespace });
    expect(again.action).toBe('renewed');
    expect(again.reason).toBe('tls.crt does not cover renamed-webhook');
  });

  it('replaces an immutable Secret left by Flyte v2 (delete with preconditions, then create)', async () => {
    const { config, namespace } = setup();
    const old = await generateCertificates({ serviceName: 'flyte-pod-webhook', namespace, validityMs: 10 * DAY });
    const seeded = kube.store.put({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'flyte-pod-webhook', namespace },
      immutable: true,
      data: { 'ca.crt': certificateSecretData(old)['ca.crt']!, 'tls.crt': certificateSecretData(old)['tls.crt']!, 'tls.key': certificateSecretData(old)['tls.key']! },
    });
    const r = await initCertificates(config, { core, namespace });
    expect(r.action).toBe('renewed');
    expect(r.caChanged).toBe(true); // no ca.key: a new CA
    const del = kube.requests.find((q) => q.method === 'DELETE');
    expect(del?.body).toMatchObject({ preconditions: { resourceVersion: seeded.metadata?.resourceVersion, uid: seeded.metadata?.uid } });
    const secret = secretOf(namespace);
    expect(secret?.immutable).toBeUndefined();
    expect(decodeSecretData(secret)['tls.crt']).toBe(r.certificates.tlsCert);
  });

  it('concurrent first runs end with ONE Secret, and every caller uses the winner’s certificates', async () => {
    const { config, namespace } = setup();
    barrier(isSecretGet, 4);
    const results = await Promise.all([0, 1, 2, 3].map(() => initCertificates(config, { core, namespace })));
    const posts = kube.requests.filter((r) => r.method === 'POST');
    expect(posts.map((p) => p.status).sort()).toEqual([201, 409, 409, 409]);
    expect(results.map((r) => r.action).sort()).toEqual(['created', 'kept', 'kept', 'kept']);
    expect(results.filter((r) => r.action === 'kept').every((r) => r.reason === 'another writer created it first')).toBe(true);
    expect(kube.store.list('secrets', namespace)).toHaveLength(1);
    const data = decodeSecretData(secretOf(namespace));
    expect(certificatesMatch(data['ca.crt']!, data['tls.crt']!)).toBe(true);
    for (const r of results) expect(r.certificates).toEqual({ caCert: data['ca.crt'], tlsCert: data['tls.crt'], tlsKey: data['tls.key'] });
  });

  it('concurrent renewals: one update wins, the others get 409 Conflict and use its result', async () => {
    const { config, namespace } = setup();
    await initCertificates(config, { core, namespace });
    const later = new Date(Date.now() + YEAR - 5 * DAY);
    kube.requests.length = 0;
    barrier(isSecretGet, 3);
    const results = await Promise.all([0, 1, 2].map(() => initCertificates(config, { core, namespace, now: later })));
    expect(kube.requests.filter((r) => r.method === 'PUT').map((p) => p.status).sort()).toEqual([200, 409, 409]);
    expect(results.map((r) => r.action).sort()).toEqual(['kept', 'kept', 'renewed']);
    const data = decodeSecretData(secretOf(namespace));
    for (const r of results) expect(r.certificates.tlsCert).toBe(data['tls.crt']);
  });

  it('reports API failures clearly (RBAC)', async () => {
    const { config, namespace } = setup();
    kube.onRequest = (r) => (r.method === 'POST' ? kubeStatus(403, 'Forbidden', `secrets is forbidden: User "system:serviceaccount:${namespace}:webhook" cannot create resource "secrets"`) : undefined);
    await expect(initCertificates(config, { core, namespace })).rejects.toMatchObject({
      code: 'KubernetesApi',
      message: expect.stringMatching(new RegExp(`^failed to create Secret ${namespace}/flyte-pod-webhook: 403 Forbidden: .*\\(check the RBAC rules`)) as string,
    });
  });

  it('gives up after bounded attempts when another writer keeps writing certificates it rejects', async () => {
    const { config, namespace } = setup();
    const foreign = await generateCertificates({ serviceName: 'other-service', namespace, validityMs: YEAR });
    kube.onRequest = (r) => {
      // before each update lands, someone else writes again
      if (r.method === 'PUT') kube.store.put({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'flyte-pod-webhook', namespace }, data: certificateSecretData(foreign) });
      return undefined;
    };
    kube.store.put({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'flyte-pod-webhook', namespace }, data: certificateSecretData(foreign) });
    await expect(initCertificates(config, { core, namespace })).rejects.toThrow(/gave up on Secret .* after 5 attempts/);
    expect(kube.requests.filter((r) => r.method === 'PUT')).toHaveLength(5);
  });
});

describe('register (library)', () => {
  async function withCerts(webhook: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Promise<{ config: Config; namespace: string; certs: InitCertificatesResult }> {
    const s = setup(webhook, extra);
    const certs = await initCertificates(s.config, { core, namespace: s.namespace });
    kube.requests.length = 0;
    return { ...s, certs };
  }
  const mwcName = (config: Config): string => config.webhook.serviceName;

  it('creates the configuration with the CA from the Secret when certDir has none', async () => {
    const { config, namespace, certs } = await withCerts({ serviceName: 'hook-create' });
    const r = await registerWebhook(config, { core, admission, namespace, env: {} });
    expect(r).toMatchObject({ action: 'created', name: 'hook-create', attempts: 1, caSource: `Secret ${namespace}/flyte-pod-webhook` });
    const stored = kube.store.get('mutatingwebhookconfigurations', '', mwcName(config));
    expect(stored?.metadata?.namespace).toBeUndefined();
    const hook = (stored?.webhooks as { clientConfig: { caBundle: string; service: unknown } }[])[0];
    expect(Buffer.from(hook!.clientConfig.caBundle, 'base64').toString()).toBe(certs.certificates.caCert);
    expect(hook!.clientConfig.service).toEqual({ name: 'hook-create', namespace, path: '/mutate--v1-pod', port: 443 });
    const { metadata: _m, ...rest } = stored!;
    expect(() => new MwcModel({ ...rest, metadata: { name: 'hook-create' } }).validate()).not.toThrow();
  });

  it('updates an existing configuration: webhooks replaced, other fields kept, resourceVersion sent', async () => {
    const { config, namespace } = await withCerts({ serviceName: 'hook-update', webhookTimeout: 7 });
    const existing = kube.store.put({
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: 'hook-update', labels: { team: 'platform' }, annotations: { note: 'keep' } },
      webhooks: [{ name: 'stale.flyte.org', admissionReviewVersions: ['v1'], sideEffects: 'None', clientConfig: { caBundle: 'c3RhbGU=' } }],
    });
    const r = await registerWebhook(config, { core, admission, namespace, env: {} });
    expect(r).toMatchObject({ action: 'updated', attempts: 1 });
    const stored = kube.store.get('mutatingwebhookconfigurations', '', 'hook-update');
    expect(stored?.metadata?.labels).toEqual({ team: 'platform' });
    expect(stored?.metadata?.annotations).toEqual({ note: 'keep' });
    expect(stored?.metadata?.uid).toBe(existing.metadata?.uid);
    const hooks = stored?.webhooks as { name: string; timeoutSeconds: number }[];
    expect(hooks.map((h) => h.name)).toEqual(['flyte-pod-webhook.flyte.org']);
    expect(hooks[0]?.timeoutSeconds).toBe(7);
    const put = kube.requests.find((q) => q.method === 'PUT');
    expect((put?.body as KubeObject).metadata?.resourceVersion).toBe(existing.metadata?.resourceVersion);
    expect(kube.requests.map((q) => `${q.method} ${q.status ?? ''}`)).toEqual(['GET 200', 'POST 409', 'GET 200', 'PUT 200']);
  });

  it('retries on 409 Conflict when someone writes between its read and its update', async () => {
    const { config, namespace } = await withCerts({ serviceName: 'hook-conflict' });
    kube.store.put({ apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', metadata: { name: 'hook-conflict' }, webhooks: [] });
    let interfered = false;
    kube.onRequest = (q) => {
      if (q.method === 'PUT' && !interfered) {
        interfered = true;
        const cur = kube.store.get('mutatingwebhookconfigurations', '', 'hook-conflict')!;
        kube.store.put({ ...cur, metadata: { ...cur.metadata, labels: { touched: 'yes' } } });
      }
      return undefined;
    };
    const r = await registerWebhook(config, { core, admission, namespace, env: {} });
    expect(r).toMatchObject({ action: 'updated', attempts: 2 });
    expect(kube.requests.filter((q) => q.path.includes('mutatingwebhookconfigurations')).map((q) => `${q.method} ${q.status ?? ''}`)).toEqual([
      'POST 409',
      'GET 200',
      'PUT 409',
      'GET 200',
      'PUT 200',
    ]);
    expect(kube.store.get('mutatingwebhookconfigurations', '', 'hook-conflict')?.metadata?.labels).toEqual({ touched: 'yes' });
  });

  it('gives up after a bounded number of conflicts', async () => {
    const { config, namespace } = await withCerts({ serviceName: 'hook-busy' });
    kube.store.put({ apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', metadata: { name: 'hook-busy' }, webhooks: [] });
    kube.onRequest = (q) => (q.method === 'PUT' ? kubeStatus(409, 'Conflict', 'Operation cannot be fulfilled on mutatingwebhookconfigurations.admissionregistration.k8s.io "hook-busy": the object has been modified') : undefined);
    await expect(registerWebhook(config, { core, admission, namespace, env: {} })).rejects.toThrow(/gave up updating MutatingWebhookConfiguration hook-busy after 5 attempts/);
    expect(kube.requests.filter((q) => q.method === 'PUT')).toHaveLength(5);
  });

  it('copies the webhook pod’s ownerReferences when POD_NAME and POD_NAMESPACE are set; a missing pod aborts', async () => {
    const { config, namespace } = await withCerts({ serviceName: 'hook-owned' });
    const owner = { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'webhook-7d9f', uid: '1b2c', controller: true, blockOwnerDeletion: true };
    kube.store.put({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'webhook-7d9f-x', namespace, ownerReferences: [owner] } });
    const r = await registerWebhook(config, { core, admission, namespace, env: { POD_NAME: 'webhook-7d9f-x', POD_NAMESPACE: namespace } });
    expect(r).toMatchObject({ action: 'created', ownerReferences: 1 });
    expect(kube.store.get('mutatingwebhookconfigurations', '', 'hook-owned')?.metadata?.ownerReferences).toEqual([owner]);

    await expect(registerWebhook(config, { core, admission, namespace, env: { POD_NAME: 'gone', POD_NAMESPACE: namespace } })).rejects.toThrow(
      `failed to read the webhook pod ${namespace}/gone (for ownerReferences): 404 NotFound: pods "gone" not found`,
    );
  });

  it('honours disableCreateMutatingWebhookConfig without calling the API', async () => {
    const { config, namespace } = setup({ disableCreateMutatingWebhookConfig: true });
    expect(await registerWebhook(config, { core, admission, namespace, env: {} })).toEqual({ action: 'disabled' });
    expect(kube.requests).toEqual([]);
  });

  it('refuses to register without any CA bundle', async () => {
    const { config, namespace } = setup({ serviceName: 'hook-noca' });
    await expect(registerWebhook(config, { core, admission, namespace, env: {} })).rejects.toThrow(/no CA bundle: .* and Secret .* does not exist \(run `flyte-secrets certs init` first, or pass --ca-file\)/);
  });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '', HOME: join(tmp, 'home'), ...env },
    });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('CLI (real binary)', () => {
  beforeAll(() => {
    if (!existsSync(join(ROOT, 'dist', 'cli', 'commands', 'certs.js'))) throw new Error('dist/ is not built: run `npx tsc -p tsconfig.build.json` first');
    mkdirSync(join(tmp, 'home'), { recursive: true });
  });

  function writeConfig(webhook: Record<string, unknown>): string {
    counter++;
    const file = join(tmp, `config-${counter}.yaml`);
    writeFileSync(file, JSON.stringify({ webhook }));
    return file;
  }

  it('two concurrent `certs init` / `init-certs` processes end with one Secret and the same CA', async () => {
    const certDirA = join(tmp, 'cli-a');
    const certDirB = join(tmp, 'cli-b');
    const cfgA = writeConfig({ localCert: true, certDir: certDirA });
    const cfgB = writeConfig({ localCert: true, certDir: certDirB });
    barrier(isSecretGet, 2, 15_000); // process start-up time varies; both GETs are answered together
    const [a, b] = await Promise.all([
      run(['certs', 'init', '--config', cfgA, '--kubeconfig', kube.kubeconfigPath], { POD_NAMESPACE: 'cli' }),
      run(['init-certs', '-c', cfgB, '--kubeconfig', kube.kubeconfigPath, '-n', 'cli']),
    ]);
    expect(a).toMatchObject({ code: 0, stderr: '' });
    expect(b).toMatchObject({ code: 0, stderr: '' });
    const lines = [a.stdout, b.stdout].sort();
    expect(lines[0]).toMatch(/^created certificates in Secret cli\/flyte-pod-webhook: serving certificate expires \d{4}-\d\d-\d\dT[^;]*; wrote ca\.crt, tls\.key, tls\.crt to .*cli-[ab]\n$/);
    expect(lines[1]).toMatch(/^kept certificates in Secret cli\/flyte-pod-webhook \(another writer created it first\): serving certificate expires .*cli-[ab]\n$/);
    expect(kube.requests.filter((r) => r.method === 'POST').map((r) => r.status).sort()).toEqual([201, 409]); // they really raced
    expect(kube.store.list('secrets', 'cli')).toHaveLength(1);
    const data = decodeSecretData(secretOf('cli'));
    expect(certificatesMatch(data['ca.crt']!, data['tls.crt']!)).toBe(true);
    for (const dir of [certDirA, certDirB]) {
      expect(readFileSync(join(dir, 'ca.crt'), 'utf8')).toBe(data['ca.crt']);
      expect(readFileSync(join(dir, 'tls.crt'), 'utf8')).toBe(data['tls.crt']);
      expect(readFileSync(join(dir, 'tls.key'), 'utf8')).toBe(data['tls.key']);
    }
  });

  it('`register` creates the configuration; `--print` shows it as YAML without a cluster; disabled exits 0', async () => {
    const certs: CertificateBundle = await generateCertificates({ serviceName: 'cli-hook', namespace: 'cli2', validityMs: YEAR });
    const caFile = join(tmp, 'cli-ca.crt');
    writeFileSync(caFile, certs.caCert);
    const cfg = writeConfig({ serviceName: 'cli-hook', certDir: join(tmp, 'nowhere') });
    const [created, printed, disabled] = await Promise.all([
      run(['register', '-c', cfg, '--kubeconfig', kube.kubeconfigPath, '--ca-file', caFile], { POD_NAMESPACE: 'cli2' }),
      run(['register', '-c', cfg, '--ca-file', caFile, '--print', '-n', 'cli2']),
      run(['register', '-c', writeConfig({ disableCreateMutatingWebhookConfig: true })]),
    ]);
    expect(created).toMatchObject({ code: 0, stderr: '' });
    expect(created.stdout).toBe(
      `created MutatingWebhookConfiguration cli-hook: flyte-pod-webhook.flyte.org → service cli2/cli-hook:443/mutate--v1-pod, failurePolicy Fail, timeout 30s, caBundle from ${caFile}\n`,
    );
    const stored = kube.store.get('mutatingwebhookconfigurations', '', 'cli-hook');
    expect((stored?.webhooks as { clientConfig: { caBundle: string } }[])[0]?.clientConfig.caBundle).toBe(Buffer.from(certs.caCert).toString('base64'));

    expect(printed).toMatchObject({ code: 0, stderr: '' });
    expect(printed.stdout).toContain('kind: MutatingWebhookConfiguration');
    expect(printed.stdout).toContain('path: /mutate--v1-pod');
    expect(printed.stdout).toContain('namespace: cli2');
    expect(printed.stdout).toContain(`caBundle: ${Buffer.from(certs.caCert).toString('base64')}`);

    expect(disabled).toMatchObject({ code: 0, stderr: '' });
    expect(disabled.stdout).toBe('MutatingWebhookConfiguration creation is disabled (webhook.disableCreateMutatingWebhookConfig: true); nothing to do\n');
  });

  it('fails cleanly (exit 1, one line, no stack) without a cluster', async () => {
    const noCluster = await run(['certs', 'init']);
    expect(noCluster.code).toBe(1);
    expect(noCluster.stdout).toBe('');
    expect(noCluster.stderr).toBe('error: no Kubernetes API configuration found: pass --kubeconfig FILE, set KUBECONFIG, or run in a pod with a service account\n');
  });

  it('rejects a bad --validity as a usage error (exit 2)', async () => {
    const program = new Command('flyte-secrets').exitOverride();
    registerCertsCommand(program);
    const err = await program
      .parseAsync(['node', 'flyte-secrets', 'certs', 'generate', '--out', join(tmp, 'never'), '--validity', 'forever'])
      .then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(CliError);
    expect(err).toMatchObject({ exitCode: 2, message: '--validity "forever" is not a positive duration: write it like "8760h" or "720h"' });
    expect(existsSync(join(tmp, 'never'))).toBe(false);
  });

  it('`certs generate` writes a matching set locally', async () => {
    const out = join(tmp, 'gen-ok');
    const r = await run(['certs', 'generate', '--out', out, '--service-name', 'dev-hook', '--namespace', 'dev', '--validity', '48h']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^wrote ca\.crt, tls\.crt, tls\.key for dev-hook\.dev\.svc to .*gen-ok: serving certificate expires /);
    const tls = readFileSync(join(out, 'tls.crt'), 'utf8');
    expect(certificatesMatch(readFileSync(join(out, 'ca.crt'), 'utf8'), tls)).toBe(true);
    expect(new X509Certificate(tls).subjectAltName).toContain('DNS:dev-hook.dev.svc');
    expect(Math.round((new Date(new X509Certificate(tls).validTo).getTime() - Date.now()) / 3600_000)).toBe(48);
  });

  it('`certs generate --dns/--ip` adds names, so `dev send --ca` reaches a webhook run outside the cluster by those names', async () => {
    const out = join(tmp, 'gen-local');
    const r = await run(['certs', 'generate', '--out', out, '--dns', 'localhost', '--dns', 'hook.example.test', '--ip', '127.0.0.1', '--ip', '::1']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('for flyte-pod-webhook.flyte.svc and localhost, hook.example.test, 127.0.0.1, ::1 to ');
    const tls = readFileSync(join(out, 'tls.crt'), 'utf8');
    expect(new X509Certificate(tls).subjectAltName).toBe(
      'DNS:flyte-pod-webhook, DNS:flyte-pod-webhook.flyte, DNS:flyte-pod-webhook.flyte.svc, DNS:flyte-pod-webhook.flyte.svc.cluster.local, DNS:localhost, DNS:hook.example.test, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1',
    );
    // A server with that certificate, answering every review with "allowed", reached by IP with the generated CA.
    const server = createHttpsServer({ cert: tls, key: readFileSync(join(out, 'tls.key'), 'utf8') }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { request: { uid: string } };
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: review.request.uid, allowed: true } }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      const sent = await run(['dev', 'send', join(ROOT, 'examples', 'pod.yaml'), '--url', `https://127.0.0.1:${port}`, '--ca', join(out, 'ca.crt')]);
      expect(sent.stderr).toBe('');
      expect(sent.code).toBe(0);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    const bad = await run(['certs', 'generate', '--out', join(tmp, 'gen-bad'), '--ip', '127.0.0.300']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe('error: cannot make certificates: "127.0.0.300" is not an IP address\n');
  });
});
