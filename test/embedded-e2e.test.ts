// End to end: Flyte-native secrets stored in the Key Vault emulator with the real CLI (`node bin/flyte-secrets.js
// secret create …`, built with `npx tsc -p tsconfig.build.json`), read by the webhook (Embedded manager, Azure
// backend) behind the HTTPS admission server, as the API server would call it. FILE secrets are written by running
// the init container's own command with busybox sh in a private mount namespace, and compared byte for byte.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Container, Pod } from 'kubernetes-types/core/v1.js';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyVaultNameForId } from '../src/azure/secret-name.js';
import { parseConfig } from '../src/config/load.js';
import { startEmulator, type Emulator } from '../src/emulator/index.js';
import { createEmbeddedSecretManager } from '../src/assemble/index.js';
import { FETCH_METRIC_NAMES } from '../src/fetch/index.js';
import type { EmbeddedInjector } from '../src/inject/embedded.js';
import { INJECT_LABEL, INJECT_LABEL_VALUE, secretsToAnnotations } from '../src/secret/annotations.js';
import { MountRequirement, makeSecret, type Secret } from '../src/secret/model.js';
import { startApiServerHarness, type ApiServerHarness } from './support/api-server-harness.js';
import { runBinary } from './support/cli.js';

const root = fileURLToPath(new URL('..', import.meta.url));

let emu: Emulator;
let harness: ApiServerHarness;
let embedded: EmbeddedInjector;
let registry: Registry;
let childEnv: NodeJS.ProcessEnv;
let scratch: string;

interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Run the real CLI in a child process with the emulator's Azure environment. */
function cli(args: string[], input?: Buffer | string): Promise<Run> {
  return runBinary(args, { input, env: childEnv, timeoutMs: 20_000 });
}

async function create(scope: { domain?: string; project?: string }, name: string, value: { text?: string; file?: string }): Promise<void> {
  const args = ['secret', 'create', '--vault', emu.vaultUrl];
  if (scope.domain !== undefined) args.push('--domain', scope.domain);
  if (scope.project !== undefined) args.push('--project', scope.project);
  args.push(name);
  if (value.text !== undefined) args.push('--value', value.text);
  if (value.file !== undefined) args.push('--from-file', value.file);
  const r = await cli(args);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(r.stdout.toString()).toMatch(/^created u__org__flyte__/);
}

const LABELS = { organization: 'flyte', project: 'flytesnacks', domain: 'development' };

function taskPod(secrets: Secret[], labels: Record<string, string> = LABELS): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'task-a1', labels: { ...labels, [INJECT_LABEL]: INJECT_LABEL_VALUE }, annotations: secretsToAnnotations(secrets) },
    spec: { containers: [{ name: 'main', image: 'python:3.12' }], initContainers: [{ name: 'user-init', image: 'busybox' }] },
  };
}

function env(c: Container | undefined, name: string): string | undefined {
  return c?.env?.find((e) => e.name === name)?.value;
}

/**
 * Run the FILE init container's command as the kubelet would: its command and env, busybox as `sh` and `base64`,
 * `/etc/flyte/secrets` a private bind mount of a scratch directory (`unshare --mount` as root). Returns the written files.
 */
function runInitContainer(init: Container): Map<string, Buffer> {
  const dir = mkdtempSync(join(scratch, 'init-'));
  const mountDir = join(dir, 'secrets');
  const binDir = join(dir, 'bin');
  mkdirSync(mountDir);
  mkdirSync(binDir);
  const busybox = spawnSync('sh', ['-c', 'command -v busybox'], { encoding: 'utf8' }).stdout.trim();
  expect(busybox).not.toBe('');
  for (const applet of ['sh', 'base64']) symlinkSync(busybox, join(binDir, applet));
  const containerEnv: Record<string, string> = { PATH: `${binDir}:/usr/sbin:/usr/bin:/sbin:/bin` };
  for (const e of init.env ?? []) containerEnv[e.name] = e.value ?? '';
  const wrap = 'mkdir -p /etc/flyte/secrets && mount --bind "$0" /etc/flyte/secrets && exec "$@"';
  const r = spawnSync('unshare', ['-m', '/bin/sh', '-c', wrap, mountDir, ...(init.command ?? []), ...(init.args ?? [])], { env: containerEnv, encoding: 'utf8', timeout: 15_000 });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  const files = new Map<string, Buffer>();
  for (const f of readdirSync(mountDir)) files.set(f, readFileSync(join(mountDir, f)));
  return files;
}

async function metric(name: string, labels: Record<string, string>): Promise<number> {
  const m = registry.getSingleMetric(name);
  if (m === undefined) return 0;
  const data = await m.get();
  return data.values.filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((a, v) => a + v.value, 0);
}

beforeAll(async () => {
  expect(existsSync(join(root, 'dist', 'cli', 'main.js'))).toBe(true);
  scratch = mkdtempSync(join(tmpdir(), 'embedded-e2e-'));
  emu = await startEmulator({ clientSecret: 'e2e-secret' });
  childEnv = {
    PATH: process.env.PATH,
    HOME: scratch,
    NODE_EXTRA_CA_CERTS: emu.caFile,
    AZURE_AUTHORITY_HOST: emu.authorityHost,
    AZURE_TENANT_ID: emu.tenantId,
    AZURE_CLIENT_ID: emu.clientId,
    AZURE_CLIENT_SECRET: emu.clientSecret,
  };
  // The webhook reads the same standard environment (DefaultAzureCredential), trusting the emulator's CA.
  for (const k of ['AZURE_AUTHORITY_HOST', 'AZURE_TENANT_ID', 'AZURE_CLIENT_ID', 'AZURE_CLIENT_SECRET'] as const) process.env[k] = childEnv[k];
  const raw = {
    webhook: {
      secretManagerTypes: ['Embedded'],
      embeddedSecretManagerConfig: { type: 'Azure', azureConfig: { vaultURI: emu.vaultUrl } },
    },
  };
  registry = new Registry();
  embedded = await createEmbeddedSecretManager(parseConfig(raw), { registry, azure: { ca: emu.caPem } });
  harness = await startApiServerHarness({ config: raw, deps: { embedded }, invalidation: true });

  const binFile = join(scratch, 'cert.der');
  writeFileSync(binFile, Buffer.from([0x30, 0x82, 0x00, 0xff, 0xfe, 0x00, 0x0a, 0x80]));
  const textFile = join(scratch, 'api-token.txt');
  writeFileSync(textFile, 'héllo wörld\nsecond line\n');
  // The same name at three scopes, and names defined at one scope only.
  await create({}, 'token', { text: 'org-token' });
  await create({ domain: 'development' }, 'token', { text: 'domain-token' });
  await create({ domain: 'development', project: 'flytesnacks' }, 'token', { text: 'project-token' });
  await create({ domain: 'development' }, 'db-password', { text: 'p@ss w0rd "quoted" $HOME' });
  await create({}, 'shared', { text: 'org-wide' });
  await create({ domain: 'development', project: 'flytesnacks' }, 'tls-cert', { file: binFile });
  await create({}, 'API_Token', { file: textFile });
}, 120_000);

afterAll(async () => {
  await harness?.close();
  await emu?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe('CLI ↔ Key Vault', () => {
  it('list prints the decoded Flyte ids; get shows metadata, and the value only with --reveal', async () => {
    const list = await cli(['secret', 'list', '--vault', emu.vaultUrl]);
    expect(list.code).toBe(0);
    expect(list.stdout.toString().trim().split('\n')).toEqual([
      'u__org__flyte__domain____project____key__API_Token',
      'u__org__flyte__domain____project____key__shared',
      'u__org__flyte__domain____project____key__token',
      'u__org__flyte__domain__development__project____key__db-password',
      'u__org__flyte__domain__development__project____key__token',
      'u__org__flyte__domain__development__project__flytesnacks__key__tls-cert',
      'u__org__flyte__domain__development__project__flytesnacks__key__token',
    ]);
    const get = await cli(['secret', 'get', '--vault', emu.vaultUrl, '--domain', 'development', '--project', 'flytesnacks', 'tls-cert', '--json']);
    expect(get.code).toBe(0);
    const meta = JSON.parse(get.stdout.toString()) as Record<string, unknown>;
    expect(meta).toMatchObject({ name: 'tls-cert', scope: 'project flyte/development/flytesnacks', kind: 'binary', keyVaultName: '1-flyte-development-flytesnacks-ORWHGLLDMVZHI' });
    expect(meta.version).toMatch(/^[0-9a-f]{32}$/);
    const plain = await cli(['secret', 'get', '--vault', emu.vaultUrl, '--domain', 'development', 'db-password']);
    expect(plain.stdout.toString()).not.toContain('p@ss');
    const reveal = await cli(['secret', 'get', '--vault', emu.vaultUrl, '--domain', 'development', 'db-password', '--reveal']);
    expect(reveal.stdout.toString()).toBe('p@ss w0rd "quoted" $HOME');
    const missing = await cli(['secret', 'get', '--vault', emu.vaultUrl, 'nope']);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/^error: secret u__org__flyte__domain____project____key__nope \(Key Vault secret 1-flyte---NZXXAZI\) not found in the vault\n$/);
  });
});

describe('CLI errors are one clean line, no stack trace', () => {
  it.each([
    [['secret', 'create', 'x'], 2, /required option '--vault <url>' not specified/],
    [['secret', 'create', '--vault', 'VAULT', 'x'], 2, /exactly one of --value V or --from-file F/],
    [['secret', 'create', '--vault', 'VAULT', 'x', '--value', 'a', '--from-file', '-'], 2, /exactly one of --value V or --from-file F/],
    [['secret', 'create', '--vault', 'VAULT', '--project', 'p', 'x', '--value', 'a'], 2, /project-scoped secrets must also specify a domain/],
    [['secret', 'create', '--vault', 'VAULT', 'x', '--from-file', '/nonexistent/file'], 1, /cannot read \/nonexistent\/file: no such file/],
    [['secret', 'create', '--vault', 'VAULT', '--domain', 'dev_1', 'x', '--value', 'a'], 1, /dev_1/],
    [['secret', 'get', '--vault', 'http://127.0.0.1:1', 'x'], 1, /must use https/],
  ])('%j → exit %i', async (args, code, message) => {
    const r = await cli(args.map((a) => (a === 'VAULT' ? emu.vaultUrl : a)));
    expect(r.code).toBe(code);
    expect(r.stdout.length).toBe(0);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stderr).not.toMatch(/internal error/);
  });

  it('--binary stores valid UTF-8 as BINARY; stdin works with --from-file -', async () => {
    const r = await cli(['secret', 'create', '--vault', emu.vaultUrl, '--domain', 'staging', 'piped', '--from-file', '-', '--binary'], 'from stdin');
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toContain('(domain flyte/staging, binary)');
    const back = await cli(['secret', 'get', '--vault', emu.vaultUrl, '--domain', 'staging', 'piped', '--reveal']);
    expect(back.stdout.toString()).toBe('from stdin');
    await cli(['secret', 'delete', '--vault', emu.vaultUrl, '--domain', 'staging', 'piped', '--purge']);
  });
});

describe('admission through the HTTPS webhook (Embedded manager, Azure backend)', () => {
  it('env secrets arrive with project → domain → org precedence', async () => {
    const gets = emu.stats().get ?? 0;
    const pod = taskPod([
      makeSecret({ key: 'token', mountRequirement: MountRequirement.ENV_VAR, envVar: 'TOKEN' }),
      makeSecret({ key: 'db-password', mountRequirement: MountRequirement.ENV_VAR }),
      makeSecret({ key: 'shared' }),
    ]);
    const { response, pod: admitted } = await harness.admit(pod, { namespace: 'flytesnacks-development' });
    expect(response.allowed).toBe(true);
    for (const c of [...admitted.spec!.initContainers!, ...admitted.spec!.containers]) {
      expect(env(c, 'TOKEN')).toBe('project-token');
      expect(env(c, '_UNION_DB-PASSWORD')).toBe('p@ss w0rd "quoted" $HOME');
      expect(env(c, '_UNION_SHARED')).toBe('org-wide');
      expect(env(c, 'FLYTE_SECRETS_ENV_PREFIX')).toBe('_UNION_');
    }
    // token: 1 GET (project); db-password: 404 + 200; shared: 404 + 404 + 200 → 6 GETs; the re-admission made none.
    expect((emu.stats().get ?? 0) - gets).toBe(6);
    expect(await metric(FETCH_METRIC_NAMES.backendRequests, { backend: 'azure', outcome: 'not_found' })).toBe(3);
  });

  it('a pod of another project gets the domain value; a pod of another domain the org value', async () => {
    const secret = makeSecret({ key: 'token', mountRequirement: MountRequirement.ENV_VAR, envVar: 'TOKEN' });
    const other = await harness.admit(taskPod([secret], { ...LABELS, project: 'other' }), { namespace: 'other-development' });
    expect(env(other.pod.spec!.containers[0], 'TOKEN')).toBe('domain-token');
    const prod = await harness.admit(taskPod([secret], { ...LABELS, domain: 'production' }), { namespace: 'flytesnacks-production' });
    expect(env(prod.pod.spec!.containers[0], 'TOKEN')).toBe('org-token');
  });

  it('FILE secrets: the init container, run with busybox, writes the files byte for byte where env_var points', async () => {
    const pod = taskPod([
      makeSecret({ key: 'tls-cert', mountRequirement: MountRequirement.FILE, envVar: 'TLS_CERT_PATH' }),
      makeSecret({ key: 'API_Token', mountRequirement: MountRequirement.FILE, envVar: 'API_TOKEN_PATH' }),
      makeSecret({ key: 'token', mountRequirement: MountRequirement.FILE }),
    ]);
    const { pod: admitted } = await harness.admit(pod, { namespace: 'flytesnacks-development' });
    const inits = admitted.spec!.initContainers!;
    expect(inits.map((c) => c.name)).toEqual(['user-init', 'init-embedded-secret']);
    const main = admitted.spec!.containers[0]!;
    expect(main.volumeMounts).toEqual([{ name: 'embedded-secret-vol', readOnly: true, mountPath: '/etc/flyte/secrets' }]);
    expect(env(main, 'TLS_CERT_PATH')).toBe('/etc/flyte/secrets/tls-cert');
    expect(env(main, 'API_TOKEN_PATH')).toBe('/etc/flyte/secrets/API_Token');
    expect(env(main, 'FLYTE_SECRETS_DEFAULT_DIR')).toBe('/etc/flyte/secrets');

    const files = runInitContainer(inits[1]!);
    expect([...files.keys()].sort()).toEqual(['API_Token', 'tls-cert', 'token']);
    expect(files.get('tls-cert')).toEqual(Buffer.from([0x30, 0x82, 0x00, 0xff, 0xfe, 0x00, 0x0a, 0x80]));
    expect(files.get('API_Token')).toEqual(Buffer.from('héllo wörld\nsecond line\n', 'utf8'));
    expect(files.get('token')).toEqual(Buffer.from('project-token'));
  });

  it('a secret missing at every scope denies the pod with a clear message', async () => {
    const { response } = await harness.admit(taskPod([makeSecret({ key: 'does-not-exist' })]), { namespace: 'flytesnacks-development' });
    expect(response.allowed).toBe(false);
    const message = response.status?.message ?? '';
    // The decisive reason first, after Flyte's prefix; the scopes and the Key Vault names tried; no other manager's.
    expect(message.startsWith('none of the secret managers injected secret [key:"does-not-exist"]: Embedded: [SecretNotFoundAcrossAllScopes] secret not found across all scopes: ')).toBe(true);
    const names = [0, 1, 2].map((i) =>
      keyVaultNameForId({ org: 'flyte', domain: i < 2 ? 'development' : '', project: i === 0 ? 'flytesnacks' : '', name: 'does-not-exist' }),
    );
    expect(message).toContain(`project flyte/development/flytesnacks (Key Vault secret ${names[0]}), domain flyte/development (Key Vault secret ${names[1]}), org flyte (Key Vault secret ${names[2]})`);
    expect(message).not.toContain('Global:');
  });

  it('after `secret delete --purge --invalidate-url`, the next pod gets the domain value', async () => {
    const secret = makeSecret({ key: 'token', mountRequirement: MountRequirement.ENV_VAR, envVar: 'TOKEN' });
    expect(env((await harness.admit(taskPod([secret]))).pod.spec!.containers[0], 'TOKEN')).toBe('project-token');
    expect(harness.server.invalidationPort).toBeGreaterThan(0);
    const del = await cli(['secret', 'delete', '--vault', emu.vaultUrl, '--domain', 'development', '--project', 'flytesnacks', 'token', '--purge', '--invalidate-url', `http://127.0.0.1:${harness.server.invalidationPort}`]);
    expect(del.stderr).toBe('');
    expect(del.code).toBe(0);
    expect(del.stdout.toString()).toMatch(/^deleted and purged u__org__flyte__domain__development__project__flytesnacks__key__token/);
    expect(env((await harness.admit(taskPod([secret]))).pod.spec!.containers[0], 'TOKEN')).toBe('domain-token');
  });

  it('the cache: a second identical pod makes no Key Vault call', async () => {
    const pod = taskPod([makeSecret({ key: 'shared' }), makeSecret({ key: 'db-password' })]);
    await harness.admit(pod);
    const gets = emu.stats().get ?? 0;
    await harness.admit(pod);
    expect(emu.stats().get ?? 0).toBe(gets);
    expect(embedded.cache.size).toBeGreaterThan(0);
  });
});
