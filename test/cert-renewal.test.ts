// In-process certificate renewal: startCertificateRenewal (src/webhook/certs.ts) against the fake Kubernetes API
// server renews a near-expiry serving certificate in the webhook Secret, writes it into certDir, and the running
// HTTPS server (its TLS watcher) presents the renewed certificate to new connections, without a restart. Also: the
// loop's timer, the CA-change hook, the interval derived from renewBefore, and `serve` turning renewal on or off.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import type { Config } from '../src/config/schema.js';
import { buildInjectors, createMutator } from '../src/inject/mutator.js';
import {
  certificateRenewalIntervalMs,
  initCertificates,
  startCertificateRenewal,
  type CertificateRenewal,
  type InitCertificatesResult,
} from '../src/webhook/certs.js';
import { startWebhookServer, type WebhookServer } from '../src/webhook/server.js';
import { decodeSecretData, startFakeKubeApiServer, type FakeKubeApiServer } from './support/fake-kube-apiserver.js';
import { CLI_BIN as BIN, PACKAGE_ROOT as ROOT } from './support/cli.js';

const HOUR = 3_600_000;

let kube: FakeKubeApiServer;
let core: CoreV1Api;
const tmp = mkdtempSync(join(tmpdir(), 'cert-renewal-'));
const servers: WebhookServer[] = [];
const loops: CertificateRenewal[] = [];

beforeAll(async () => {
  kube = await startFakeKubeApiServer();
  const kc = new KubeConfig();
  kc.loadFromFile(kube.kubeconfigPath);
  core = kc.makeApiClient(CoreV1Api);
});
afterAll(async () => {
  for (const l of loops) l.stop();
  await Promise.all(servers.map((s) => s.close(0)));
  await kube.close();
  rmSync(tmp, { recursive: true, force: true });
});

let counter = 0;
/** A config with localCert into a fresh certDir and a serving certificate valid 2 h, renewed with 1 h left. */
function setup(): { config: Config; namespace: string; certDir: string } {
  counter++;
  const certDir = join(tmp, `certs-${counter}`);
  const config = parseConfig({
    webhook: { certDir, localCert: true, secretManagerTypes: ['Global'] },
    flyteSecrets: { certs: { validity: '2h', renewBefore: '1h' }, server: { host: '127.0.0.1', shutdownGrace: '1s' } },
  });
  return { config, namespace: `renew-${counter}`, certDir };
}

/** The same config with a serving certificate valid only 30 minutes. */
function shortLived(config: Config): Config {
  return { ...config, flyteSecrets: { ...config.flyteSecrets, certs: { ...config.flyteSecrets.certs, validity: HOUR / 2 } } };
}

async function startServer(config: Config): Promise<WebhookServer> {
  const server = await startWebhookServer({ config, mutator: createMutator(config, buildInjectors(config, {})), port: 0, tlsPollIntervalMs: 100 });
  servers.push(server);
  return server;
}

/** SHA-256 fingerprint of the certificate the server presents to a new TLS connection (verified against `ca`). */
function presented(port: number, ca: string, namespace: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca, servername: `flyte-pod-webhook.${namespace}.svc`, ALPNProtocols: ['http/1.1'] }, () => {
      const fp = socket.getPeerX509Certificate()?.fingerprint256 ?? '';
      socket.end();
      resolve(fp);
    });
    socket.setTimeout(3000, () => socket.destroy(new Error('TLS handshake timed out')));
    socket.on('error', reject);
  });
}

function fingerprint(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

async function waitFor(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('startCertificateRenewal', () => {
  it('renews a near-expiry certificate in the Secret and the files, and the running server presents it to new connections', async () => {
    const { config, namespace, certDir } = setup();
    // The first certificate is valid 30 minutes: less than renewBefore (1 h) is left.
    const first = await initCertificates(shortLived(config), { core, namespace });
    expect(first.action).toBe('created');
    const server = await startServer(config);
    const ca = first.certificates.caCert;
    expect(await presented(server.port, ca, namespace)).toBe(fingerprint(first.certificates.tlsCert));

    const renewal = startCertificateRenewal(config, { core, namespace, intervalMs: HOUR });
    loops.push(renewal);
    const result = await renewal.runOnce();
    renewal.stop();
    expect(result.action).toBe('renewed');
    expect(result.caChanged).toBe(false);
    expect(result.local?.written).toContain('tls.crt');
    const renewed = result.certificates.tlsCert;
    expect(fingerprint(renewed)).not.toBe(fingerprint(first.certificates.tlsCert));
    expect(decodeSecretData(kube.store.get('secrets', namespace, 'flyte-pod-webhook'))['tls.crt']).toBe(renewed);
    expect(readFileSync(join(certDir, 'tls.crt'), 'utf8')).toBe(renewed);
    expect(readFileSync(join(certDir, 'ca.crt'), 'utf8')).toBe(ca);

    // Same CA, so the caBundle stays valid; the server switches without a restart.
    await waitFor(async () => (await presented(server.port, ca, namespace)) === fingerprint(renewed), 'the server to present the renewed certificate');
  });

  it('keeps good certificates and touches no file', async () => {
    const { config, namespace, certDir } = setup();
    await initCertificates(config, { core, namespace });
    const before = readFileSync(join(certDir, 'tls.crt'), 'utf8');
    const renewal = startCertificateRenewal(config, { core, namespace, intervalMs: HOUR });
    loops.push(renewal);
    const result = await renewal.runOnce();
    renewal.stop();
    expect(result.action).toBe('kept');
    expect(result.local?.written).toEqual([]);
    expect(readFileSync(join(certDir, 'tls.crt'), 'utf8')).toBe(before);
  });

  it('checks on its timer, and calls onCaChanged when a new CA had to be made', async () => {
    const { config, namespace, certDir } = setup();
    const first = await initCertificates(shortLived(config), { core, namespace });
    // Without ca.key the CA cannot sign a renewal: the next renewal makes a new CA.
    const secret = kube.store.get('secrets', namespace, 'flyte-pod-webhook');
    const data = { ...(secret?.['data'] as Record<string, string>) };
    delete data['ca.key'];
    await core.replaceNamespacedSecret({ name: 'flyte-pod-webhook', namespace, body: { ...secret, data } as never });

    const changed: InitCertificatesResult[] = [];
    const renewal = startCertificateRenewal(config, {
      core,
      namespace,
      intervalMs: 50,
      jitter: 0,
      onCaChanged: async (r) => {
        changed.push(r);
        await Promise.resolve();
      },
    });
    loops.push(renewal);
    await waitFor(() => changed.length > 0, 'the timer-driven check to renew with a new CA');
    renewal.stop();
    expect(changed[0]?.caChanged).toBe(true);
    expect(readFileSync(join(certDir, 'ca.crt'), 'utf8')).not.toBe(first.certificates.caCert);
    expect(readFileSync(join(certDir, 'ca.crt'), 'utf8')).toBe(changed[0]?.certificates.caCert);
  });

  it('logs a failed check and keeps the loop alive', async () => {
    const { config, namespace } = setup();
    const lines: Record<string, unknown>[] = [];
    const logger = { warn: (o: Record<string, unknown>) => lines.push(o), info: () => undefined, debug: () => undefined } as unknown as Parameters<typeof startCertificateRenewal>[1]['logger'];
    const broken = new KubeConfig();
    broken.loadFromOptions({
      clusters: [{ name: 'c', server: 'https://127.0.0.1:1', skipTLSVerify: true }],
      users: [{ name: 'u' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    const renewal = startCertificateRenewal(config, { core: broken.makeApiClient(CoreV1Api), namespace, intervalMs: HOUR, ...(logger ? { logger } : {}) });
    loops.push(renewal);
    await expect(renewal.runOnce()).rejects.toThrow();
    renewal.stop();
    expect(lines.map((l) => l['event'])).toEqual(['certs_renewal_failed']);
  });

  it.each([
    ['720h (default)', 720 * HOUR, 12 * HOUR],
    ['1h', HOUR, 15 * 60_000],
    ['1s', 1000, 60_000],
  ])('checks every renewBefore/4 between 1 min and 12 h: %s', (_name, renewBefore, expected) => {
    expect(certificateRenewalIntervalMs({ renewBefore })).toBe(expected);
  });
});

describe('serve', () => {
  function runServe(config: Record<string, unknown>, env: Record<string, string>): Promise<{ lines: Record<string, unknown>[]; code: number | null }> {
    const dir = mkdtempSync(join(tmp, 'serve-'));
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify(config));
    return new Promise((resolve, reject) => {
      const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [BIN, 'serve', '--config', file, '--port', '0', '--invalidation-port', '0'], {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '', HOME: dir, ...env },
      });
      const lines: Record<string, unknown>[] = [];
      let buf = '';
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      child.stdout.on('data', (b: Buffer) => {
        buf += b.toString('utf8');
        for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          try {
            const rec = JSON.parse(line) as Record<string, unknown>;
            lines.push(rec);
            if (rec['event'] === 'started') child.kill('SIGTERM');
          } catch {
            // not a log line
          }
        }
      });
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ lines, code });
      });
    });
  }

  beforeAll(() => {
    expect(existsSync(join(ROOT, 'dist', 'cli', 'main.js')), 'dist/ is missing: run `npm run build` first (npm test does)').toBe(true);
  });

  it('turns renewal on with localCert and a Kubernetes API, and off without one', async () => {
    const { namespace } = setup();
    const certDir = join(tmp, 'serve-certs');
    const config = {
      webhook: { certDir, localCert: true, secretManagerTypes: ['Global'] },
      flyteSecrets: { server: { host: '127.0.0.1', shutdownGrace: '1s' } },
    };
    await initCertificates(parseConfig(config), { core, namespace });

    const on = await runServe(config, { KUBECONFIG: kube.kubeconfigPath, POD_NAMESPACE: namespace });
    expect(on.code).toBe(0);
    expect(on.lines.find((l) => l['event'] === 'certs_renewal_on')).toMatchObject({ namespace, certDir, intervalMs: 12 * HOUR });

    const off = await runServe(config, {});
    expect(off.code).toBe(0);
    expect(off.lines.find((l) => l['event'] === 'certs_renewal_off')?.['msg']).toMatch(/no Kubernetes API configuration/);
  });
});
