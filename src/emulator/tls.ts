/**
 * The emulator's TLS material: a private CA and a serving certificate it signs, both ECDSA P-256 (fast to make).
 * The official Azure SDK refuses bearer tokens over plain HTTP, so the emulator must speak HTTPS; clients trust it
 * through the CA (`NODE_EXTRA_CA_CERTS=<ca.pem>` or the SDK option `tlsOptions: { ca }`).
 *
 * @module
 */
import 'reflect-metadata';
import { webcrypto, X509Certificate as NodeX509Certificate, createPrivateKey } from 'node:crypto';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto);

const EC_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 24 * 3600_000;

/** A CA certificate and its private key, both PEM. */
export interface CaMaterial {
  caCert: string;
  caKey: string;
}

/** The emulator's TLS material: the CA (to trust) and the serving certificate + key (PEM). */
export interface EmulatorTls extends CaMaterial {
  cert: string;
  key: string;
}

/** Options of {@link generateEmulatorTls}. */
export interface EmulatorTlsOptions {
  /** Names and IP addresses the serving certificate is valid for. Default `localhost`, `127.0.0.1`, `::1`. */
  hosts?: readonly string[];
  /** Reuse this CA instead of making a new one (e.g. loaded from the state directory). */
  ca?: CaMaterial;
  /** Validity of the serving certificate (and of a new CA). Default 30 days. */
  validityMs?: number;
  /** Clock, for tests. */
  now?: Date;
}

/** Default subject alternative names of the serving certificate. */
export const DEFAULT_TLS_HOSTS: readonly string[] = ['localhost', '127.0.0.1', '::1'];

function toPem(der: ArrayBuffer, label: string): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

async function exportKeyPem(key: CryptoKey): Promise<string> {
  return toPem(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

async function generateKeys(): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(EC_ALGORITHM, true, ['sign', 'verify']);
}

async function importCa(ca: CaMaterial): Promise<{ cert: x509.X509Certificate; key: CryptoKey }> {
  const cert = new x509.X509Certificate(ca.caCert);
  const pkcs8 = createPrivateKey(ca.caKey).export({ format: 'der', type: 'pkcs8' });
  const key = await webcrypto.subtle.importKey('pkcs8', pkcs8, EC_ALGORITHM, false, ['sign']);
  return { cert, key };
}

/**
 * True when `ca` is a usable CA for another `minRemainingMs` (parses, is a CA, its key matches the certificate).
 * Used to decide whether a CA kept in the state directory can be reused.
 */
export function isUsableCa(ca: CaMaterial, minRemainingMs = DAY_MS, now: Date = new Date()): boolean {
  try {
    const cert = new NodeX509Certificate(ca.caCert);
    if (!cert.ca) return false;
    if (Date.parse(cert.validTo) - now.getTime() < minRemainingMs) return false;
    return cert.checkPrivateKey(createPrivateKey(ca.caKey));
  } catch {
    return false;
  }
}

/**
 * Make (or reuse) a CA and sign a serving certificate for `hosts`.
 *
 * @example
 * ```ts
 * const tls = await generateEmulatorTls();               // new CA, cert for localhost/127.0.0.1/::1
 * https.createServer({ cert: tls.cert, key: tls.key }, handler);
 * ```
 */
export async function generateEmulatorTls(options: EmulatorTlsOptions = {}): Promise<EmulatorTls> {
  const now = options.now ?? new Date();
  const validityMs = options.validityMs ?? 30 * DAY_MS;
  const hosts = options.hosts ?? DEFAULT_TLS_HOSTS;
  const notBefore = new Date(now.getTime() - 60_000);

  let caCert: x509.X509Certificate;
  let caSigningKey: CryptoKey;
  let caPem: CaMaterial;
  if (options.ca) {
    const imported = await importCa(options.ca);
    caCert = imported.cert;
    caSigningKey = imported.key;
    caPem = options.ca;
  } else {
    const caKeys = await generateKeys();
    caCert = await x509.X509CertificateGenerator.createSelfSigned({
      name: 'CN=flyte-secrets Key Vault emulator CA',
      notBefore,
      notAfter: new Date(now.getTime() + Math.max(validityMs, 365 * DAY_MS)),
      keys: caKeys,
      signingAlgorithm: SIGNING_ALGORITHM,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
      ],
    });
    caSigningKey = caKeys.privateKey;
    caPem = { caCert: caCert.toString('pem') + '\n', caKey: await exportKeyPem(caKeys.privateKey) };
  }

  const serverKeys = await generateKeys();
  const san = hosts.map((h) => ({ type: isIP(h) === 0 ? ('dns' as const) : ('ip' as const), value: h }));
  const serverCert = await x509.X509CertificateGenerator.create({
    subject: `CN=${hosts[0] ?? 'localhost'}`,
    issuer: caCert.subject,
    notBefore,
    notAfter: new Date(now.getTime() + validityMs),
    publicKey: serverKeys.publicKey,
    signingKey: caSigningKey,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(san),
      await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey),
    ],
  });
  return {
    ...caPem,
    cert: serverCert.toString('pem') + '\n',
    key: await exportKeyPem(serverKeys.privateKey),
  };
}
