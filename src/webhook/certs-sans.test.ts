// Extra subjectAltNames of generateCertificates (extraDnsNames, ipAddresses): a serving certificate a client can
// verify when it calls the webhook by IP or as localhost (flyte-secrets dev).
import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isFlyteSecretsError } from '../errors.js';
import { generateCertificates } from './certs.js';

const YEAR = 365 * 86_400_000;

describe('generateCertificates: extra names', () => {
  it('adds DNS names after the Service names, then IP addresses, without duplicates', async () => {
    const b = await generateCertificates({
      serviceName: 'flyte-pod-webhook',
      namespace: 'flyte',
      validityMs: YEAR,
      extraDnsNames: ['localhost', 'flyte-pod-webhook'],
      ipAddresses: ['127.0.0.1', '::1', '127.0.0.1'],
    });
    const tls = new X509Certificate(b.tlsCert);
    expect(tls.subjectAltName).toBe(
      'DNS:flyte-pod-webhook, DNS:flyte-pod-webhook.flyte, DNS:flyte-pod-webhook.flyte.svc, DNS:flyte-pod-webhook.flyte.svc.cluster.local, DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1',
    );
    expect(tls.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(tls.checkIP('::1')).toBe('::1');
    expect(tls.checkHost('localhost')).toBe('localhost');
    expect(tls.checkIP('10.0.0.1')).toBeUndefined();
  });

  it.each([
    ['an IP that is not one', { ipAddresses: ['localhost'] }, /"localhost" is not an IP address/],
    ['a DNS name that is not one', { extraDnsNames: ['bad name'] }, /"bad name" is not a DNS name/],
  ])('refuses %s', async (_what, extra, message) => {
    const err: unknown = await generateCertificates({ serviceName: 's', namespace: 'n', validityMs: YEAR, ...extra }).catch((e: unknown) => e);
    expect(isFlyteSecretsError(err, 'InvalidInput')).toBe(true);
    expect((err as Error).message).toMatch(message);
  });
});
