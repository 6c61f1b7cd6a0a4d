import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateEmulatorTls, isUsableCa } from './tls.js';

describe('generateEmulatorTls', () => {
  it('makes a CA and a serving certificate it signed, for localhost and the loopback IPs', async () => {
    const tls = await generateEmulatorTls();
    const ca = new X509Certificate(tls.caCert);
    const cert = new X509Certificate(tls.cert);
    expect(ca.ca).toBe(true);
    expect(cert.ca).toBe(false);
    expect(cert.verify(ca.publicKey)).toBe(true);
    expect(cert.checkIssued(ca)).toBe(true);
    expect(cert.checkHost('localhost')).toBe('localhost');
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(cert.checkIP('::1')).toBe('::1');
    expect(cert.checkHost('example.com')).toBeUndefined();
    expect(cert.checkPrivateKey(await import('node:crypto').then((c) => c.createPrivateKey(tls.key)))).toBe(true);
    expect(isUsableCa(tls)).toBe(true);
  });

  it('reuses a given CA and adds extra hosts', async () => {
    const first = await generateEmulatorTls();
    const second = await generateEmulatorTls({ ca: first, hosts: ['kv.local', '10.0.0.5'] });
    expect(second.caCert).toBe(first.caCert);
    const cert = new X509Certificate(second.cert);
    expect(cert.checkIssued(new X509Certificate(first.caCert))).toBe(true);
    expect(cert.checkHost('kv.local')).toBe('kv.local');
    expect(cert.checkIP('10.0.0.5')).toBe('10.0.0.5');
  });

  it('isUsableCa refuses mismatched keys, non-CA certificates and CAs about to expire', async () => {
    const a = await generateEmulatorTls();
    const b = await generateEmulatorTls();
    expect(isUsableCa({ caCert: a.caCert, caKey: b.caKey })).toBe(false);
    expect(isUsableCa({ caCert: a.cert, caKey: a.key })).toBe(false);
    expect(isUsableCa(a, 24 * 3600_000, new Date(Date.now() + 400 * 24 * 3600_000))).toBe(false);
    expect(isUsableCa({ caCert: 'garbage', caKey: 'garbage' })).toBe(false);
  });
});
