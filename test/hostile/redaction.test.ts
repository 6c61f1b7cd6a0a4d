/**
 * Redaction canary: a unique random value in every backend (Global env and file, Azure Key Vault emulator,
 * Kubernetes through the fake API server, AWS and GCP stand-ins), every admission path driven (success ENV/ANY/FILE,
 * dry run, each denial, each fetch failure, stale values, the vault gone), pino at debug and the Azure SDK at
 * verbose, then: the canary (raw, base64, base64url, hex) is in no log line, metric, thrown error (message, stack,
 * `util.inspect` with causes), admission message or warning, request the webhook sent to the API server, CLI
 * stdout/stderr of a failing command, or `serve`'s output at debug level.
 *
 * In the pod spec it appears only where a documented Flyte-compatible mode puts it (docs/compatibility.md):
 * Embedded ENV/ANY and Global ENV → `env[].value` (exactly the value); Embedded FILE → base64 inside the
 * `init-embedded-secret` container's `SECRETS` env var, and nowhere else.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { AzureLogger, setLogLevel } from '@azure/logger';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { PassThroughClient } from 'google-auth-library';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeBinaryEnvelope, encodeStringEnvelope } from '../../src/azure/secret-value.js';
import { keyVaultNameForId } from '../../src/azure/secret-name.js';
import { parseConfig } from '../../src/config/load.js';
import { startEmulator, type Emulator } from '../../src/emulator/index.js';
import { createEmbeddedSecretManager } from '../../src/assemble/index.js';
import { createBackendFetcher, type EmbeddedDeps } from '../../src/fetch/index.js';
import { INJECT_LABEL, INJECT_LABEL_VALUE, secretsToAnnotations } from '../../src/secret/annotations.js';
import { encodeSecretName, md5Hex, type FlyteSecretId } from '../../src/secret/flyte-id.js';
import { MountRequirement, makeSecret, type Secret } from '../../src/secret/model.js';
import { generateCertificates, writeCertificateFiles } from '../../src/webhook/certs.js';
import { startAwsStandIn, type AwsStandIn } from '../support/aws-stand-in.js';
import { startFakeKubeApiServer, type FakeKubeApiServer } from '../support/fake-kube-apiserver.js';
import { startGcpStandIn, type GcpStandIn } from '../support/gcp-stand-in.js';
import { buildReview, decodePatch, startApiServerHarness, type ApiServerHarness } from '../support/api-server-harness.js';
import { applyPatch } from '../../src/inject/patch.js';
import { canary, summary, watchProcess, type ProcessWatch } from './support.js';
import { CLI_BIN as BIN, PACKAGE_ROOT as ROOT } from '../support/cli.js';

const SCOPE = { org: 'flyte', domain: 'development', project: 'flytesnacks' };
const LABELS = { organization: SCOPE.org, project: SCOPE.project, domain: SCOPE.domain, [INJECT_LABEL]: INJECT_LABEL_VALUE };

type Backend = 'Azure' | 'K8s' | 'AWS' | 'GCP';
const BACKENDS: Backend[] = ['Azure', 'K8s', 'AWS', 'GCP'];

/** One canary per backend, plus Global (env) and Global (file). */
const C = {
  Azure: canary('azure'),
  K8s: canary('k8s'),
  AWS: canary('aws'),
  GCP: canary('gcp'),
  global: canary('global'),
  globalFile: canary('globalfile'),
};
const ALL = Object.values(C);

/** The forms a value could leak in. */
function forms(value: string): string[] {
  const b = Buffer.from(value, 'utf8');
  return [value, b.toString('base64'), b.toString('base64url'), b.toString('hex'), JSON.stringify(value).slice(1, -1)];
}
const FORBIDDEN = ALL.flatMap((c) => forms(c).map((f) => ({ canary: c, form: f })));

/** Fail when `text` holds any canary in any form. */
function expectNoCanary(text: string, where: string): void {
  for (const { canary: c, form } of FORBIDDEN) {
    if (text.includes(form)) throw new Error(`canary ${c} (as ${JSON.stringify(form.slice(0, 20))}…) found in ${where}: ${text.slice(Math.max(0, text.indexOf(form) - 200), text.indexOf(form) + 80)}`);
  }
}

let watch: ProcessWatch;
let scratch: string;
let emu: Emulator;
let kube: FakeKubeApiServer;
let aws: AwsStandIn;
let gcp: GcpStandIn;
const azureSdkLog: string[] = [];
const harnesses = new Map<Backend, ApiServerHarness>();
const registries = new Map<Backend, Registry>();
const deps = new Map<Backend, EmbeddedDeps>();
const rawConfigs = new Map<Backend, Record<string, unknown>>();
/** Every admission answer seen (the review, as sent back). */
const answers: { backend: Backend; scenario: string; text: string; pod: Pod; patched: Pod | undefined }[] = [];
const counts = { admissions: 0, thrown: 0, cli: 0, logLines: 0 };

const idOf = (name: string, scope: Partial<typeof SCOPE> = SCOPE): FlyteSecretId => ({ org: scope.org ?? 'flyte', domain: scope.domain ?? '', project: scope.project ?? '', name });

/** Store `value` under `name` (project scope) in `backend`. */
function store(backend: Backend, name: string, value: string | Uint8Array, rawAzure?: string): void {
  const id = idOf(name);
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value);
  switch (backend) {
    case 'Azure':
      emu.seed([{ name: keyVaultNameForId(id), value: rawAzure ?? (typeof value === 'string' ? encodeStringEnvelope(value) : encodeBinaryEnvelope(value)) }]);
      break;
    case 'K8s':
      kube.store.put({ apiVersion: 'v1', kind: 'Secret', metadata: { name: md5Hex(encodeSecretName(id)), namespace: 'flyte' }, data: { [encodeSecretName(id)]: bytes.toString('base64') } });
      break;
    case 'AWS':
      aws.secrets.set(encodeSecretName(id), typeof value === 'string' ? { SecretString: value } : { SecretBinary: bytes });
      break;
    case 'GCP':
      gcp.secrets.set(`projects/p/secrets/${encodeSecretName(id)}`, bytes);
      break;
  }
}

function podFor(secrets: Secret[], extra: Partial<Pod['spec']> = {}): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'task-canary', labels: { ...LABELS }, annotations: secretsToAnnotations(secrets) },
    spec: { containers: [{ name: 'main', image: 'python:3.12', env: [{ name: 'USER_VAR', value: 'x' }] }], ...extra },
  };
}

async function admit(backend: Backend, scenario: string, pod: Pod, options: { dryRun?: boolean } = {}): Promise<{ allowed: boolean; patched: Pod | undefined; message: string; warnings: string[] }> {
  const h = harnesses.get(backend)!;
  const answer = await h.post(buildReview(pod, { dryRun: options.dryRun ?? false }));
  expect(answer.status).toBe(200);
  const review = JSON.parse(answer.text) as { response: { allowed: boolean; patch?: string; status?: { message?: string }; warnings?: string[] } };
  const patch = decodePatch(review.response as never);
  const patched = patch.length > 0 ? applyPatch(pod, patch) : undefined;
  answers.push({ backend, scenario, text: answer.text, pod, patched });
  counts.admissions += 1;
  return { allowed: review.response.allowed, patched, message: review.response.status?.message ?? '', warnings: review.response.warnings ?? [] };
}

/** Every string in `doc`, with its path. */
function* strings(doc: unknown, path: (string | number)[] = []): Generator<{ path: (string | number)[]; value: string }> {
  if (typeof doc === 'string') yield { path, value: doc };
  else if (Array.isArray(doc)) for (const [i, v] of doc.entries()) yield* strings(v, [...path, i]);
  else if (doc !== null && typeof doc === 'object') for (const [k, v] of Object.entries(doc)) yield* strings(v, [...path, k]);
}

function at(doc: unknown, path: (string | number)[]): unknown {
  let cur = doc as Record<string | number, unknown>;
  for (const p of path) cur = cur[p] as Record<string | number, unknown>;
  return cur;
}

/**
 * Where a canary may be in a mutated pod: its raw form only as a whole `env[].value`; its base64 form only inside
 * the `SECRETS` env var of `init-embedded-secret`. Returns the places found, to assert the delivery too.
 */
function placesInPod(pod: Pod): { canary: string; place: 'env' | 'secrets' }[] {
  const found: { canary: string; place: 'env' | 'secrets' }[] = [];
  for (const { path, value } of strings(pod)) {
    for (const c of ALL) {
      const [raw, b64, ...others] = forms(c);
      const isEnvValue = path.length === 6 && path[0] === 'spec' && (path[1] === 'containers' || path[1] === 'initContainers') && path[3] === 'env' && path[5] === 'value';
      if (value.includes(raw!)) {
        expect(isEnvValue, `raw canary at ${path.join('.')}`).toBe(true);
        expect(value).toBe(raw);
        found.push({ canary: c, place: 'env' });
      }
      if (value.includes(b64!)) {
        const env = isEnvValue ? (at(pod, path.slice(0, 5)) as { name: string }) : undefined;
        const container = at(pod, path.slice(0, 3)) as { name?: string };
        expect(env?.name === 'SECRETS' && container.name === 'init-embedded-secret', `base64 canary at ${path.join('.')}`).toBe(true);
        expect(value).toMatch(new RegExp(`(^|\\n)[^=\\n]+=${b64!.replace(/[+/=]/g, '\\$&')}(\\n|$)`));
        found.push({ canary: c, place: 'secrets' });
      }
      for (const f of others) if (!raw!.includes(f) && !b64!.includes(f)) expect(value.includes(f), `canary form ${f.slice(0, 12)}… at ${path.join('.')}`).toBe(false);
    }
  }
  return found;
}

beforeAll(async () => {
  watch = watchProcess();
  scratch = mkdtempSync(join(tmpdir(), 'flyte-secrets-canary-'));
  // The Azure SDK at its most verbose, captured.
  setLogLevel('verbose');
  AzureLogger.log = (...args: unknown[]) => void azureSdkLog.push(args.map((a) => (typeof a === 'string' ? a : inspect(a, { depth: 6 }))).join(' '));

  [emu, kube, aws, gcp] = await Promise.all([startEmulator({ clientSecret: 'canary', rateLimit: 0 }), startFakeKubeApiServer(), startAwsStandIn(), startGcpStandIn()]);
  process.env.AZURE_AUTHORITY_HOST = emu.authorityHost;
  process.env.AZURE_TENANT_ID = emu.tenantId;
  process.env.AZURE_CLIENT_ID = emu.clientId;
  process.env.AZURE_CLIENT_SECRET = emu.clientSecret;

  const embeddedConfig: Record<Backend, Record<string, unknown>> = {
    Azure: { type: 'Azure', azureConfig: { vaultURI: emu.vaultUrl } },
    K8s: { type: 'K8s', k8sConfig: { namespace: 'flyte' } },
    AWS: { type: 'AWS', awsConfig: { region: 'us-east-1' } },
    GCP: { type: 'GCP', gcpConfig: { project: 'p' } },
  };
  const backendDeps: Record<Backend, EmbeddedDeps> = {
    Azure: { azure: { ca: emu.caPem } },
    K8s: { kubeconfigPath: kube.kubeconfigPath },
    AWS: { aws: { endpoint: aws.url, credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test' } } },
    GCP: { gcp: { apiEndpoint: '127.0.0.1', port: gcp.port, protocol: 'http', authClient: new PassThroughClient() } },
  };
  const env = { FLYTE_SECRET_GLOBAL_TOKEN: C.global };
  const readFile = (path: string): Promise<Uint8Array> => {
    if (path === '/etc/secrets/gfile/token') return Promise.resolve(Buffer.from(C.globalFile));
    if (path === '/etc/secrets/gbinary/token') return Promise.resolve(Buffer.concat([Buffer.from(C.globalFile), Buffer.from([0xff, 0xfe])]));
    return Promise.reject(Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' }));
  };
  for (const b of BACKENDS) {
    const raw = {
      webhook: { secretManagerTypes: ['Embedded'], embeddedSecretManagerConfig: embeddedConfig[b] },
      cache: { inMemoryFixedSize: { defaultExpiration: '300ms' } },
      flyteSecrets: { fetch: { callTimeout: '300ms', admissionBudget: '1200ms', maxAttempts: 2, staleIfErrorMaxAge: '1h', negativeCacheTtl: '1ms' } },
    };
    const registry = new Registry();
    const d: EmbeddedDeps = { ...backendDeps[b], registry, env };
    const embedded = await createEmbeddedSecretManager(parseConfig(raw), d);
    harnesses.set(b, await startApiServerHarness({ config: raw, deps: { embedded, env, readFile } }));
    registries.set(b, registry);
    deps.set(b, d);
    rawConfigs.set(b, raw);
  }
  for (const b of BACKENDS) {
    store(b, 'tok', C[b]);
    store(b, 'bin', Buffer.concat([Buffer.from(C[b]), Buffer.from([0xff, 0xfe, 0x00])]));
  }
  // Azure values that are not usable envelopes, each holding the canary.
  store('Azure', 'dmg-truncated', '', `{"type":"STRING","value":"${C.Azure}`);
  store('Azure', 'dmg-type', '', `{"type":"${C.Azure}","value":"x"}`);
  store('Azure', 'dmg-base64', '', `{"type":"BINARY","value":"${C.Azure}!"}`);
  store('Azure', 'dmg-escape', '', `{"type":"STRING","value":"${C.Azure}\\q"}`);
  store('Azure', 'dmg-control', '', `{"type":"STRING","value":"${C.Azure}\u0001"}`);
}, 60_000);

afterAll(async () => {
  setLogLevel('warning');
  for (const h of harnesses.values()) await h.close();
  await Promise.all([emu?.close(), kube?.close(), aws?.close(), gcp?.close()]);
  rmSync(scratch, { recursive: true, force: true });
  watch.dispose();
  summary('redaction', { ...counts, azureSdkLogLines: azureSdkLog.length, canaries: ALL.length });
  expect(watch.problems).toEqual([]);
});

const env = (s: Partial<Secret>) => makeSecret({ mountRequirement: MountRequirement.ENV_VAR, ...s });
const file = (s: Partial<Secret>) => makeSecret({ mountRequirement: MountRequirement.FILE, ...s });

describe.each(BACKENDS)('Embedded with the %s backend, plus Global', (backend) => {
  it('success: ENV, ANY and Global ENV put the value in env[].value only; FILE only as base64 in SECRETS', async () => {
    const e = await admit(backend, 'env', podFor([env({ key: 'tok' }), env({ group: 'global', key: 'token' })]));
    expect(e.allowed).toBe(true);
    const envPlaces = placesInPod(e.patched!);
    expect(envPlaces).toContainEqual({ canary: C[backend], place: 'env' });
    expect(envPlaces).toContainEqual({ canary: C.global, place: 'env' });
    expect(envPlaces.every((p) => p.place === 'env')).toBe(true);

    const any = await admit(backend, 'any', podFor([makeSecret({ key: 'tok' })]));
    expect(placesInPod(any.patched!)).toEqual(expect.arrayContaining([{ canary: C[backend], place: 'env' }]));

    const f = await admit(backend, 'file', podFor([file({ key: 'tok', envVar: 'TOK_PATH' })]));
    expect(f.allowed).toBe(true);
    expect(placesInPod(f.patched!)).toEqual([{ canary: C[backend], place: 'secrets' }]);

    const dry = await admit(backend, 'dry-run', podFor([env({ key: 'tok' })]), { dryRun: true });
    expect(placesInPod(dry.patched!)).toEqual([{ canary: C[backend], place: 'env' }]);
    // The Global file provider too.
    const g = await admit(backend, 'global-file', podFor([env({ group: 'gfile', key: 'token' })]));
    expect(placesInPod(g.patched!)).toEqual(expect.arrayContaining([{ canary: C.globalFile, place: 'env' }]));
  });

  it('each denial names the secret, never the value', async () => {
    const cases: [string, Pod][] = [
      ['not UTF-8 as ENV', podFor([env({ key: 'bin' })])],
      ['not found at any scope', podFor([env({ key: 'missing' })])],
      ['FILE key not a file name', podFor([file({ key: '..' })])],
      ['mount clash', podFor([file({ key: 'tok' })], { volumes: [{ name: 'other', emptyDir: {} }], containers: [{ name: 'main', image: 'i', volumeMounts: [{ name: 'other', mountPath: '/etc/flyte/secrets' }] }] })],
      ['Global FILE request', podFor([file({ group: 'global', key: 'token' })])],
      ['Global file not UTF-8', podFor([env({ group: 'gbinary', key: 'token' })])],
      ['a bad annotation', { ...podFor([]), metadata: { ...podFor([]).metadata, annotations: { 'flyte.secrets/s0': 'not base32!' } } }],
      ['a value and a missing one', podFor([env({ key: 'tok' }), env({ key: 'missing' })])],
    ];
    for (const [name, pod] of cases) {
      const a = await admit(backend, `deny: ${name}`, pod);
      expect(a.allowed, name).toBe(false);
      expect(a.message, name).toMatch(/\S/);
      expect(a.patched).toBeUndefined();
    }
  });

  it('each fetch failure (throttled, 5xx, slow) denies without the value; a stale value is served with a warning', async () => {
    const faults: Record<Backend, { on: () => void; off: () => void }[]> = {
      Azure: [
        { on: () => emu.setFaults({}, { rateLimit: 1, rateLimitWindowMs: 60_000 }), off: () => emu.setFaults({}, { rateLimit: 0 }) },
        { on: () => emu.setFaults({ failRatio: 1, failStatus: 500 }), off: () => emu.setFaults({}) },
        { on: () => emu.setFaults({ latencyMs: 1000 }), off: () => emu.setFaults({}) },
        { on: () => emu.setFaults({ dropRatio: 1 }), off: () => emu.setFaults({}) },
      ],
      K8s: [
        { on: () => (kube.onRequest = () => ({ status: 429, body: { kind: 'Status', code: 429, message: 'throttled' } })), off: () => (kube.onRequest = undefined) },
        { on: () => (kube.onRequest = () => ({ status: 500, body: { kind: 'Status', code: 500, message: 'boom' } })), off: () => (kube.onRequest = undefined) },
        { on: () => (kube.onRequest = async () => (await new Promise((r) => setTimeout(r, 1000)), undefined)), off: () => (kube.onRequest = undefined) },
      ],
      AWS: [
        { on: () => Object.assign(aws.faults, { failNext: 100, failType: 'ThrottlingException' }), off: () => Object.assign(aws.faults, { failNext: 0 }) },
        { on: () => Object.assign(aws.faults, { failNext: 100, failType: 'InternalServiceError' }), off: () => Object.assign(aws.faults, { failNext: 0 }) },
        { on: () => Object.assign(aws.faults, { latencyMs: 1000 }), off: () => Object.assign(aws.faults, { latencyMs: 0 }) },
      ],
      GCP: [
        { on: () => Object.assign(gcp.faults, { failNext: 100, failStatus: 429 }), off: () => Object.assign(gcp.faults, { failNext: 0 }) },
        { on: () => Object.assign(gcp.faults, { failNext: 100, failStatus: 503 }), off: () => Object.assign(gcp.faults, { failNext: 0 }) },
        { on: () => Object.assign(gcp.faults, { latencyMs: 1000 }), off: () => Object.assign(gcp.faults, { latencyMs: 0 }) },
      ],
    };
    for (const [i, fault] of faults[backend].entries()) {
      // Warm the cache, let it expire (TTL 300 ms), then fail: the stale value is served with a warning.
      expect((await admit(backend, `warm ${i}`, podFor([env({ key: 'tok' })]))).allowed).toBe(true);
      await new Promise((r) => setTimeout(r, 350));
      fault.on();
      try {
        // A name never read before: nothing to fall back on, a denial. (Under a rate limit of 1, this also uses up
        // the one request allowed.)
        const cold = await admit(backend, `cold ${i}`, podFor([env({ key: `cold-${i}` })]));
        expect(cold.allowed).toBe(false);
        expect(cold.message).toMatch(/SecretReadFailure|SecretNotFound/);
        const stale = await admit(backend, `stale ${i}`, podFor([env({ key: 'tok' })]));
        expect(stale.allowed).toBe(true);
        expect(stale.warnings.join(' ')).toMatch(/cached value/);
      } finally {
        fault.off();
      }
    }
  }, 30_000);

  it('thrown fetch errors (message, stack, causes) never hold the value', async () => {
    const fetcher = await createBackendFetcher(parseConfig(rawConfigs.get(backend)!), deps.get(backend));
    const names = backend === 'Azure' ? ['missing', 'dmg-truncated', 'dmg-type', 'dmg-base64', 'dmg-escape', 'dmg-control'] : ['missing'];
    for (const name of names) {
      const err = await fetcher.fetch(idOf(name)).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, name).toBeInstanceOf(Error);
      counts.thrown += 1;
      expectNoCanary(`${String(err)}\n${(err as Error).stack ?? ''}\n${inspect(err, { depth: 8 })}\n${JSON.stringify(err)}`, `${backend} error for ${name}`);
    }
  });

  it('an Azure value that is not a usable envelope (holding the canary) is denied without quoting it', async () => {
    if (backend !== 'Azure') return;
    for (const name of ['dmg-truncated', 'dmg-type', 'dmg-base64', 'dmg-escape', 'dmg-control']) {
      const a = await admit(backend, `damaged ${name}`, podFor([env({ key: name })]));
      expect(a.allowed, name).toBe(false);
      expect(a.message).toContain('[SecretReadFailure]');
    }
  });
});

describe('the vault gone, and the CLI', () => {
  it('the CLI: failing commands and `serve` at debug level never print a value', async () => {
    const certDir = join(scratch, 'certs');
    writeCertificateFiles(certDir, await generateCertificates({ serviceName: 'flyte-pod-webhook', namespace: 'flyte', validityMs: 3600_000 }));
    const cfg = join(scratch, 'config.json');
    writeFileSync(cfg, JSON.stringify({ webhook: { certDir, secretManagerTypes: ['Embedded'], embeddedSecretManagerConfig: { type: 'Azure', azureConfig: { vaultURI: emu.vaultUrl } }, cacheInvalidationPort: 0 }, flyteSecrets: { server: { host: '127.0.0.1', logLevel: 'debug', shutdownGrace: '2s' } } }));
    const childEnv = { PATH: process.env.PATH ?? '', HOME: scratch, NODE_EXTRA_CA_CERTS: emu.caFile, AZURE_AUTHORITY_HOST: emu.authorityHost, AZURE_TENANT_ID: emu.tenantId, AZURE_CLIENT_ID: emu.clientId, AZURE_CLIENT_SECRET: emu.clientSecret, AZURE_LOG_LEVEL: 'verbose', FLYTE_SECRET_GLOBAL_TOKEN: C.global };
    const run = (args: string[], input = ''): Promise<{ code: number | null; stdout: string; stderr: string }> =>
      new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: childEnv });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
        child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
        const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
        child.on('error', reject);
        child.on('close', (code) => (clearTimeout(timer), resolve({ code, stdout, stderr })));
        child.stdin.end(input);
      });
    const podFile = (name: string, pod: Pod): string => {
      const f = join(scratch, `${name}.json`);
      writeFileSync(f, JSON.stringify(pod));
      return f;
    };
    const failing: [string[], string, number][] = [
      [['inject', '--config', cfg, '-f', podFile('missing', podFor([env({ key: 'missing' }), env({ key: 'tok' })]))], '', 3],
      [['inject', '--config', cfg, '-f', podFile('damaged', podFor([env({ key: 'dmg-type' })]))], '', 3],
      [['inject', '--config', cfg, '-f', podFile('binary', podFor([env({ key: 'bin' })]))], '', 3],
      [['azure', 'decode-value'], `{"type":"${C.Azure}","value":"x"}`, 1],
      [['azure', 'decode-value'], `{"type":"STRING","value":"${C.Azure}`, 1],
      [['azure', 'decode-value'], `{"type":"BINARY","value":"${C.Azure}!"}`, 1],
      [['secret', 'get', '--vault', emu.vaultUrl, '--domain', 'development', '--project', 'flytesnacks', 'dmg-type', '--reveal'], '', 1],
    ];
    for (const [args, input, code] of failing) {
      const r = await run(args, input);
      counts.cli += 1;
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(code);
      expect(r.stderr).toMatch(/^error: /m);
      expectNoCanary(r.stdout + r.stderr, `flyte-secrets ${args.slice(0, 2).join(' ')}`);
    }
    // Metadata without --reveal, and a list: no values.
    for (const args of [['secret', 'get', '--vault', emu.vaultUrl, '--domain', 'development', '--project', 'flytesnacks', 'tok'], ['secret', 'list', '--vault', emu.vaultUrl]]) {
      const r = await run(args);
      counts.cli += 1;
      expect(r.code).toBe(0);
      expectNoCanary(r.stdout + r.stderr, `flyte-secrets ${args.slice(0, 2).join(' ')}`);
    }

    // serve at debug level with the Azure SDK verbose: a success, a denial and a read failure, then SIGTERM.
    const child = spawn(process.execPath, [BIN, 'serve', '--config', cfg, '--port', '0'], { cwd: ROOT, env: childEnv });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      const deadline = Date.now() + 15_000;
      while (!out.includes('"event":"started"') && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
      const port = (JSON.parse(out.split('\n').find((l) => l.includes('"event":"started"')) ?? '{}') as { port?: number }).port;
      expect(port, err).toBeGreaterThan(0);
      const { request } = await import('node:https');
      const { readFileSync } = await import('node:fs');
      const post = (pod: Pod): Promise<string> =>
        new Promise((resolve, reject) => {
          const body = JSON.stringify(buildReview(pod));
          const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/mutate--v1-pod', ca: readFileSync(join(certDir, 'ca.crt')), servername: 'flyte-pod-webhook.flyte.svc', headers: { 'content-type': 'application/json' } }, (res) => {
            let t = '';
            res.on('data', (c: Buffer) => (t += c.toString('utf8')));
            res.on('end', () => resolve(t));
          });
          req.on('error', reject);
          req.end(body);
        });
      expect(await post(podFor([env({ key: 'tok' }), env({ group: 'global', key: 'token' })]))).toContain('"allowed":true');
      expect(await post(podFor([env({ key: 'bin' })]))).toContain('"allowed":false');
      expect(await post(podFor([env({ key: 'dmg-truncated' })]))).toContain('"allowed":false');
      // A connection that is not TLS: logged at debug level (tls_error).
      const { connect } = await import('node:net');
      await new Promise<void>((resolve) => {
        const s = connect(port!, '127.0.0.1', () => s.end('GET / HTTP/1.1\r\n\r\n'));
        s.on('close', () => resolve());
        s.on('error', () => resolve());
      });
      const until = Date.now() + 5000;
      while (!out.includes('"level":20') && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    counts.cli += 1;
    expect(out).toMatch(/"level":20/); // debug lines were written
    counts.logLines += out.split('\n').length;
    expectNoCanary(out + err, '`serve` output at debug level');
  }, 60_000);

  it('the vault gone: denials without the value; then nothing anywhere holds a canary', async () => {
    await emu.close();
    const a = await admit('Azure', 'vault gone', podFor([env({ key: 'never-read' })]));
    expect(a.allowed).toBe(false);
    expect(a.message).toContain('[SecretReadFailure]');

    // Admission answers: everything but the (expected) patch.
    for (const x of answers) {
      const review = JSON.parse(x.text) as { response: Record<string, unknown> };
      expectNoCanary(JSON.stringify({ ...review, response: { ...review.response, patch: undefined } }), `the answer to ${x.backend} "${x.scenario}"`);
      if (x.patched !== undefined) placesInPod(x.patched);
    }
    // Logs (pino at debug), metrics, the Azure SDK's verbose log, requests to the API server.
    for (const [b, h] of harnesses) {
      counts.logLines += h.logs.length;
      expect(h.logs.length).toBeGreaterThan(0);
      for (const line of h.logs) expectNoCanary(JSON.stringify(line), `a ${b} log line`);
      expectNoCanary(await h.server.metricsText(), `${b} /metrics`);
      expectNoCanary(await registries.get(b)!.metrics(), `${b} fetch metrics`);
      const viaHttp = await h.post(undefined, { method: 'GET', path: '/metrics' });
      expectNoCanary(viaHttp.text, `${b} GET /metrics`);
    }
    expect(azureSdkLog.length).toBeGreaterThan(0);
    for (const line of azureSdkLog) expectNoCanary(line, 'the Azure SDK log');
    for (const r of kube.requests) expectNoCanary(JSON.stringify(r), 'a request to the API server');
    expect(answers.length).toBeGreaterThan(40);
  }, 30_000);
});
