/**
 * The agent end to end, as the kubelet would run it. The webhook (real HTTPS server, `flyteSecrets.azure.delivery:
 * agent`, `envFiles: true`) returns a pod; its `flyte-secrets-agent` init container is run with this checkout's CLI
 * (the image's entrypoint `node bin/flyte-secrets.js` + the container's args), its env, and its volume mounts as bind
 * mounts of scratch directories, inside a private network + mount namespace (`unshare -n -m`) where
 * `kv-e2e.vault.azure.net` and `login.microsoftonline.com` resolve (an /etc/hosts bind mount) to the Key Vault
 * emulator on port 443. Workload identity comes through `AZURE_FEDERATED_TOKEN_FILE` and the other variables Azure's
 * workload identity webhook injects; the only thing added for the test is the emulator's CA (`NODE_EXTRA_CA_CERTS`).
 *
 * Checked: files and the env file hold exactly the stored values (unicode, quotes, newlines, 25 KiB), the env file
 * parses under the 1.35 kubelet's rules to those values, modes; failures (403, 404, disabled, a value the env file
 * cannot carry, the vault gone) exit 1 with one line naming the URI and what to do, and leave the volumes empty;
 * throttling and 5xx are retried and recover. The redaction canary appears nowhere but in the delivered files.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Container, Pod } from 'kubernetes-types/core/v1.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEnvFile } from '../src/agent/envfile.js';
import { AGENT_CONTAINER_NAME } from '../src/inject/agent.js';
import { annotatePod } from '../src/secret/annotations.js';
import { makeSecret, MountRequirement, type Secret } from '../src/secret/model.js';
import { startApiServerHarness, type ApiServerHarness } from './support/api-server-harness.js';
import { CLI_BIN, PACKAGE_ROOT } from './support/cli.js';
import { canary } from './hostile/support.js';

const HOST = 'kv-e2e.vault.azure.net';
const V = `https://${HOST}/secrets`;
const TOKEN = 'federated-token-of-the-task-service-account';
const CLIENT = '00000000-0000-4000-8000-00000000c1d0';
const TENANT = '00000000-0000-4000-8000-00000000e7a1';
const CANARY = canary('agent');

const VALUES = {
  unicode: 'grüße ✓ 日本語 🚀',
  quotes: `it's "quoted"\nsecond line\n\ttabbed $HOME \`x\` \\n`,
  big: Array.from({ length: 25 * 1024 }, (_, i) => String.fromCharCode(97 + (i % 26))).join(''),
  multi: `line one\nline two ✓ "double" $HOME \`x\` \\n #not-a-comment\n\n  indented`,
  canary: CANARY,
  hasQuote: `${CANARY}'tail`,
  good: 'good-value',
};

const SEED = [
  { name: 'unicode', value: VALUES.unicode },
  { name: 'quotes', value: VALUES.quotes },
  { name: 'big', value: VALUES.big },
  { name: 'env-multi', value: VALUES.multi },
  { name: 'canary', value: VALUES.canary },
  { name: 'has-quote', value: VALUES.hasQuote },
  { name: 'good', value: VALUES.good },
  { name: 'forbidden', value: 'never-read' },
  { name: 'disabled', value: 'never-read', enabled: false },
];

/** What one agent run left behind. */
interface AgentRun {
  code: number | null;
  stderr: string;
  /** Files per volume name: relative path → { content, mode }. */
  volumes: Record<string, Record<string, { content: string; mode: number }>>;
}

interface Scenario {
  name: string;
  container: Container;
  /** Emulator faults before the run (`setFaults` arguments). */
  faults?: [Record<string, unknown>, Record<string, unknown>?];
  /** Stop the emulator before this run. */
  vaultGone?: boolean;
}

/**
 * Runs inside `unshare -n -m`: brings up lo, starts the emulator on 443 (the names come from the hosts bind mount),
 * then each scenario's agent under a further `unshare -m` with the container's mounts as bind mounts.
 */
const DRIVER = String.raw`
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
const job = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const { startEmulator } = await import(join(job.root, 'dist/emulator/index.js'));
const emu = await startEmulator({
  host: '127.0.0.1', port: 443, stateDir: job.stateDir, tlsHosts: job.hosts, seed: job.seed,
  tenantId: job.tenant, clientId: job.client, allowedAssertions: [job.token], forbidden: ['forbidden'],
});
const results = {};
let gone = false;
for (const s of job.scenarios) {
  if (s.faults) emu.setFaults(...s.faults); else if (!gone) emu.setFaults({}, { rateLimit: 0 });
  if (s.vaultGone && !gone) { await emu.close(); gone = true; }
  const vols = {};
  const mounts = [];
  for (const m of s.container.volumeMounts ?? []) {
    const dir = vols[m.name] ??= mkdtempSync(join(job.work, 'vol-' + m.name + '-'));
    mounts.push(dir, m.mountPath);
  }
  // The kubelet: the image's entrypoint (node bin/flyte-secrets.js) with the container's args.
  const script = 'while [ "$1" != "--" ]; do mkdir -p "$2" && mount --bind "$1" "$2"; shift 2; done; shift; exec "$@"';
  const env = { PATH: process.env.PATH, ...Object.fromEntries((s.container.env ?? []).map((e) => [e.name, e.value ?? ''])), ...job.identityEnv };
  const child = spawn('unshare', ['-m', 'sh', '-c', script, 'sh', ...mounts, '--', process.execPath, job.cli, ...s.container.args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b) => { stderr += b; });
  const code = await new Promise((resolve) => child.on('close', resolve));
  const volumes = {};
  for (const [name, dir] of Object.entries(vols)) {
    const files = {};
    const walk = (d, rel) => {
      for (const f of readdirSync(d).sort()) {
        const p = join(d, f);
        const st = statSync(p);
        if (st.isDirectory()) { files[rel + f + '/'] = { content: '', mode: st.mode & 0o7777 }; walk(p, rel + f + '/'); }
        else files[rel + f] = { content: readFileSync(p, 'utf8'), mode: st.mode & 0o7777 };
      }
    };
    walk(dir, '');
    volumes[name] = files;
  }
  results[s.name] = { code, stderr, volumes, throttled: gone ? 0 : emu.stats().throttled ?? 0 };
}
if (!gone) await emu.close();
writeFileSync(job.out, JSON.stringify(results));
`;

let work = '';
let harness: ApiServerHarness;
let results: Record<string, AgentRun & { throttled: number }> = {};
const admissions: string[] = [];
const pods: Record<string, Pod> = {};

function taskPod(secrets: Secret[]): Pod {
  return annotatePod(
    {
      metadata: { name: 'task', namespace: 'flytesnacks-development', labels: { 'azure.workload.identity/use': 'true' } },
      spec: { serviceAccountName: 'default', containers: [{ name: 'task', image: 'python:3.12', command: ['python', '-c', 'pass'] }] },
    },
    secrets,
  );
}

function agentOf(pod: Pod): Container {
  const c = pod.spec?.initContainers?.find((x) => x.name === AGENT_CONTAINER_NAME);
  if (c === undefined) throw new Error('the webhook put no agent container in the pod');
  return c;
}

const file = (name: string): Secret => makeSecret({ group: `${V}/${name}`, mountRequirement: MountRequirement.FILE });
const env = (name: string, envVar: string): Secret => makeSecret({ group: `${V}/${name}`, mountRequirement: MountRequirement.ENV_VAR, envVar });

const PODS: Record<string, Secret[]> = {
  all: [file('unicode'), file('quotes'), makeSecret({ group: `${V}/big` }), env('env-multi', 'MULTI'), env('big', 'BIG'), env('canary', 'CANARY')],
  forbidden: [file('good'), file('forbidden')],
  missing: [file('good'), file('missing')],
  disabled: [file('good'), file('disabled')],
  quote: [file('good'), env('has-quote', 'HAS_QUOTE')],
};

beforeAll(async () => {
  const probe = spawnSync('unshare', ['-n', '-m', 'sh', '-c', 'ip link set lo up && mount --make-rprivate / && exit 0'], { encoding: 'utf8', timeout: 10_000 });
  if (probe.error !== undefined || probe.status !== 0) {
    throw new Error(`test/agent-e2e.test.ts needs root, "unshare -n -m" (util-linux) and "ip" (iproute2): ${probe.error?.message ?? probe.stderr.trim()}`);
  }
  work = mkdtempSync(join(tmpdir(), 'flyte-agent-e2e-'));
  harness = await startApiServerHarness({ config: { webhook: { secretManagerTypes: ['Azure'] }, flyteSecrets: { azure: { delivery: 'agent' }, envFiles: true, agent: { deadline: '20s' } } } });
  for (const [name, secrets] of Object.entries(PODS)) {
    const a = await harness.admit(taskPod(secrets));
    admissions.push(JSON.stringify(a.response), JSON.stringify(a.review));
    pods[name] = a.pod;
  }
  const tokenFile = join(work, 'azure-identity-token');
  writeFileSync(tokenFile, TOKEN);
  const hosts = join(work, 'hosts');
  writeFileSync(hosts, `127.0.0.1 localhost ${HOST} login.microsoftonline.com\n`);
  const short = (c: Container): Container => ({ ...c, args: (c.args ?? []).map((a, i, all) => (all[i - 1] === '--deadline' ? '3s' : a)) });
  const scenarios: Scenario[] = [
    { name: 'all', container: agentOf(pods.all as Pod) },
    { name: 'forbidden', container: agentOf(pods.forbidden as Pod) },
    { name: 'missing', container: agentOf(pods.missing as Pod) },
    { name: 'disabled', container: agentOf(pods.disabled as Pod) },
    { name: 'quote', container: agentOf(pods.quote as Pod) },
    // 2 vault requests per second: most of the parallel reads get 429 with Retry-After, then succeed.
    { name: 'throttled', container: agentOf(pods.all as Pod), faults: [{}, { rateLimit: 2, rateLimitWindowMs: 1000 }] },
    { name: 'unavailable', container: agentOf(pods.all as Pod), faults: [{ failNext: 4, failStatus: 503 }] },
    { name: 'gone', container: short(agentOf(pods.all as Pod)), vaultGone: true },
  ];
  const job = join(work, 'job.json');
  const out = join(work, 'out.json');
  writeFileSync(
    job,
    JSON.stringify({
      root: PACKAGE_ROOT,
      cli: CLI_BIN,
      work,
      out,
      stateDir: join(work, 'kv'),
      hosts: [HOST, 'login.microsoftonline.com'],
      seed: SEED,
      tenant: TENANT,
      client: CLIENT,
      token: TOKEN,
      scenarios,
      identityEnv: {
        // What Azure's workload identity webhook injects, and the emulator's CA (the one thing the test adds).
        AZURE_CLIENT_ID: CLIENT,
        AZURE_TENANT_ID: TENANT,
        AZURE_FEDERATED_TOKEN_FILE: tokenFile,
        AZURE_AUTHORITY_HOST: 'https://login.microsoftonline.com/',
        NODE_EXTRA_CA_CERTS: join(work, 'kv', 'ca.pem'),
      },
    }),
  );
  const driver = join(work, 'driver.mjs');
  writeFileSync(driver, DRIVER);
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn('unshare', ['-n', '-m', 'sh', '-c', 'ip link set lo up && mount --make-rprivate / && mount --bind "$0" /etc/hosts && exec "$@"', hosts, process.execPath, driver, job], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    child.on('error', reject);
    child.on('close', resolve);
  });
  if (code !== 0) throw new Error(`the namespace driver exited ${code}`);
  results = JSON.parse(readFileSync(out, 'utf8')) as typeof results;
}, 120_000);

afterAll(async () => {
  await harness?.close();
  if (work !== '') rmSync(work, { recursive: true, force: true });
});

const SECRETS_VOL = 'azure-secret-vol';
const ENV_VOL = 'flyte-secrets-env';

describe('the agent init container, run as the kubelet would', () => {
  it('writes every file with the bytes the Azure CLI container writes (value + "\\n"), mode 0444, and the env file', () => {
    const r = results.all as AgentRun;
    expect(r.stderr).toMatch(/^flyte-secrets agent: delivered 3 files and 3 env vars from 5 secrets in \d+ ms\n$/);
    expect(r.code).toBe(0);
    const files = r.volumes[SECRETS_VOL] ?? {};
    expect(Object.keys(files).sort()).toEqual(['big', 'quotes', 'unicode']);
    expect(files.unicode).toEqual({ content: `${VALUES.unicode}\n`, mode: 0o444 });
    expect(files.quotes).toEqual({ content: `${VALUES.quotes}\n`, mode: 0o444 });
    expect(files.big).toEqual({ content: `${VALUES.big}\n`, mode: 0o444 });
    const envVol = r.volumes[ENV_VOL] ?? {};
    expect(Object.keys(envVol)).toEqual(['secrets.env']);
    expect(envVol['secrets.env']?.mode).toBe(0o400);
    const parsed = parseEnvFile(envVol['secrets.env']?.content ?? '');
    expect(Object.fromEntries(parsed)).toEqual({ '_UNION_ENV-MULTI': VALUES.multi, _UNION_BIG: VALUES.big, _UNION_CANARY: VALUES.canary });
  });

  it('the task container reads those values through fileKeyRef, the env file never through a mount', () => {
    const task = pods.all?.spec?.containers[0] as Container;
    const byName = new Map((task.env ?? []).map((e) => [e.name, e]));
    const envFile = parseEnvFile((results.all as AgentRun).volumes[ENV_VOL]?.['secrets.env']?.content ?? '');
    for (const [name, value] of [['MULTI', VALUES.multi], ['BIG', VALUES.big], ['CANARY', VALUES.canary]] as const) {
      const ref = (byName.get(name)?.valueFrom as { fileKeyRef?: { volumeName: string; path: string; key: string; optional: boolean } } | undefined)?.fileKeyRef;
      expect(ref?.volumeName).toBe(ENV_VOL);
      expect(ref?.optional).toBe(false);
      expect(envFile.get(ref?.key ?? '')).toBe(value);
    }
    expect((task.volumeMounts ?? []).map((m) => m.name)).toEqual([SECRETS_VOL]);
  });

  it.each([
    ['forbidden', /^flyte-secrets agent: https:\/\/kv-e2e\.vault\.azure\.net\/secrets\/forbidden: Key Vault answered 403 Forbidden\/ForbiddenByRbac: the workload identity \(client id 00000000-0000-4000-8000-00000000c1d0\) may not read secrets in vault kv-e2e\.vault\.azure\.net; grant it the role "Key Vault Secrets User"/m],
    ['missing', /^flyte-secrets agent: https:\/\/kv-e2e\.vault\.azure\.net\/secrets\/missing: Key Vault answered 404 SecretNotFound: vault kv-e2e\.vault\.azure\.net has no secret "missing"; check the name/m],
    ['disabled', /^flyte-secrets agent: https:\/\/kv-e2e\.vault\.azure\.net\/secrets\/disabled: Key Vault answered 403 Forbidden\/SecretDisabled: the secret "disabled" is disabled in vault kv-e2e\.vault\.azure\.net; enable it/m],
    ['quote', /^flyte-secrets agent: https:\/\/kv-e2e\.vault\.azure\.net\/secrets\/has-quote: cannot be the environment variable _UNION_HAS-QUOTE: it contains a single quote/m],
    ['gone', /^flyte-secrets agent: https:\/\/kv-e2e\.vault\.azure\.net\/secrets\/unicode: could not reach kv-e2e\.vault\.azure\.net or the Entra token endpoint \(ECONNREFUSED\).* gave up after \d+ attempts: the deadline passed$/m],
  ])('%s: exit 1, one line naming the URI and what to do, nothing written', (name, line) => {
    const r = results[name] as AgentRun;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(line);
    expect(r.stderr).toMatch(/^flyte-secrets agent: failed: \d+ of \d+ secrets? could not be delivered \(deadline \d+s\); nothing was written$/m);
    for (const files of Object.values(r.volumes)) expect(files).toEqual({});
  });

  it.each(['throttled', 'unavailable'])('%s, then recovered: retried inside the deadline, everything delivered', (name) => {
    const r = results[name] as AgentRun & { throttled: number };
    expect(r.code, r.stderr).toBe(0);
    expect(r.volumes[SECRETS_VOL]?.unicode?.content).toBe(`${VALUES.unicode}\n`);
    if (name === 'throttled') expect(r.throttled).toBeGreaterThan(0);
  });
});

describe('redaction canary in agent mode', () => {
  it('appears in no admission request or response, pod spec, webhook log line, or agent output', () => {
    const forms = [CANARY, Buffer.from(CANARY).toString('base64'), Buffer.from(CANARY).toString('hex')];
    const texts = [...admissions, ...Object.values(pods).map((p) => JSON.stringify(p)), ...harness.logs.map((l) => JSON.stringify(l)), ...Object.values(results).map((r) => r.stderr)];
    for (const t of texts) for (const f of forms) expect(t).not.toContain(f);
    // It is delivered, where it belongs: the env file of the successful run.
    expect((results.all as AgentRun).volumes[ENV_VOL]?.['secrets.env']?.content).toContain(CANARY);
  });
});
