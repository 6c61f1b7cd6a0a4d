/**
 * What a TLS failure means, in words, and what to do about it: one wording for every client of this package that
 * talks HTTPS to a server with a private CA (`dev send` to the webhook, `secret …` to Key Vault or the emulator).
 *
 * Node reports a failed handshake with an error `code`: OpenSSL's verification result (`UNABLE_TO_VERIFY_LEAF_SIGNATURE`,
 * `SELF_SIGNED_CERT_IN_CHAIN`, `CERT_HAS_EXPIRED`, …), Node's own host check (`ERR_TLS_CERT_ALTNAME_INVALID`), or a
 * protocol error (`EPROTO`, `ERR_SSL_WRONG_VERSION_NUMBER`). Each means something different: an untrusted CA is fixed
 * by passing the CA, a certificate for other names is not.
 *
 * @module
 */
import { isIP } from 'node:net';

/** Where the failure happened and how the user passes a CA there. */
export interface TlsContext {
  /** The host (name or IP address) that was connected to. */
  host: string;
  /** What the server is, for the sentence: "the webhook", "the vault". */
  server: string;
  /** How to pass a CA: "--ca", "--ca-file or NODE_EXTRA_CA_CERTS". */
  caOption: string;
  /** True when a CA was passed (so "pass the CA" becomes "the CA passed did not sign it"). */
  caGiven: boolean;
}

/** The codes OpenSSL and Node use for "the chain does not lead to a trusted CA". */
const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
]);

/** Whether a Node error `code` is a TLS failure that {@link describeTlsProblem} words. */
export function isTlsErrorCode(code: string): boolean {
  return (
    UNTRUSTED.has(code) ||
    code === 'ERR_TLS_CERT_ALTNAME_INVALID' ||
    code === 'CERT_HAS_EXPIRED' ||
    code === 'CERT_NOT_YET_VALID' ||
    code === 'EPROTO' ||
    code.startsWith('ERR_SSL_') ||
    code.startsWith('ERR_OSSL_') ||
    code.startsWith('ERR_TLS_')
  );
}

/**
 * One sentence (with the code in parentheses) for a TLS failure, or `undefined` when `err` is not one. For a name
 * mismatch, the names the certificate has (`err.cert.subjectaltname`, set by Node) are listed.
 *
 * @example
 * ```ts
 * describeTlsProblem({ code: 'ERR_TLS_CERT_ALTNAME_INVALID', cert: { subjectaltname: 'DNS:flyte-pod-webhook' } },
 *   { host: '127.0.0.1', server: 'the webhook', caOption: '--ca', caGiven: true })
 * // "the webhook's certificate is trusted but not issued for 127.0.0.1 (ERR_TLS_CERT_ALTNAME_INVALID; it is for DNS:flyte-pod-webhook): …"
 * ```
 */
export function describeTlsProblem(err: unknown, ctx: TlsContext): string | undefined {
  const code = typeof (err as { code?: unknown } | null)?.code === 'string' ? (err as { code: string }).code : '';
  if (code === '' || !isTlsErrorCode(code)) return undefined;
  const { host, server, caOption, caGiven } = ctx;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    const names = (err as { cert?: { subjectaltname?: unknown } }).cert?.subjectaltname;
    const has = typeof names === 'string' && names !== '' ? `; it is for ${names}` : '';
    return (
      `${server}'s certificate is trusted but not issued for ${host} (${code}${has}): connect by a name it has, ` +
      `or make a certificate that covers ${host} (flyte-secrets certs generate --${isIP(host) === 0 ? 'dns' : 'ip'} ${host})`
    );
  }
  if (UNTRUSTED.has(code)) {
    const self = code === 'DEPTH_ZERO_SELF_SIGNED_CERT' || code === 'SELF_SIGNED_CERT_IN_CHAIN' ? ' (it is self-signed or signed by a private CA)' : '';
    return caGiven
      ? `${server}'s certificate is not signed by the CA passed with ${caOption.split(' ')[0] ?? caOption} (${code})${self}: pass the CA that signed this server's certificate (its ca.crt), not another one`
      : `${server}'s certificate is not signed by a CA this machine trusts (${code})${self}: pass the CA that signed it with ${caOption}`;
  }
  if (code === 'CERT_HAS_EXPIRED') return `${server}'s certificate has expired (${code}): make a new one (flyte-secrets certs generate, or certs init in a cluster)`;
  if (code === 'CERT_NOT_YET_VALID') return `${server}'s certificate is not valid yet (${code}): check this machine's clock and the server's`;
  if (code === 'EPROTO' || code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG') {
    return `${server} at ${host} did not answer with TLS (${code}): is it an http:// server, or another service on that port?`;
  }
  if (code.startsWith('ERR_OSSL_')) return `the CA passed with ${caOption.split(' ')[0] ?? caOption} is not a usable PEM certificate (${code})`;
  return `TLS with ${server} at ${host} failed (${code})`;
}
