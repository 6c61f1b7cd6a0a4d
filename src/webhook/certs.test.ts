import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  certificateExpiry,
  certificateSecretData,
  certificatesFromSecretData,
  certificatesMatch,
  checkCertificates,
  generateCertificates,
  keyMatchesCertificate,
  needsRenewal,
  readCertificateFiles,
  reusableCa,
  servingDnsNames,
  writeCertificateFiles,
  type CertificateBundle,
} from './certs.js';

const DAY = 86_400_000;
const YEAR = 365 * DAY;
const NOW = new Date('2026-06-01T00:00:00Z');

let bundle: CertificateBundle;
let other: CertificateBundle;
const tmp = mkdtempSync(join(tmpdir(), 'certs-test-'));

beforeAll(async () => {
  bundle = await generateCertificates({ serviceName: 'flyte-pod-webhook', namespace: 'flyte', validityMs: YEAR, now: NOW });
  other = await generateCertificates({ serviceName: 'flyte-pod-webhook', namespace: 'flyte', validityMs: YEAR, now: NOW });
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('generateCertificates', () => {
  it('makes a CA and a serving certificate for <svc>.<ns>.svc (Flyte: `executor/pkg/webhook/entrypoint.go`)', () => {
    const ca = new X509Certificate(bundle.caCert);
    const tls = new X509Certificate(bundle.tlsCert);
    expect(ca.ca).toBe(true);
    expect(tls.ca).toBe(false);
    expect(ca.subject).toContain('O=flyte.org');
    expect(tls.subject).toContain('CN=flyte-pod-webhook.flyte.svc');
    expect(tls.subject).toContain('O=flyte.org');
    expect(tls.issuer).toBe(ca.subject);
    expect(tls.subjectAltName).toBe(
      'DNS:flyte-pod-webhook, DNS:flyte-pod-webhook.flyte, DNS:flyte-pod-webhook.flyte.svc, DNS:flyte-pod-webhook.flyte.svc.cluster.local',
    );
    expect(tls.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']); // extended key usage: serverAuth
    expect(tls.publicKey.asymmetricKeyType).toBe('ec');
    expect(tls.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
  });

  it('sets validity from now (minus 5 minutes of skew) for validityMs; the CA lives 10× longer', () => {
    const tls = new X509Certificate(bundle.tlsCert);
    const ca = new X509Certificate(bundle.caCert);
    expect(new Date(tls.validFrom).getTime()).toBe(NOW.getTime() - 5 * 60_000);
    expect(new Date(tls.validTo).getTime()).toBe(NOW.getTime() + YEAR);
    expect(new Date(ca.validTo).getTime()).toBe(NOW.getTime() + 10 * YEAR);
    expect(certificateExpiry(bundle.tlsCert).getTime()).toBe(NOW.getTime() + YEAR);
  });

  it('gives PEM: certificates and PKCS#8 keys matching them', () => {
    expect(bundle.caCert).toMatch(/^-----BEGIN CERTIFICATE-----\n[\s\S]+-----END CERTIFICATE-----\n$/);
    expect(bundle.tlsKey).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(bundle.caKey).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(keyMatchesCertificate(bundle.tlsCert, bundle.tlsKey)).toBe(true);
    expect(keyMatchesCertificate(bundle.caCert, bundle.caKey)).toBe(true);
    expect(keyMatchesCertificate(bundle.tlsCert, bundle.caKey)).toBe(false);
    expect(createPrivateKey(bundle.tlsKey).asymmetricKeyType).toBe('ec');
  });

  it('signs a new serving certificate with a given CA, and never past the CA’s expiry', async () => {
    const renewed = await generateCertificates({
      serviceName: 'flyte-pod-webhook',
      namespace: 'flyte',
      validityMs: 20 * YEAR,
      now: NOW,
      ca: { cert: bundle.caCert, key: bundle.caKey },
    });
    expect(renewed.caCert).toBe(bundle.caCert);
    expect(renewed.tlsCert).not.toBe(bundle.tlsCert);
    expect(certificatesMatch(bundle.caCert, renewed.tlsCert)).toBe(true);
    expect(certificateExpiry(renewed.tlsCert).getTime()).toBe(certificateExpiry(bundle.caCert).getTime());
  });

  it('refuses a CA it cannot sign with', async () => {
    const rsa = (await import('node:crypto')).generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
    await expect(generateCertificates({ serviceName: 's', namespace: 'n', validityMs: YEAR, ca: { cert: bundle.caCert, key: rsa } })).rejects.toMatchObject({
      code: 'InvalidInput',
      message: 'cannot sign with the given CA: it needs a PEM certificate and its ECDSA P-256 private key',
    });
    await expect(generateCertificates({ serviceName: 's', namespace: 'n', validityMs: YEAR, ca: { cert: bundle.caCert, key: other.caKey } })).rejects.toMatchObject({ code: 'InvalidInput' });
  });

  it('refuses empty names and non-positive validity', async () => {
    await expect(generateCertificates({ serviceName: '', namespace: 'flyte', validityMs: YEAR })).rejects.toMatchObject({ code: 'InvalidInput' });
    await expect(generateCertificates({ serviceName: 's', namespace: 'n', validityMs: 0 })).rejects.toMatchObject({ code: 'InvalidInput' });
  });

  it('serves TLS that a client trusting only the CA accepts for <svc>.<ns>.svc', async () => {
    const server = createServer({ cert: bundle.tlsCert, key: bundle.tlsKey }, (_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const body = await new Promise<string>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, servername: 'flyte-pod-webhook.flyte.svc', ca: bundle.caCert, path: '/' }, (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => resolve(text));
        });
        req.on('error', reject);
        req.end();
      });
      expect(body).toBe('ok');
      // the other CA is not trusted
      await expect(
        new Promise((resolve, reject) => {
          const req = request({ host: '127.0.0.1', port, servername: 'flyte-pod-webhook.flyte.svc', ca: other.caCert, path: '/' }, resolve);
          req.on('error', reject);
          req.end();
        }),
      ).rejects.toThrow();
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('certificate checks', () => {
  it('servingDnsNames', () => {
    expect(servingDnsNames('svc', 'ns')).toEqual(['svc', 'svc.ns', 'svc.ns.svc', 'svc.ns.svc.cluster.local']);
  });

  it('certificatesMatch: only the issuing CA', () => {
    expect(certificatesMatch(bundle.caCert, bundle.tlsCert)).toBe(true);
    expect(certificatesMatch(other.caCert, bundle.tlsCert)).toBe(false);
    expect(certificatesMatch('not a pem', bundle.tlsCert)).toBe(false);
  });

  it.each([
    ['far from expiry', NOW.getTime() + 100 * DAY, false],
    ['just outside renewBefore', NOW.getTime() + YEAR - 31 * DAY, false],
    ['inside renewBefore', NOW.getTime() + YEAR - 29 * DAY, true],
    ['expired', NOW.getTime() + YEAR + DAY, true],
  ])('needsRenewal: %s', (_name, at, expected) => {
    expect(needsRenewal(bundle.tlsCert, 30 * DAY, new Date(at))).toBe(expected);
  });

  it('certificateExpiry rejects what is not a certificate', () => {
    expect(() => certificateExpiry('garbage')).toThrow(expect.objectContaining({ code: 'InvalidInput' }) as Error);
  });

  const opts = { serviceName: 'flyte-pod-webhook', namespace: 'flyte', renewBeforeMs: 30 * DAY, now: new Date(NOW.getTime() + DAY) };
  it('checkCertificates: a fresh bundle is valid', () => {
    expect(checkCertificates(bundle, opts)).toEqual({ valid: true, expiresAt: new Date(NOW.getTime() + YEAR), caExpiresAt: new Date(NOW.getTime() + 10 * YEAR) });
  });
  it.each<[string, () => Partial<CertificateBundle>, Partial<typeof opts>, RegExp]>([
    ['missing parts', () => ({ caCert: bundle.caCert }), {}, /^missing tls\.crt, tls\.key$/],
    ['bad PEM', () => ({ ...bundle, tlsCert: 'nope' }), {}, /tls\.crt is not a PEM certificate/],
    ['foreign CA', () => ({ ...bundle, caCert: other.caCert }), {}, /tls\.crt is not signed by ca\.crt/],
    ['foreign key', () => ({ ...bundle, tlsKey: other.tlsKey }), {}, /tls\.key does not match tls\.crt/],
    ['other service', () => bundle, { serviceName: 'other-webhook' }, /does not cover other-webhook/],
    ['other namespace', () => bundle, { namespace: 'kube-system' }, /does not cover flyte-pod-webhook\.kube-system/],
    ['near expiry', () => bundle, { now: new Date(NOW.getTime() + YEAR - 10 * DAY) }, /tls\.crt expires at/],
    ['expired', () => bundle, { now: new Date(NOW.getTime() + YEAR + DAY) }, /tls\.crt expired at/],
    ['not yet valid', () => bundle, { now: new Date(NOW.getTime() - DAY) }, /not valid before/],
  ])('checkCertificates: %s', (_name, stored, override, reason) => {
    const result = checkCertificates(stored(), { ...opts, ...override });
    expect(result.valid).toBe(false);
    expect(result.valid ? '' : result.reason).toMatch(reason);
  });

  it('reusableCa: only a CA with its EC key that outlives the new certificate', () => {
    expect(reusableCa(bundle, YEAR, NOW)).toEqual({ cert: bundle.caCert, key: bundle.caKey });
    expect(reusableCa({ caCert: bundle.caCert, tlsCert: bundle.tlsCert, tlsKey: bundle.tlsKey }, YEAR, NOW)).toBeUndefined();
    expect(reusableCa({ ...bundle, caKey: other.caKey }, YEAR, NOW)).toBeUndefined();
    expect(reusableCa(bundle, YEAR, new Date(NOW.getTime() + 9.5 * YEAR))).toBeUndefined();
    expect(reusableCa({ ...bundle, caCert: bundle.tlsCert, caKey: bundle.tlsKey }, DAY, NOW)).toBeUndefined(); // not a CA
  });

  it('Secret data round trip (base64, four keys)', () => {
    const data = certificateSecretData(bundle);
    expect(Object.keys(data).sort()).toEqual(['ca.crt', 'ca.key', 'tls.crt', 'tls.key']);
    expect(Buffer.from(data['ca.crt'] as string, 'base64').toString()).toBe(bundle.caCert);
    expect(certificatesFromSecretData(data)).toEqual(bundle);
    expect(certificatesFromSecretData({ 'tls.crt': data['tls.crt'] as string })).toEqual({ tlsCert: bundle.tlsCert });
    expect(certificatesFromSecretData(undefined)).toEqual({});
  });
});

describe('writeCertificateFiles', () => {
  it('creates the directory 0755, ca.crt/tls.crt 0644, tls.key 0600, never the CA key', () => {
    const dir = join(tmp, 'a', 'certs');
    const result = writeCertificateFiles(dir, bundle);
    expect(result.written.sort()).toEqual(['ca.crt', 'tls.crt', 'tls.key']);
    expect(statSync(dir).mode & 0o777).toBe(0o755);
    expect(statSync(join(dir, 'ca.crt')).mode & 0o777).toBe(0o644);
    expect(statSync(join(dir, 'tls.crt')).mode & 0o777).toBe(0o644);
    expect(statSync(join(dir, 'tls.key')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dir, 'tls.key'), 'utf8')).toBe(bundle.tlsKey);
    expect(readCertificateFiles(dir)).toEqual({ caCert: bundle.caCert, tlsCert: bundle.tlsCert, tlsKey: bundle.tlsKey });
  });

  it('leaves files with the right content alone and replaces the others', () => {
    const dir = join(tmp, 'b');
    writeCertificateFiles(dir, bundle);
    expect(writeCertificateFiles(dir, bundle).written).toEqual([]);
    expect(writeCertificateFiles(dir, { ...bundle, tlsCert: other.tlsCert, tlsKey: other.tlsKey }).written.sort()).toEqual(['tls.crt', 'tls.key']);
    expect(readFileSync(join(dir, 'tls.crt'), 'utf8')).toBe(other.tlsCert);
  });

  it('reports a clear error when the directory cannot be written', () => {
    const file = join(tmp, 'plain-file');
    writeFileSync(file, 'x');
    expect(() => writeCertificateFiles(join(file, 'sub'), bundle)).toThrow(/cannot write certificates into .*plain-file\/sub: (ENOTDIR|EEXIST)/);
  });
});
