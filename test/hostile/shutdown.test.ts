/**
 * Shutdown under load: `node bin/flyte-secrets.js serve` (build first: `npx tsc -p tsconfig.build.json`) gets a
 * steady stream of mixed admissions — Azure sidecar, K8s, Global, non-pods, denials, and Embedded ones that read
 * Key Vault — over keep-alive connections and fresh ones, then SIGTERM mid-stream.
 *
 * No timing assumption: the emulator parks every Key Vault call (`emu.hold()`), so Embedded admissions stay in flight
 * at the server for as long as the test needs. The test waits until several are parked, sends SIGTERM, waits for the
 * server's `stopping` line, checks that new connections are refused, and only then lets Key Vault answer.
 *
 * Every admission parked at Key Vault when the signal came completes with a valid review for its own uid after it;
 * every other request either completes validly or is refused at the connection (never a partial or invalid answer,
 * never a 5xx); the process logs `stopping` then `stopped` and exits 0 only after the last in-flight answer.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../../src/emulator/index.js';
import { INJECT_LABEL, INJECT_LABEL_VALUE, secretsToAnnotations } from '../../src/secret/annotations.js';
import { MountRequirement, makeSecret } from '../../src/secret/model.js';
import { decodeKeyVaultName } from '../../src/azure/secret-name.js';
import { generateCertificates, writeCertificateFiles } from '../../src/webhook/certs.js';
import { buildReview } from '../support/api-server-harness.js';
import { summary, watchProcess, type ProcessWatch } from './support.js';
import { CLI_BIN as BIN, PACKAGE_ROOT as ROOT } from '../support/cli.js';

const SERVERNAME = 'flyte-pod-webhook.flyte.svc';
const LABELS = { organization: 'flyte', project: 'flytesnacks', domain: 'development', [INJECT_LABEL]: INJECT_LABEL_VALUE };

let watch: ProcessWatch;
let emu: Emulator;
let dir: string;
let caPem: string;
let configFile: string;

function pod(secrets: ReturnType<typeof makeSecret>[], name: string): Pod {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: { ...LABELS }, annotations: secretsToAnnotations(secrets) }, spec: { containers: [{ name: 'main', image: 'python:3.12' }] } };
}

const EMBEDDED_KEYS = 400;
let embeddedCount = 0;

/** The mix: [kind, review builder, what a valid answer looks like]. */
const MIX: { kind: string; review: () => object; allowed: boolean }[] = [
  { kind: 'azure', review: () => buildReview(pod([makeSecret({ group: 'https://myvault.vault.azure.net/secrets/db', mountRequirement: MountRequirement.FILE })], 'a')), allowed: true },
  { kind: 'k8s', review: () => buildReview(pod([makeSecret({ group: 'dbcreds', key: 'password', mountRequirement: MountRequirement.ENV_VAR })], 'k')), allowed: true },
  { kind: 'global', review: () => buildReview(pod([makeSecret({ group: 'app', key: 'token', mountRequirement: MountRequirement.ENV_VAR })], 'g')), allowed: true },
  // Each Embedded admission asks for its own key, so each is its own Key Vault call (no single-flight sharing).
  { kind: 'embedded-slow', review: () => buildReview(pod([makeSecret({ key: `api-key-${embeddedCount++}`, mountRequirement: MountRequirement.ENV_VAR })], 'e')), allowed: true },
  { kind: 'denied', review: () => buildReview(pod([makeSecret({ group: 'x', mountRequirement: MountRequirement.ENV_VAR })], 'd')), allowed: false },
  { kind: 'not-a-pod', review: () => buildReview({ kind: 'ConfigMap' }, { kind: { group: '', version: 'v1', kind: 'ConfigMap' }, resource: { group: '', version: 'v1', resource: 'configmaps' } }), allowed: true },
];

beforeAll(async () => {
  watch = watchProcess();
  dir = mkdtempSync(join(tmpdir(), 'flyte-secrets-shutdown-'));
  emu = await startEmulator({ clientSecret: 'shutdown', rateLimit: 0 });
  emu.seed(Array.from({ length: EMBEDDED_KEYS }, (_, i) => ({ org: 'flyte', domain: 'development', project: 'flytesnacks', flyteName: `api-key-${i}`, string: `api-key-value-${i}` })));
  const certDir = join(dir, 'certs');
  const bundle = await generateCertificates({ serviceName: 'flyte-pod-webhook', namespace: 'flyte', validityMs: 3600_000 });
  writeCertificateFiles(certDir, bundle);
  caPem = bundle.caCert;
  configFile = join(dir, 'config.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      webhook: { certDir, cacheInvalidationPort: 0, webhookTimeout: 30, secretManagerTypes: ['Azure', 'Embedded', 'K8s'], embeddedSecretManagerConfig: { type: 'Azure', azureConfig: { vaultURI: emu.vaultUrl } } },
      // A 1 ms cache: every Embedded admission reads Key Vault. Time bounds far above what the test needs, so the
      // parked calls end when the test releases them, not at a deadline.
      cache: { inMemoryFixedSize: { defaultExpiration: '1ms' } },
      flyteSecrets: { server: { host: '127.0.0.1', shutdownGrace: '28s', logLevel: 'info' }, fetch: { negativeCacheTtl: '1ms', callTimeout: '25s', admissionBudget: '25s' } },
    }),
  );
}, 30_000);

afterAll(async () => {
  await emu?.close();
  rmSync(dir, { recursive: true, force: true });
  watch.dispose();
  expect(watch.problems).toEqual([]);
});

/** The Flyte key of a parked Key Vault path `/secrets/<encoded name>/`. */
function keyOfVaultPath(path: string): string {
  const name = decodeURIComponent(path.split('/')[2] ?? '');
  return decodeKeyVaultName(name).name;
}

interface Sent {
  kind: string;
  uid: string;
  sentAt: number;
  answeredAt?: number;
  status?: number;
  uidBack?: string;
  key?: string;
  allowed?: boolean;
  error?: string;
  lane: string;
}

describe('SIGTERM under load', () => {
  it('every accepted request completes with a valid answer; new connections are refused; exit 0', async () => {
    const held = emu.hold();
    const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [BIN, 'serve', '--config', configFile, '--port', '0'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', NODE_EXTRA_CA_CERTS: emu.caFile, AZURE_AUTHORITY_HOST: emu.authorityHost, AZURE_TENANT_ID: emu.tenantId, AZURE_CLIENT_ID: emu.clientId, AZURE_CLIENT_SECRET: emu.clientSecret, FLYTE_SECRET_APP_TOKEN: 'global-value' },
    });
    const lines: Record<string, unknown>[] = [];
    let buffered = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      buffered += c.toString('utf8');
      let nl;
      while ((nl = buffered.indexOf('\n')) !== -1) {
        lines.push(JSON.parse(buffered.slice(0, nl)) as Record<string, unknown>);
        buffered = buffered.slice(nl + 1);
      }
    });
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    let exitedAt = 0;
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => ((exitedAt = Date.now()), resolve(code))));
    const agents: Agent[] = [];
    try {
      const deadline = Date.now() + 15_000;
      while (!lines.some((l) => l['event'] === 'started') && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
      const port = lines.find((l) => l['event'] === 'started')?.['port'] as number;
      expect(port, stderr).toBeGreaterThan(0);

      const sent: Sent[] = [];
      const send = (agent: Agent | false, lane: string, i: number): Promise<void> => {
        const mix = MIX[i % MIX.length]!;
        // The key the next Embedded review asks for (the builder numbers them).
        const key = mix.kind === 'embedded-slow' ? `api-key-${embeddedCount}` : undefined;
        const review = mix.review() as { request: { uid: string } };
        const body = JSON.stringify(review);
        const s: Sent = { kind: mix.kind, uid: review.request.uid, sentAt: Date.now(), lane, ...(key === undefined ? {} : { key }) };
        sent.push(s);
        return new Promise((resolve) => {
          const req = httpsRequest(
            { host: '127.0.0.1', port, method: 'POST', path: '/mutate--v1-pod', agent, ca: caPem, servername: SERVERNAME, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
            (res) => {
              let text = '';
              res.on('data', (c: Buffer) => (text += c.toString('utf8')));
              res.on('end', () => {
                s.answeredAt = Date.now();
                s.status = res.statusCode ?? 0;
                try {
                  const back = JSON.parse(text) as { response?: { uid: string; allowed: boolean } };
                  if (back.response !== undefined) {
                    s.uidBack = back.response.uid;
                    s.allowed = back.response.allowed;
                  }
                } catch {
                  s.error = `unparsable answer: ${text.slice(0, 100)}`;
                }
                resolve();
              });
              res.on('error', (e) => ((s.error = `response: ${e.message}`), resolve()));
            },
          );
          req.on('error', (e: NodeJS.ErrnoException) => ((s.error = e.code ?? e.message), resolve()));
          req.end(body);
        });
      };

      // Four keep-alive lanes sending back to back, and a fresh connection every 40 ms.
      let stop = false;
      const lanes = Array.from({ length: 4 }, async (_, lane) => {
        const agent = new Agent({ keepAlive: true, maxSockets: 1 });
        agents.push(agent);
        for (let i = lane; !stop; i += 4) {
          await send(agent, `keepalive-${lane}`, i);
          // After a refusal, do not spin: the API server backs off too.
          if (sent.at(-1)?.error !== undefined) await new Promise((r) => setTimeout(r, 50));
        }
      });
      const fresh = (async () => {
        const pending: Promise<void>[] = [];
        for (let i = 0; !stop; i++) {
          pending.push(send(false, 'fresh', i));
          await new Promise((r) => setTimeout(r, 40));
        }
        await Promise.all(pending);
      })();

      // Several Embedded admissions are now parked at Key Vault, in flight at the server; then the signal.
      // (Other kinds' lookups park too: Embedded looks every key up before K8s gets it.)
      const parkedEmbedded = (): string[] => held.parked.map(keyOfVaultPath).filter((k) => k.startsWith('api-key-'));
      while (parkedEmbedded().length < 3) await held.waitForParked(held.parked.length + 1);
      const parkedAtKill = new Set(parkedEmbedded());
      if (process.env.DEBUG_SHUTDOWN) console.log(held.parked, [...parkedAtKill]);
      const killedAt = Date.now();
      child.kill('SIGTERM');
      // The server stops accepting connections before it logs `stopping`.
      while (!lines.some((l) => l['event'] === 'stopping') && child.exitCode === null) await new Promise((r) => setTimeout(r, 20));
      const refused = await new Promise<string>((resolve) => {
        const sock = tlsConnect({ host: '127.0.0.1', port, ca: caPem, servername: SERVERNAME }, () => (sock.end(), resolve('connected')));
        sock.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      });
      const answeredBeforeRelease = sent.filter((s) => s.key !== undefined && parkedAtKill.has(s.key) && s.answeredAt !== undefined).length;
      stop = true;
      // Now let Key Vault answer: the parked admissions complete, then the server stops.
      held.release();
      await Promise.all([...lanes, fresh]);
      const code = await exited;

      // Classify.
      const valid = (s: Sent): boolean => s.error === undefined && s.status === 200 && s.uidBack === s.uid && s.allowed === MIX.find((m) => m.kind === s.kind)!.allowed;
      // Every request: a valid answer, or refused at the connection (never a partial or invalid answer, never a 5xx).
      for (const s of sent) {
        if (s.error !== undefined) expect(['ECONNREFUSED', 'ECONNRESET', 'EPIPE'], `${s.lane} ${s.kind}`).toContain(s.error.replace(/^response: socket hang up$/, 'ECONNRESET'));
        else expect(valid(s), `${s.lane} ${s.kind} answered HTTP ${s.status}`).toBe(true);
      }
      if (process.env.DEBUG_SHUTDOWN) console.log(JSON.stringify(sent.map((s) => [s.kind, s.sentAt - killedAt, (s.answeredAt ?? 0) - s.sentAt, s.error])));
      // The admissions parked at Key Vault when the signal came were answered after it, each with a valid review.
      const parkedAdmissions = sent.filter((s) => s.key !== undefined && parkedAtKill.has(s.key));
      expect(parkedAdmissions.length).toBeGreaterThanOrEqual(3);
      expect(answeredBeforeRelease).toBe(0);
      expect(parkedAdmissions.filter((s) => !valid(s) || s.answeredAt! < killedAt).map((s) => `${s.lane} ${s.key}: ${s.error ?? s.status}`)).toEqual([]);
      expect(refused).toBe('ECONNREFUSED');
      expect(code, stderr).toBe(0);
      // The process answered every parked admission (checked above) before it exited: a process sends nothing after
      // its exit, and the order in which this process notices an exit and reads a socket is not the order they happened.
      const events = lines.map((l) => l['event']);
      expect(events.indexOf('stopping')).toBeGreaterThan(events.indexOf('started'));
      expect(events.at(-1)).toBe('stopped');
      expect(lines.filter((l) => l['event'] === 'request_error')).toEqual([]);

      summary('shutdown', {
        sent: sent.length,
        answered: sent.filter(valid).length,
        refusedAtConnection: sent.filter((s) => s.error !== undefined).length,
        parkedAtSignal: parkedAdmissions.length,
        drainMs: exitedAt - killedAt,
        exitCode: String(code),
      });
    } finally {
      held.release();
      for (const a of agents) a.destroy();
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 60_000);
});
