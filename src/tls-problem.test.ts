import { describe, expect, it } from 'vitest';
import { describeTlsProblem, isTlsErrorCode } from './tls-problem.js';

const webhook = { host: '127.0.0.1', server: 'the webhook', caOption: '--ca', caGiven: false };

describe('describeTlsProblem', () => {
  it.each([
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', false, /not signed by a CA this machine trusts .*pass the CA that signed it with --ca$/],
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', true, /not signed by the CA passed with --ca .*not another one$/],
    ['DEPTH_ZERO_SELF_SIGNED_CERT', false, /self-signed or signed by a private CA\): pass the CA/],
    ['SELF_SIGNED_CERT_IN_CHAIN', true, /not signed by the CA passed with --ca/],
    ['CERT_HAS_EXPIRED', true, /has expired .*certs generate/],
    ['CERT_NOT_YET_VALID', true, /not valid yet .*clock/],
    ['EPROTO', false, /did not answer with TLS .*http:\/\//],
    ['ERR_SSL_WRONG_VERSION_NUMBER', false, /did not answer with TLS/],
  ])('%s (CA given: %s)', (code, caGiven, expected) => {
    expect(describeTlsProblem({ code }, { ...webhook, caGiven })).toMatch(expected);
  });

  it('a name mismatch: the names the certificate has, and the flag that adds the missing one (never "pass the CA")', () => {
    const err = { code: 'ERR_TLS_CERT_ALTNAME_INVALID', cert: { subjectaltname: 'DNS:flyte-pod-webhook, DNS:flyte-pod-webhook.flyte.svc' } };
    const byIp = describeTlsProblem(err, { ...webhook, caGiven: true });
    expect(byIp).toBe(
      "the webhook's certificate is trusted but not issued for 127.0.0.1 (ERR_TLS_CERT_ALTNAME_INVALID; it is for DNS:flyte-pod-webhook, DNS:flyte-pod-webhook.flyte.svc): connect by a name it has, or make a certificate that covers 127.0.0.1 (flyte-secrets certs generate --ip 127.0.0.1)",
    );
    expect(describeTlsProblem(err, { ...webhook, host: 'localhost' })).toContain('(flyte-secrets certs generate --dns localhost)');
    expect(describeTlsProblem(err, { ...webhook, host: '::1' })).toContain('--ip ::1');
  });

  it('is not for other errors', () => {
    expect(describeTlsProblem({ code: 'ECONNREFUSED' }, webhook)).toBeUndefined();
    expect(describeTlsProblem(new Error('x'), webhook)).toBeUndefined();
    expect(isTlsErrorCode('ECONNRESET')).toBe(false);
    expect(isTlsErrorCode('ERR_TLS_CERT_ALTNAME_INVALID')).toBe(true);
  });
});
