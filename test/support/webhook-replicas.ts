/**
 * Several `flyte-secrets serve` processes (the built CLI, as in the cluster) behind one Key Vault emulator, with or
 * without a shared Redis: the webhook's replicas. Used by test/redis-replicas.test.ts and bench/replicas.ts.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Pod } from 'kubernetes-types/core/v1.js';
import type { Emulator } from '../../src/emulator/index.js';
import { INJECT_LABEL, INJECT_LABEL_VALUE, secretsToAnnotations } from '../../src/secret/annotations.js';
import { MountRequirement, makeSecret } from '../../src/secret/model.js';
import type { FlyteSecretId } from '../../src/secret/flyte-id.js';
import { generateCertificates, writeCertificateFiles } from '../../src/webhook/certs.js';
import { buildReview } from './api-server-harness.js';
import { freePort } from './free-port.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin', 'flyte-secrets.js');

export const LABELS = { organization: 'flyte', project: 'flytesnacks', domain: 'development' };
export const NAMESPACE = 'flytesnacks-development';

/** A task pod asking for these Embedded secrets as env vars. */
export function podFor(keys: string[], name = 'task'): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { ...LABELS, [INJECT_LABEL]: INJECT_LABEL_VALUE }, annotations: secretsToAnnotations(keys.map((key) => makeSecret({ key, mountRequirement: MountRequirement.ENV_VAR }))) },
    spec: { containers: [{ name: 'main', image: 'python:3.12' }] },
  };
}


/** What one admission answered. */
export interface Answer {
  allowed: boolean;
  message: string;
  /** Secret env vars (name → value) the patch adds to the main container (not FLYTE_SECRETS_ENV_PREFIX). */
  env: Record<string, string>;
}

export interface Replica {
  readonly port: number;
  readonly invalidationPort: number;
  readonly pid: number;
  /** Admit a pod (POST /mutate--v1-pod). */
  admit(pod: Pod): Promise<Answer>;
  /** POST /invalidate-secret. */
  invalidate(id: FlyteSecretId): Promise<number>;
  /** GET /metrics text. */
  metrics(): Promise<string>;
  /** GET /readyz status. */
  readyz(): Promise<number>;
  stop(): Promise<void>;
  readonly output: () => string;
}

export interface ReplicaSet {
  readonly replicas: Replica[];
  readonly cacheKey: string;
  stop(): Promise<void>;
}

export interface ReplicaOptions {
  count: number;
  emulator: Emulator;
  /** Redis host:port for `cache.type: Redis`; undefined = memory caches only. */
  redisAddr?: string;
  /** Extra `flyteSecrets.redis` settings. */
  redis?: Record<string, unknown>;
  /** Extra environment. */
  env?: NodeJS.ProcessEnv;
}

function envOf(review: string): Record<string, string> {
  const parsed = JSON.parse(review) as { response?: { allowed?: boolean; status?: { message?: string }; patch?: string } };
  const out: Record<string, string> = {};
  const patch = parsed.response?.patch;
  if (patch === undefined) return out;
  const ops = JSON.parse(Buffer.from(patch, 'base64').toString('utf8')) as { op: string; path: string; value?: unknown }[];
  for (const op of ops) {
    if (!op.path.startsWith('/spec/containers/0/env')) continue;
    const items = (Array.isArray(op.value) ? op.value : [op.value]) as { name?: string; value?: string }[];
    for (const e of items) if (e && typeof e.name === 'string' && typeof e.value === 'string' && e.name !== 'FLYTE_SECRETS_ENV_PREFIX') out[e.name] = e.value;
  }
  return out;
}

/** Start `count` serve processes; resolves when all are listening. */
export async function startReplicas(o: ReplicaOptions): Promise<ReplicaSet> {
  const dir = mkdtempSync(join(tmpdir(), 'flyte-secrets-replicas-'));
  const certDir = join(dir, 'certs');
  mkdirSync(certDir, { recursive: true });
  const bundle = await generateCertificates({ serviceName: 'flyte-pod-webhook', namespace: 'flyte', validityMs: 3600_000 });
  writeCertificateFiles(certDir, bundle);
  const agent = new Agent({ ca: bundle.caCert, keepAlive: true, maxSockets: 64 });
  const cacheKey = randomBytes(32).toString('base64');
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: dir,
    NODE_EXTRA_CA_CERTS: o.emulator.caFile,
    AZURE_AUTHORITY_HOST: o.emulator.authorityHost,
    AZURE_TENANT_ID: o.emulator.tenantId,
    AZURE_CLIENT_ID: o.emulator.clientId,
    AZURE_CLIENT_SECRET: o.emulator.clientSecret,
    FLYTE_SECRETS_CACHE_KEY: cacheKey,
    ...o.env,
  };
  const children: ChildProcessWithoutNullStreams[] = [];
  const started = Promise.all(
    Array.from({ length: o.count }, async (_, i): Promise<Replica> => {
      const invalidationPort = await freePort();
      const configFile = join(dir, `config-${i}.json`);
      writeFileSync(
        configFile,
        JSON.stringify({
          webhook: { certDir, cacheInvalidationPort: invalidationPort, secretManagerTypes: ['Embedded'], embeddedSecretManagerConfig: { type: 'Azure', azureConfig: { vaultURI: o.emulator.vaultUrl } } },
          ...(o.redisAddr === undefined ? {} : { cache: { type: 'Redis', redis: { options: { Addr: o.redisAddr } } } }),
          flyteSecrets: { server: { host: '127.0.0.1', logLevel: 'info', maxConcurrentAdmissions: 4096 }, ...(o.redis ? { redis: o.redis } : {}) },
        }),
      );
      const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [BIN, 'serve', '--config', configFile, '--port', '0'], { cwd: ROOT, env });
      children.push(child);
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
      child.stderr.on('data', (c: Buffer) => (out += c.toString('utf8')));
      const port = await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`serve did not start: ${out}`)), 30_000);
        const check = (): void => {
          const line = out.split('\n').find((l) => l.includes('"event":"started"'));
          if (line !== undefined) {
            clearTimeout(timer);
            resolve((JSON.parse(line) as { port: number }).port);
          }
        };
        child.stdout.on('data', check);
        child.on('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`serve exited (${code}): ${out}`));
        });
      });
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      // A kept-alive connection the server closed while idle fails on reuse: sent again once, on a new connection.
      const https = (method: string, path: string, body?: string, retried = false): Promise<{ status: number; text: string }> =>
        new Promise((resolve, reject) => {
          const req = request({ host: '127.0.0.1', port, method, path, agent, servername: 'flyte-pod-webhook.flyte.svc', headers: { 'content-type': 'application/json' } }, (res) => {
            let t = '';
            res.on('data', (c: Buffer) => (t += c.toString('utf8')));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, text: t }));
          });
          req.on('error', (err: NodeJS.ErrnoException) => {
            if (!retried && req.reusedSocket && err.code === 'ECONNRESET') https(method, path, body, true).then(resolve, reject);
            else reject(err);
          });
          req.end(body);
        });
      return {
        port,
        invalidationPort,
        pid: child.pid ?? 0,
        output: () => out,
        async admit(pod) {
          const r = await https('POST', '/mutate--v1-pod', JSON.stringify(buildReview(pod, { namespace: NAMESPACE })));
          const parsed = JSON.parse(r.text) as { response: { allowed: boolean; status?: { message?: string } } };
          return { allowed: parsed.response.allowed, message: parsed.response.status?.message ?? '', env: envOf(r.text) };
        },
        invalidate: (id) =>
          new Promise((resolve, reject) => {
            const req = httpRequest({ host: '127.0.0.1', port: invalidationPort, method: 'POST', path: '/invalidate-secret', headers: { 'content-type': 'application/json' } }, (res) => {
              res.resume();
              res.on('end', () => resolve(res.statusCode ?? 0));
            });
            req.on('error', reject);
            req.end(JSON.stringify(id));
          }),
        metrics: async () => (await https('GET', '/metrics')).text,
        readyz: async () => (await https('GET', '/readyz')).status,
        async stop() {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
          await exited;
        },
      };
    }),
  );
  let replicas: Replica[];
  try {
    replicas = await started;
  } catch (err) {
    // One did not start: stop the others too, so no process outlives the test.
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    agent.destroy();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    replicas,
    cacheKey,
    async stop() {
      await Promise.all(replicas.map((r) => r.stop()));
      agent.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The value of a Prometheus sample in `/metrics` text (sum over matching label sets). */
export function metricSum(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const set = m[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => set.includes(`${k}="${v}"`))) sum += Number(m[3]);
  }
  return sum;
}
