import 'reflect-metadata';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFlyteSecretsError } from '../errors.js';
import { generateCertificates, type CertificateBundle } from './certs.js';
import { createLogger } from './logger.js';
import { loadTlsKeyPair, watchTlsKeyPair, type TlsKeyPair } from './tls.js';

let root: string;
let first: CertificateBundle;
let second: CertificateBundle;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'flyte-secrets-tls-'));
  first = await generateCertificates({ serviceName: 'flyte-pod-webhook', namespace: 'flyte', validityMs: 3600_000 });
  second = await generateCertificates({ serviceName: 'flyte-pod-webhook', namespace: 'flyte', validityMs: 3600_000, ca: { cert: first.caCert, key: first.caKey } });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Lay a pair out the way a Kubernetes Secret volume does: files → ..data/… → ..<timestamp>/… */
function secretVolume(dir: string, bundle: CertificateBundle, generation: string): void {
  const gen = join(dir, `..${generation}`);
  mkdirSync(gen, { recursive: true });
  writeFileSync(join(gen, 'tls.crt'), bundle.tlsCert);
  writeFileSync(join(gen, 'tls.key'), bundle.tlsKey);
  // Atomic swap of ..data, as kubelet's AtomicWriter does.
  symlinkSync(`..${generation}`, join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
}

describe('loadTlsKeyPair', () => {
  it('reads tls.crt and tls.key', () => {
    const dir = mkdtempSync(join(root, 'ok-'));
    writeFileSync(join(dir, 'tls.crt'), first.tlsCert);
    writeFileSync(join(dir, 'tls.key'), first.tlsKey);
    expect(loadTlsKeyPair(dir)).toEqual({ cert: first.tlsCert, key: first.tlsKey });
  });

  it('refuses a key that does not match the certificate, naming the directory', () => {
    const dir = mkdtempSync(join(root, 'mismatch-'));
    writeFileSync(join(dir, 'tls.crt'), first.tlsCert);
    writeFileSync(join(dir, 'tls.key'), second.tlsKey);
    let caught: unknown;
    try {
      loadTlsKeyPair(dir);
    } catch (err) {
      caught = err;
    }
    expect(isFlyteSecretsError(caught, 'InvalidConfig')).toBe(true);
    expect((caught as Error).message).toContain(`the TLS files in ${dir} are not a usable pair`);
    expect((caught as Error).message).not.toContain('PRIVATE KEY');
  });

  it('names a missing file and what to do', () => {
    const dir = mkdtempSync(join(root, 'missing-'));
    writeFileSync(join(dir, 'tls.crt'), first.tlsCert);
    expect(() => loadTlsKeyPair(dir)).toThrow(`${join(dir, 'tls.key')}: no such file (set webhook.certDir, or create the files with \`flyte-secrets certs init\`)`);
  });
});

describe('watchTlsKeyPair', () => {
  it('follows a Secret-volume symlink swap, and keeps the old pair when the new one is broken', () => {
    const dir = mkdtempSync(join(root, 'vol-'));
    secretVolume(dir, first, '2026_11_28_01');
    symlinkSync('..data/tls.crt', join(dir, 'tls.crt'));
    symlinkSync('..data/tls.key', join(dir, 'tls.key'));
    const lines: Record<string, unknown>[] = [];
    const reloads: TlsKeyPair[] = [];
    const w = watchTlsKeyPair({
      certDir: dir,
      pollIntervalMs: 60_000, // driven by check() here
      logger: createLogger({ destination: { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) } }),
      onReload: (pair) => void reloads.push(pair),
    });
    try {
      expect(w.current().cert).toBe(first.tlsCert);
      expect(w.check()).toBe(false); // nothing changed

      secretVolume(dir, second, '2026_11_28_02');
      expect(w.check()).toBe(true);
      expect(reloads).toHaveLength(1);
      expect(w.current().cert).toBe(second.tlsCert);
      const reloaded = lines.find((l) => l['event'] === 'tls_reloaded');
      expect(reloaded?.['fingerprint']).toBe(new X509Certificate(second.tlsCert).fingerprint256);

      // A half-written update (new certificate, old key): logged once, old pair kept, retried later.
      const broken: CertificateBundle = { ...first, tlsKey: second.tlsKey };
      secretVolume(dir, broken, '2026_11_28_03');
      expect(w.check()).toBe(false);
      expect(w.check()).toBe(false);
      expect(w.current().cert).toBe(second.tlsCert);
      expect(lines.filter((l) => l['event'] === 'tls_reload_failed')).toHaveLength(1);
      expect(JSON.stringify(lines)).not.toContain('PRIVATE KEY');

      // Fixed: picked up.
      secretVolume(dir, first, '2026_11_28_04');
      expect(w.check()).toBe(true);
      expect(w.current().cert).toBe(first.tlsCert);
    } finally {
      w.close();
    }
  });

  it('notices a change by itself (fs.watch or the poll)', async () => {
    const dir = mkdtempSync(join(root, 'auto-'));
    writeFileSync(join(dir, 'tls.crt'), first.tlsCert);
    writeFileSync(join(dir, 'tls.key'), first.tlsKey);
    let reloaded: ((pair: TlsKeyPair) => void) | undefined;
    const got = new Promise<TlsKeyPair>((resolve) => (reloaded = resolve));
    const w = watchTlsKeyPair({ certDir: dir, pollIntervalMs: 200, debounceMs: 20, onReload: (pair) => reloaded?.(pair) });
    try {
      writeFileSync(join(dir, 'tls.key.tmp'), second.tlsKey);
      writeFileSync(join(dir, 'tls.crt.tmp'), second.tlsCert);
      renameSync(join(dir, 'tls.key.tmp'), join(dir, 'tls.key'));
      renameSync(join(dir, 'tls.crt.tmp'), join(dir, 'tls.crt'));
      const pair = await Promise.race([got, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no reload within 3 s')), 3000))]);
      expect(pair.cert).toBe(second.tlsCert);
    } finally {
      w.close();
    }
  });
});
