/**
 * Embedded secrets with no value in the pod spec, end to end. The webhook (real HTTPS server, Embedded manager with
 * the Key Vault emulator behind the official SDK, `flyteSecrets.embedded.delivery: agent`, env files on) admits a
 * task pod; the API server stand-in stores the patched pod, and the kubelet's part is played as written in the pod:
 * it asks the API server for the projected service-account token of the pod's token volume (TokenRequest: audience,
 * expirationSeconds, bound to the pod), then runs the `flyte-secrets-agent` init container with this checkout's CLI,
 * the container's args and literal env, and its volume mounts as bind mounts (`unshare -m`), with an /etc/hosts in
 * which the webhook Service's name `flyte-pod-webhook.flyte.svc` points at the webhook (what cluster DNS and
 * kube-proxy do). The agent calls the broker; the broker reviews the token and reads the pod from the stand-in.
 *
 * Checked: the files and the env file hold exactly the stored bytes; the admission response, the patched pod and
 * every log line hold no value (redaction canary); a pod that is gone, or has started, gets nothing and the agent
 * leaves the volumes empty.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import type { Container, Pod } from 'kubernetes-types/core/v1.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEnvFile } from '../src/agent/envfile.js';
import { BROKER_TOKEN_VOLUME } from '../src/broker/protocol.js';
import { parseConfig } from '../src/config/load.js';
import { startEmulator, type Emulator } from '../src/emulator/index.js';
import { createEmbeddedSecretManager } from '../src/assemble/index.js';
import { AGENT_CONTAINER_NAME } from '../src/inject/agent.js';
import { annotatePod } from '../src/secret/annotations.js';
import { MountRequirement, makeSecret } from '../src/secret/model.js';
import { createBroker } from '../src/webhook/broker.js';
import { createKubeBrokerApi } from '../src/webhook/broker-kube.js';
import { startApiServerHarness, type Admission, type ApiServerHarness } from './support/api-server-harness.js';
import { CLI_BIN } from './support/cli.js';
import { startFakeKubeApiServer, type FakeKubeApiServer } from './support/fake-kube-apiserver.js';
import { canary } from './hostile/support.js';

const NS = 'flytesnacks-development';
const SERVICE_HOST = 'flyte-pod-webhook.flyte.svc';
const CANARY = canary('broker');
const BINARY = Buffer.from([0x30, 0x82, 0x00, 0xff, 0xfe, 0x00, 0x0a, 0x80]);
const VALUES = {
  token: `project-token-${CANARY}`,
  db: 'p@ss "w0rd" $HOME grüße ✓\ttab',
  config: 'line one\nline two ✓ "double" `x` \\n',
};
const LABELS = { organization: 'flyte', project: 'flytesnacks', domain: 'development' };

let emu: Emulator;
let kube: FakeKubeApiServer;
let harness: ApiServerHarness;
let work = '';

interface AgentRun {
  code: number | null;
  stderr: string;
  /** Per volume name: file name → bytes. */
  volumes: Record<string, Record<string, Buffer>>;
}

function agentOf(pod: Pod): Container {
  const c = pod.spec?.initContainers?.[0];
  expect(c?.name).toBe(AGENT_CONTAINER_NAME);
  return c!;
}

function taskPod(name: string): Pod {
  return annotatePod(
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: NS, labels: LABELS },
      spec: { serviceAccountName: 'default', containers: [{ name: 'task', image: 'python:3.12' }] },
    },
    [
      makeSecret({ key: 'token', mountRequirement: MountRequirement.FILE, envVar: 'TOKEN_FILE' }),
      makeSecret({ key: 'db-password', mountRequirement: MountRequirement.ENV_VAR, envVar: 'DB_PASSWORD' }),
      makeSecret({ key: 'cert', mountRequirement: MountRequirement.FILE }),
      makeSecret({ key: 'config', mountRequirement: MountRequirement.ANY }),
    ],
  );
}

/** Admit, then store the patched pod as the API server would (uid, Pending). */
async function createPod(name: string): Promise<{ admission: Admission; stored: Pod }> {
  const admission = await harness.admit(taskPod(name), { namespace: NS });
  expect(admission.response.allowed).toBe(true);
  const stored = kube.store.put({ ...(admission.pod as object), status: { phase: 'Pending' } }) as Pod;
  return { admission, stored };
}

/** The kubelet: the projected token of the pod's token volume, from TokenRequest. */
async function projectedToken(pod: Pod): Promise<string> {
  const volume = pod.spec?.volumes?.find((v) => v.name === BROKER_TOKEN_VOLUME);
  const source = volume?.projected?.sources?.[0]?.serviceAccountToken;
  expect(source).toBeDefined();
  const kc = new KubeConfig();
  kc.loadFromFile(kube.kubeconfigPath);
  const tr = await kc.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({
    name: pod.spec?.serviceAccountName ?? 'default',
    namespace: NS,
    body: { spec: { audiences: [source!.audience!], expirationSeconds: source!.expirationSeconds!, boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: pod.metadata!.name!, uid: pod.metadata!.uid! } } },
  });
  return tr.status?.token ?? '';
}

/** Run the agent init container as the kubelet would: image entrypoint + args, literal env, bind-mounted volumes. */
async function runAgent(pod: Pod, token: string): Promise<AgentRun> {
  const agent = agentOf(pod);
  const dir = mkdtempSync(join(work, 'run-'));
  const hosts = join(dir, 'hosts');
  writeFileSync(hosts, `127.0.0.1 localhost ${SERVICE_HOST}\n`);
  const vols: Record<string, string> = {};
  const mounts: string[] = ['/etc/hosts', hosts];
  for (const m of agent.volumeMounts ?? []) {
    const v = (vols[m.name] ??= join(dir, `vol-${m.name}`));
    mkdirSync(v, { recursive: true });
    if (m.name === BROKER_TOKEN_VOLUME) writeFileSync(join(v, 'token'), token);
    mounts.push(m.mountPath, v);
  }
  const script = 'while [ "$1" != "--" ]; do mkdir -p "$1" 2>/dev/null || true; mount --bind "$2" "$1"; shift 2; done; shift; exec "$@"';
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  for (const e of agent.env ?? []) {
    expect(e.valueFrom, `env ${e.name} must be a literal`).toBeUndefined();
    env[e.name] = e.value ?? '';
  }
  const child = spawn('unshare', ['-m', 'sh', '-c', script, 'sh', ...mounts, '--', process.execPath, CLI_BIN, ...(agent.args ?? [])], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => {
    stderr += b.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const volumes: AgentRun['volumes'] = {};
  for (const [name, v] of Object.entries(vols)) {
    if (name === BROKER_TOKEN_VOLUME) continue;
    volumes[name] = Object.fromEntries(readdirSync(v).map((f) => [f, readFileSync(join(v, f))]));
  }
  return { code, stderr, volumes };
}

beforeAll(async () => {
  const probe = spawnSync('unshare', ['-m', 'sh', '-c', 'mount --make-rprivate / && exit 0'], { encoding: 'utf8', timeout: 10_000 });
  if (probe.status !== 0) throw new Error(`test/broker-agent-e2e.test.ts needs root and "unshare -m" (util-linux): ${probe.error?.message ?? probe.stderr.trim()}`);
  work = mkdtempSync(join(tmpdir(), 'broker-agent-e2e-'));
  emu = await startEmulator({
    clientSecret: 'broker-agent-e2e',
    seed: [
      { org: 'flyte', domain: 'development', project: 'flytesnacks', flyteName: 'token', string: VALUES.token },
      { org: 'flyte', domain: 'development', flyteName: 'db-password', string: VALUES.db },
      { org: 'flyte', flyteName: 'cert', binaryBase64: BINARY.toString('base64') },
      { org: 'flyte', flyteName: 'config', string: VALUES.config },
    ],
  });
  for (const [k, v] of Object.entries({ AZURE_AUTHORITY_HOST: emu.authorityHost, AZURE_TENANT_ID: emu.tenantId, AZURE_CLIENT_ID: emu.clientId, AZURE_CLIENT_SECRET: emu.clientSecret })) process.env[k] = v;
  kube = await startFakeKubeApiServer();
  kube.store.put({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace: NS } });
  const raw = {
    webhook: { secretManagerTypes: ['Embedded'], embeddedSecretManagerConfig: { type: 'Azure', azureConfig: { vaultURI: emu.vaultUrl } } },
    flyteSecrets: { embedded: { delivery: 'agent' }, envFiles: true, agent: { image: 'flyte-secrets:test', deadline: '20s' } },
  };
  const kc = new KubeConfig();
  kc.loadFromFile(kube.kubeconfigPath);
  const brokerKube = await createKubeBrokerApi(kc);
  // The Service: pods reach the webhook as flyte-pod-webhook.flyte.svc on the port it listens on here.
  const endpoint = {
    get url() {
      return `https://${SERVICE_HOST}:${harness.port}/broker/v1/secrets`;
    },
    caPem: () => harness.caPem,
  };
  const embedded = await createEmbeddedSecretManager(parseConfig(raw), { azure: { ca: emu.caPem }, broker: endpoint });
  harness = await startApiServerHarness({
    config: raw,
    deps: { embedded },
    broker: ({ config, logger, registry }) => createBroker({ config, kube: brokerKube, embedded, logger, registry }),
  });
}, 60_000);

afterAll(async () => {
  await harness?.close();
  await kube?.close();
  await emu?.close();
  if (work !== '') rmSync(work, { recursive: true, force: true });
});

describe('agent delivery of Embedded secrets through the broker', () => {
  it('the agent writes the stored bytes; the admission response and the pod hold no value', async () => {
    const { admission, stored } = await createPod('task-e2e');
    expect(JSON.stringify(admission.review)).not.toContain(CANARY);
    expect(JSON.stringify(admission.pod)).not.toContain(CANARY);
    expect(JSON.stringify(admission.pod)).not.toContain('w0rd');
    const agent = agentOf(stored);
    expect(agent.args?.join(' ')).toContain(`--broker https://${SERVICE_HOST}:${harness.port}/broker/v1/secrets`);

    const run = await runAgent(stored, await projectedToken(stored));
    expect(run.stderr).toMatch(/delivered 2 files and 2 env vars from 4 secrets/);
    expect(run.code).toBe(0);
    const files = run.volumes['azure-secret-vol']!;
    expect(files['token']).toEqual(Buffer.from(VALUES.token));
    expect(files['cert']).toEqual(BINARY);
    const envFile = run.volumes['flyte-secrets-env']!['secrets.env']!.toString('utf8');
    const parsed = parseEnvFile(envFile);
    expect(parsed.get('DB_PASSWORD')).toBe(VALUES.db);
    expect(parsed.get('_UNION_CONFIG')).toBe(VALUES.config);
    // The main container reads them by reference only.
    const main = stored.spec!.containers[0]!;
    expect(main.env?.find((e) => e.name === 'DB_PASSWORD')?.valueFrom).toMatchObject({ fileKeyRef: { key: 'DB_PASSWORD', path: 'secrets.env' } });
    expect(main.env?.find((e) => e.name === 'TOKEN_FILE')?.value).toBe('/etc/flyte/secrets/token');

    expect(run.stderr).not.toContain(CANARY);
    expect(JSON.stringify(harness.logs)).not.toContain(CANARY);
    expect(harness.logs.find((l) => l['event'] === 'broker' && l['pod'] === 'task-e2e')).toMatchObject({ outcome: 'served', secrets: 4 });
  });

  it('a pod whose main containers started gets nothing: the agent fails and writes nothing', async () => {
    const { stored } = await createPod('task-started');
    const token = await projectedToken(stored);
    kube.store.put({ ...(stored as object), status: { phase: 'Running', containerStatuses: [{ name: 'task', image: 'python:3.12', imageID: '', ready: true, restartCount: 0, state: { running: {} } }] } });
    const run = await runAgent(stored, token);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('PodStarted');
    expect(run.volumes['azure-secret-vol']).toEqual({});
    expect(run.volumes['flyte-secrets-env']).toEqual({});
  });

  it('a pod that is gone gets nothing: its token no longer passes the TokenReview', async () => {
    const { stored } = await createPod('task-gone');
    const token = await projectedToken(stored);
    kube.store.delete('pods', NS, 'task-gone');
    const run = await runAgent(stored, token);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('TokenRejected');
    expect(run.volumes['azure-secret-vol']).toEqual({});
    expect(run.stderr).not.toContain(CANARY);
  });
});
