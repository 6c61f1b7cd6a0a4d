/**
 * The webhook's TLS certificates: a private CA and a serving certificate for `<serviceName>.<namespace>.svc`
 * (Flyte: `executor/pkg/webhook/entrypoint.go`), how to tell whether stored ones are still good, and the two places they are kept: the webhook's
 * Kubernetes Secret (shared by every replica, written with create-if-absent and optimistic concurrency) and,
 * with `localCert`, files in `certDir`.
 *
 * Keys are ECDSA P-256 (fast to make, accepted by the API server); certificates are PEM, keys PKCS#8 PEM.
 *
 * @module
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { KeyObject, X509Certificate, createPrivateKey, randomBytes, webcrypto } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import type { CoreV1Api, V1Secret } from '@kubernetes/client-node';
import type { Config } from '../config/schema.js';
import { FlyteSecretsError } from '../errors.js';
import { isKubeStatus, kubeApiError } from './kube.js';
import type { Logger } from './logger.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

/** Organisation written into both certificates, as Flyte does. */
export const CERT_ORGANIZATION = 'flyte.org';
/** Data keys of the webhook Secret and file names in `certDir` (Flyte's). */
export const CA_CERT_KEY = 'ca.crt';
export const TLS_CERT_KEY = 'tls.crt';
export const TLS_KEY_KEY = 'tls.key';
/** Extra Secret data key (ours): the CA's private key, so a serving certificate can be renewed without a new CA. */
export const CA_KEY_KEY = 'ca.key';
/** Label put on a Secret this module creates. */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
/** How far `notBefore` is set in the past, to absorb clock skew between the webhook and the API server. */
export const NOT_BEFORE_SKEW_MS = 5 * 60_000;

/** The three files the webhook server and the API server need (PEM). */
export interface CertificateFiles {
  /** The CA certificate: the MutatingWebhookConfiguration's `caBundle`. */
  caCert: string;
  /** The serving certificate, signed by the CA. */
  tlsCert: string;
  /** The serving certificate's private key (PKCS#8). */
  tlsKey: string;
}

/** A full set, including the CA's private key (PKCS#8). */
export interface CertificateBundle extends CertificateFiles {
  caKey: string;
}

/** Options of {@link generateCertificates}. */
export interface GenerateCertificatesOptions {
  /** `webhook.serviceName`: the Service the API server calls. */
  serviceName: string;
  /** The webhook's namespace. */
  namespace: string;
  /** Lifetime of the serving certificate, in milliseconds (`flyteSecrets.certs.validity`, default 8760h). */
  validityMs: number;
  /** Lifetime of a new CA. Default: 10 × `validityMs`, so serving certificates are renewed under the same CA. */
  caValidityMs?: number;
  /** Reuse this CA (PEM certificate and PKCS#8 key) instead of making one: only a new serving certificate is made. */
  ca?: { cert: string; key: string };
  /** The current time. Default: now. */
  now?: Date;
  /**
   * More DNS names for the serving certificate, after those of {@link servingDnsNames} (e.g. `localhost` for a
   * webhook run on a workstation). Default none.
   */
  extraDnsNames?: readonly string[];
  /** IP addresses (v4 or v6) for the serving certificate's subjectAltName, e.g. `127.0.0.1`, `::1`. Default none. */
  ipAddresses?: readonly string[];
}

const EC_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/**
 * The DNS names the serving certificate covers: `<svc>`, `<svc>.<ns>`, `<svc>.<ns>.svc` (Flyte's three) and
 * `<svc>.<ns>.svc.cluster.local`.
 */
export function servingDnsNames(serviceName: string, namespace: string): string[] {
  return [serviceName, `${serviceName}.${namespace}`, `${serviceName}.${namespace}.svc`, `${serviceName}.${namespace}.svc.cluster.local`];
}

/**
 * Make a CA and a serving certificate for the webhook Service (Flyte's `executor/pkg/webhook/entrypoint.go`, with ECDSA P-256 instead of RSA 4096 and
 * a bounded validity instead of 99 years). The CA: `CN=flyte-secrets-webhook-ca, O=flyte.org`, basicConstraints CA
 * (path length 0), key usage certSign/cRLSign/digitalSignature. The serving certificate: `CN=<svc>.<ns>.svc,
 * O=flyte.org`, the DNS names of {@link servingDnsNames}, key usage digitalSignature, extended key usage serverAuth.
 * `notBefore` is 5 minutes before `now` (clock skew).
 *
 * @example
 * ```ts
 * const b = await generateCertificates({ serviceName: 'flyte-pod-webhook', namespace: 'flyte', validityMs: 365 * 86_400_000 });
 * b.caCert // '-----BEGIN CERTIFICATE-----…'
 * ```
 */
export async function generateCertificates(options: GenerateCertificatesOptions): Promise<CertificateBundle> {
  const { serviceName, namespace, validityMs } = options;
  if (serviceName === '' || namespace === '') {
    throw new FlyteSecretsError('InvalidInput', 'cannot make certificates: serviceName and namespace must not be empty');
  }
  if (!Number.isFinite(validityMs) || validityMs <= 0) {
    throw new FlyteSecretsError('InvalidInput', `cannot make certificates: validity must be positive, got ${validityMs} ms`);
  }
  const now = options.now ?? new Date();
  const notBefore = new Date(now.getTime() - NOT_BEFORE_SKEW_MS);
  const subtle = webcrypto.subtle;
  const altNames = subjectAltNames(servingDnsNames(serviceName, namespace), options.extraDnsNames ?? [], options.ipAddresses ?? []);

  let caCert: x509.X509Certificate;
  let caSigningKey: webcrypto.CryptoKey;
  let caPem: string;
  let caKeyPem: string;
  if (options.ca !== undefined) {
    caPem = normalizePem(options.ca.cert);
    caKeyPem = options.ca.key;
    try {
      caCert = new x509.X509Certificate(caPem);
      const key = createPrivateKey(caKeyPem);
      if (!new X509Certificate(caPem).checkPrivateKey(key)) throw new Error('the key does not belong to the CA certificate');
      const der = key.export({ format: 'der', type: 'pkcs8' });
      caSigningKey = await subtle.importKey('pkcs8', der, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
    } catch (err) {
      throw new FlyteSecretsError('InvalidInput', 'cannot sign with the given CA: it needs a PEM certificate and its ECDSA P-256 private key', { cause: err });
    }
  } else {
    const caKeys = await subtle.generateKey(EC_ALGORITHM, true, ['sign', 'verify']);
    const caValidity = options.caValidityMs ?? validityMs * 10;
    caCert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: randomSerial(),
      name: `CN=flyte-secrets-webhook-ca, O=${CERT_ORGANIZATION}`,
      notBefore,
      notAfter: new Date(now.getTime() + caValidity),
      signingAlgorithm: EC_ALGORITHM,
      keys: caKeys,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
        await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
      ],
    });
    caSigningKey = caKeys.privateKey;
    caPem = normalizePem(caCert.toString('pem'));
    caKeyPem = exportKeyPem(caKeys.privateKey);
  }

  const leafKeys = await subtle.generateKey(EC_ALGORITHM, true, ['sign', 'verify']);
  const caNotAfter = caCert.notAfter.getTime();
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: `CN=${serviceName}.${namespace}.svc, O=${CERT_ORGANIZATION}`,
    issuer: caCert.subjectName,
    notBefore,
    // never outlive the CA
    notAfter: new Date(Math.min(now.getTime() + validityMs, caNotAfter)),
    signingAlgorithm: EC_ALGORITHM,
    publicKey: leafKeys.publicKey,
    signingKey: caSigningKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
      new x509.SubjectAlternativeNameExtension(altNames, false),
      await x509.SubjectKeyIdentifierExtension.create(leafKeys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(await caCert.publicKey.export()),
    ],
  });
  return {
    caCert: caPem,
    caKey: caKeyPem,
    tlsCert: normalizePem(leaf.toString('pem')),
    tlsKey: exportKeyPem(leafKeys.privateKey),
  };
}

/** The serving certificate's subjectAltName entries: DNS names (deduplicated, in order), then IP addresses. */
function subjectAltNames(dnsNames: readonly string[], extraDnsNames: readonly string[], ipAddresses: readonly string[]): { type: 'dns' | 'ip'; value: string }[] {
  const out: { type: 'dns' | 'ip'; value: string }[] = [];
  for (const name of extraDnsNames) {
    if (!/^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(name)) {
      throw new FlyteSecretsError('InvalidInput', `cannot make certificates: ${JSON.stringify(name)} is not a DNS name`);
    }
  }
  for (const name of new Set([...dnsNames, ...extraDnsNames])) out.push({ type: 'dns', value: name });
  for (const ip of new Set(ipAddresses)) {
    if (isIP(ip) === 0) throw new FlyteSecretsError('InvalidInput', `cannot make certificates: ${JSON.stringify(ip)} is not an IP address`);
    out.push({ type: 'ip', value: ip });
  }
  return out;
}

function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x01; // positive and without a leading zero byte
  return bytes.toString('hex');
}

function exportKeyPem(key: webcrypto.CryptoKey): string {
  return KeyObject.from(key).export({ format: 'pem', type: 'pkcs8' }) as string;
}

function normalizePem(pem: string): string {
  const text = pem.replace(/\r\n/g, '\n').trim();
  return `${text}\n`;
}

function parseCertificate(pem: string, what: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw new FlyteSecretsError('InvalidInput', `${what} is not a PEM certificate`, { cause: err });
  }
}

/**
 * When a PEM certificate stops being valid (`notAfter`). Throws {@link FlyteSecretsError} `InvalidInput` when `pem`
 * is not a certificate.
 */
export function certificateExpiry(pem: string): Date {
  return new Date(parseCertificate(pem, 'the certificate').validTo);
}

/** True when the certificate expires within `renewBeforeMs` of `now` (or has expired). */
export function needsRenewal(pem: string, renewBeforeMs: number, now: Date = new Date()): boolean {
  return certificateExpiry(pem).getTime() - now.getTime() <= renewBeforeMs;
}

/** True when `tlsCertPem` was issued and signed by `caPem`. False on any parse error. */
export function certificatesMatch(caPem: string, tlsCertPem: string): boolean {
  try {
    const ca = new X509Certificate(caPem);
    const tls = new X509Certificate(tlsCertPem);
    return tls.checkIssued(ca) && tls.verify(ca.publicKey);
  } catch {
    return false;
  }
}

/** True when `keyPem` is the private key of `certPem`. False on any parse error. */
export function keyMatchesCertificate(certPem: string, keyPem: string): boolean {
  try {
    return new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}

/** Certificates as read back from a Secret or from files: any part may be missing. */
export type StoredCertificates = Partial<CertificateBundle>;

/** Options of {@link checkCertificates}. */
export interface CheckCertificatesOptions {
  serviceName: string;
  namespace: string;
  /** Renew when the serving certificate (or the CA) expires within this many milliseconds. */
  renewBeforeMs: number;
  now?: Date;
}

/** Verdict of {@link checkCertificates}. */
export type CertificateCheck =
  | { valid: true; expiresAt: Date; caExpiresAt: Date }
  | { valid: false; reason: string };

/**
 * Decide whether stored certificates can be used as they are: all three parts present and parseable, `tls.crt`
 * issued by `ca.crt`, `tls.key` matching `tls.crt`, every name of {@link servingDnsNames} covered, already valid,
 * and neither certificate expiring within `renewBeforeMs`. Pure: no I/O.
 */
export function checkCertificates(stored: StoredCertificates, options: CheckCertificatesOptions): CertificateCheck {
  const now = options.now ?? new Date();
  const missing = [
    [CA_CERT_KEY, stored.caCert],
    [TLS_CERT_KEY, stored.tlsCert],
    [TLS_KEY_KEY, stored.tlsKey],
  ]
    .filter(([, v]) => v === undefined || v === '')
    .map(([k]) => k);
  if (missing.length > 0) return { valid: false, reason: `missing ${missing.join(', ')}` };
  let ca: X509Certificate;
  let tls: X509Certificate;
  try {
    ca = new X509Certificate(stored.caCert as string);
  } catch {
    return { valid: false, reason: `${CA_CERT_KEY} is not a PEM certificate` };
  }
  try {
    tls = new X509Certificate(stored.tlsCert as string);
  } catch {
    return { valid: false, reason: `${TLS_CERT_KEY} is not a PEM certificate` };
  }
  if (!certificatesMatch(stored.caCert as string, stored.tlsCert as string)) {
    return { valid: false, reason: `${TLS_CERT_KEY} is not signed by ${CA_CERT_KEY}` };
  }
  if (!keyMatchesCertificate(stored.tlsCert as string, stored.tlsKey as string)) {
    return { valid: false, reason: `${TLS_KEY_KEY} does not match ${TLS_CERT_KEY}` };
  }
  for (const name of servingDnsNames(options.serviceName, options.namespace)) {
    if (tls.checkHost(name, { subject: 'never' }) === undefined) {
      return { valid: false, reason: `${TLS_CERT_KEY} does not cover ${name}` };
    }
  }
  const expiresAt = new Date(tls.validTo);
  const caExpiresAt = new Date(ca.validTo);
  if (new Date(tls.validFrom).getTime() > now.getTime()) return { valid: false, reason: `${TLS_CERT_KEY} is not valid before ${new Date(tls.validFrom).toISOString()}` };
  if (expiresAt.getTime() - now.getTime() <= options.renewBeforeMs) {
    return { valid: false, reason: `${TLS_CERT_KEY} ${expiresAt.getTime() <= now.getTime() ? 'expired' : 'expires'} at ${expiresAt.toISOString()}` };
  }
  if (caExpiresAt.getTime() - now.getTime() <= options.renewBeforeMs) {
    return { valid: false, reason: `${CA_CERT_KEY} ${caExpiresAt.getTime() <= now.getTime() ? 'expired' : 'expires'} at ${caExpiresAt.toISOString()}` };
  }
  return { valid: true, expiresAt, caExpiresAt };
}

/**
 * The CA of `stored` when a new serving certificate valid for `validityMs` can be signed with it: the CA key is
 * present, is ECDSA P-256, belongs to the CA certificate, and the CA outlives the new certificate. Otherwise
 * `undefined` (a new CA is needed). Pure: no I/O.
 */
export function reusableCa(stored: StoredCertificates, validityMs: number, now: Date = new Date()): { cert: string; key: string } | undefined {
  const { caCert, caKey } = stored;
  if (caCert === undefined || caKey === undefined || caCert === '' || caKey === '') return undefined;
  try {
    const ca = new X509Certificate(caCert);
    const key = createPrivateKey(caKey);
    if (!ca.ca || !ca.checkPrivateKey(key)) return undefined;
    if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') return undefined;
    if (new Date(ca.validFrom).getTime() > now.getTime()) return undefined;
    if (new Date(ca.validTo).getTime() - now.getTime() < validityMs) return undefined;
    return { cert: caCert, key: caKey };
  } catch {
    return undefined;
  }
}

/** Secret `data` (base64 values) for a bundle: `ca.crt`, `tls.crt`, `tls.key` and `ca.key`. */
export function certificateSecretData(bundle: CertificateBundle): Record<string, string> {
  const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
  return { [CA_CERT_KEY]: b64(bundle.caCert), [TLS_CERT_KEY]: b64(bundle.tlsCert), [TLS_KEY_KEY]: b64(bundle.tlsKey), [CA_KEY_KEY]: b64(bundle.caKey) };
}

/** Read certificates back from Secret `data` (base64 values); absent keys stay absent. */
export function certificatesFromSecretData(data: Record<string, string> | undefined): StoredCertificates {
  const get = (k: string): string | undefined => {
    const v = data?.[k];
    return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
  };
  const out: StoredCertificates = {};
  const caCert = get(CA_CERT_KEY);
  const tlsCert = get(TLS_CERT_KEY);
  const tlsKey = get(TLS_KEY_KEY);
  const caKey = get(CA_KEY_KEY);
  if (caCert !== undefined) out.caCert = caCert;
  if (tlsCert !== undefined) out.tlsCert = tlsCert;
  if (tlsKey !== undefined) out.tlsKey = tlsKey;
  if (caKey !== undefined) out.caKey = caKey;
  return out;
}

/** Options of {@link ensureCertificateSecret}. */
export interface EnsureCertificateSecretOptions {
  /** Namespace of the Secret and of the webhook Service. */
  namespace: string;
  /** `webhook.secretName`. */
  secretName: string;
  /** `webhook.serviceName`. */
  serviceName: string;
  /** `flyteSecrets.certs.validity` in milliseconds. */
  validityMs: number;
  /** `flyteSecrets.certs.renewBefore` in milliseconds. */
  renewBeforeMs: number;
  /** The current time. Default: now. */
  now?: Date;
  /** Most read-decide-write rounds before giving up. Default 5. */
  maxAttempts?: number;
}

/** What {@link ensureCertificateSecret} did. */
export interface EnsureCertificateSecretResult {
  /** `created`: the Secret did not exist; `renewed`: we replaced its certificates; `kept`: they were good (or another writer just made good ones). */
  action: 'created' | 'kept' | 'renewed';
  /** The certificates now in the Secret. */
  certificates: CertificateFiles;
  /** When the serving certificate expires. */
  expiresAt: Date;
  /** True when the CA changed (created, or renewed with a new CA): the webhook configuration's caBundle must follow. */
  caChanged: boolean;
  /** Why the stored certificates were renewed, or why another writer's were kept. */
  reason?: string;
}

/**
 * Make sure the webhook Secret `<secretName>` in `<namespace>` holds good certificates, creating or renewing them
 * only when needed (absent, not matching their CA, not covering the Service names, or expiring within
 * `renewBefore`). Safe when several replicas run it at once: creation is create-if-absent (on AlreadyExists the
 * winner's certificates are read back and used), renewal is an update carrying the `resourceVersion` that was read
 * (on Conflict the Secret is read again and the other writer's certificates are used when good). A serving
 * certificate is renewed under the existing CA when that CA (and its key, kept as `ca.key`) can still sign it, so
 * the caBundle does not change. An immutable Secret (Flyte v2 makes one) is deleted with preconditions and created
 * again; ours is never immutable.
 *
 * Needs `get`, `create` and `update` (and `delete`, for an immutable Secret) on `secrets` in `namespace`.
 *
 * @example
 * ```ts
 * const r = await ensureCertificateSecret(kc.makeApiClient(CoreV1Api), { namespace: 'flyte', secretName: 'flyte-pod-webhook',
 *   serviceName: 'flyte-pod-webhook', validityMs: config.flyteSecrets.certs.validity, renewBeforeMs: config.flyteSecrets.certs.renewBefore });
 * r.action // 'created' | 'kept' | 'renewed'
 * ```
 */
export async function ensureCertificateSecret(core: CoreV1Api, options: EnsureCertificateSecretOptions): Promise<EnsureCertificateSecretResult> {
  const { namespace, secretName: name, serviceName, validityMs, renewBeforeMs } = options;
  const now = options.now ?? new Date();
  const maxAttempts = options.maxAttempts ?? 5;
  const where = `Secret ${namespace}/${name}`;
  const checkOptions = { serviceName, namespace, renewBeforeMs, now };
  let raced: string | undefined;
  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    let existing: V1Secret | undefined;
    try {
      existing = await core.readNamespacedSecret({ name, namespace });
    } catch (err) {
      if (!isKubeStatus(err, 404)) throw kubeApiError(err, `read ${where}`);
    }

    if (existing === undefined) {
      const bundle = await generateCertificates({ serviceName, namespace, validityMs, now });
      try {
        await core.createNamespacedSecret({ namespace, body: newSecret(name, namespace, bundle) });
      } catch (err) {
        if (isKubeStatus(err, 409)) {
          raced = 'another writer created it first';
          continue;
        }
        throw kubeApiError(err, `create ${where}`);
      }
      return { action: 'created', certificates: filesOf(bundle), expiresAt: certificateExpiry(bundle.tlsCert), caChanged: true };
    }

    const stored = certificatesFromSecretData(existing.data);
    const check = checkCertificates(stored, checkOptions);
    if (check.valid) {
      return {
        action: 'kept',
        certificates: filesOf(stored as CertificateBundle),
        expiresAt: check.expiresAt,
        caChanged: false,
        ...(raced !== undefined ? { reason: raced } : {}),
      };
    }

    const ca = reusableCa(stored, validityMs, now);
    const bundle = await generateCertificates({ serviceName, namespace, validityMs, now, ...(ca !== undefined ? { ca } : {}) });
    const result: EnsureCertificateSecretResult = {
      action: 'renewed',
      certificates: filesOf(bundle),
      expiresAt: certificateExpiry(bundle.tlsCert),
      caChanged: ca === undefined,
      reason: check.reason,
    };
    if (existing.immutable === true) {
      // An immutable Secret (as Flyte v2 writes it) cannot be updated: delete exactly what we read, then create.
      try {
        await core.deleteNamespacedSecret({
          name,
          namespace,
          body: { preconditions: preconditionsOf(existing) },
        });
      } catch (err) {
        if (isKubeStatus(err, 409) || isKubeStatus(err, 404)) {
          raced = 'another writer changed it first';
          continue;
        }
        throw kubeApiError(err, `delete immutable ${where}`);
      }
      try {
        await core.createNamespacedSecret({ namespace, body: newSecret(name, namespace, bundle, existing) });
      } catch (err) {
        if (isKubeStatus(err, 409)) {
          raced = 'another writer created it first';
          continue;
        }
        throw kubeApiError(err, `create ${where}`);
      }
      return result;
    }
    const body: V1Secret = {
      ...existing,
      metadata: { ...existing.metadata, name, namespace },
      data: { ...existing.data, ...certificateSecretData(bundle) },
    };
    delete body.stringData;
    try {
      await core.replaceNamespacedSecret({ name, namespace, body });
    } catch (err) {
      if (isKubeStatus(err, 409) || isKubeStatus(err, 404)) {
        raced = 'another writer renewed it first';
        continue;
      }
      throw kubeApiError(err, `update ${where}`);
    }
    return result;
  }
  throw new FlyteSecretsError(
    'KubernetesApi',
    `gave up on ${where} after ${maxAttempts} attempts: other writers keep replacing it with certificates this configuration does not accept (do all replicas use the same serviceName and namespace?)`,
  );
}

function preconditionsOf(s: V1Secret): { resourceVersion?: string; uid?: string } {
  const out: { resourceVersion?: string; uid?: string } = {};
  if (s.metadata?.resourceVersion !== undefined) out.resourceVersion = s.metadata.resourceVersion;
  if (s.metadata?.uid !== undefined) out.uid = s.metadata.uid;
  return out;
}

function filesOf(b: CertificateFiles): CertificateFiles {
  return { caCert: b.caCert, tlsCert: b.tlsCert, tlsKey: b.tlsKey };
}

function newSecret(name: string, namespace: string, bundle: CertificateBundle, previous?: V1Secret): V1Secret {
  const labels = { ...previous?.metadata?.labels, [MANAGED_BY_LABEL]: 'flyte-secrets' };
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name,
      namespace,
      labels,
      ...(previous?.metadata?.annotations !== undefined ? { annotations: previous.metadata.annotations } : {}),
    },
    type: previous?.type ?? 'Opaque',
    data: certificateSecretData(bundle),
  };
}

/** What {@link writeCertificateFiles} did. */
export interface WriteCertificateFilesResult {
  /** Files (names in the directory) whose content changed. */
  written: string[];
}

/**
 * Write `ca.crt`, `tls.crt` (mode 0644) and `tls.key` (mode 0600) into `dir`, creating it with mode 0755. Each file
 * is written to a temporary name and renamed into place, so a reader never sees half a file; a file whose content is
 * already right is left alone (no needless reload). The CA key is never written.
 *
 * @example
 * ```ts
 * writeCertificateFiles(config.webhook.certDir, result.certificates);
 * ```
 */
export function writeCertificateFiles(dir: string, files: CertificateFiles): WriteCertificateFilesResult {
  try {
    if (!existsSync(dir)) {
      mkdirSync(dir, { recursive: true, mode: 0o755 });
      chmodSync(dir, 0o755);
    }
    const written: string[] = [];
    const entries: [string, string, number][] = [
      [CA_CERT_KEY, files.caCert, 0o644],
      [TLS_KEY_KEY, files.tlsKey, 0o600],
      [TLS_CERT_KEY, files.tlsCert, 0o644],
    ];
    for (const [file, content, mode] of entries) {
      const target = join(dir, file);
      if (existsSync(target) && readFileSync(target, 'utf8') === content) {
        chmodSync(target, mode);
        continue;
      }
      const tmp = join(dir, `.${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
      try {
        writeFileSync(tmp, content, { mode });
        chmodSync(tmp, mode);
        renameSync(tmp, target);
      } finally {
        rmSync(tmp, { force: true });
      }
      written.push(file);
    }
    return { written };
  } catch (err) {
    if (err instanceof FlyteSecretsError) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new FlyteSecretsError('InvalidInput', `cannot write certificates into ${dir}: ${code}`, { cause: err });
  }
}

/** Read `ca.crt`, `tls.crt` and `tls.key` from `dir`; missing files stay absent. */
export function readCertificateFiles(dir: string): StoredCertificates {
  const read = (file: string): string | undefined => {
    const p = join(dir, file);
    return existsSync(p) ? readFileSync(p, 'utf8') : undefined;
  };
  const out: StoredCertificates = {};
  const caCert = read(CA_CERT_KEY);
  const tlsCert = read(TLS_CERT_KEY);
  const tlsKey = read(TLS_KEY_KEY);
  if (caCert !== undefined) out.caCert = caCert;
  if (tlsCert !== undefined) out.tlsCert = tlsCert;
  if (tlsKey !== undefined) out.tlsKey = tlsKey;
  return out;
}

/** Options of {@link initCertificates}. */
export interface InitCertificatesOptions {
  /** Client for the webhook's namespace. */
  core: CoreV1Api;
  /** The webhook's namespace (see `webhookNamespace` in kube.ts). */
  namespace: string;
  /** The current time. Default: now. */
  now?: Date;
}

/** What {@link initCertificates} did. */
export interface InitCertificatesResult extends EnsureCertificateSecretResult {
  namespace: string;
  secretName: string;
  /** With `localCert`: the directory written to and the files whose content changed. */
  local?: { certDir: string; written: string[] };
}

/**
 * `certs init` as a library call (Flyte's `init-certs`): {@link ensureCertificateSecret} for `webhook.secretName`
 * with `flyteSecrets.certs.validity`/`renewBefore`, then, with `webhook.localCert`, {@link writeCertificateFiles}
 * into `webhook.certDir`. Suitable to run at every start and periodically.
 *
 * @example
 * ```ts
 * const r = await initCertificates(config, { core: kc.makeApiClient(CoreV1Api), namespace: webhookNamespace() });
 * describeInitCertificates(r) // 'created certificates in Secret flyte/flyte-pod-webhook (…)'
 * ```
 */
export async function initCertificates(config: Config, options: InitCertificatesOptions): Promise<InitCertificatesResult> {
  const { webhook } = config;
  const result = await ensureCertificateSecret(options.core, {
    namespace: options.namespace,
    secretName: webhook.secretName,
    serviceName: webhook.serviceName,
    validityMs: config.flyteSecrets.certs.validity,
    renewBeforeMs: config.flyteSecrets.certs.renewBefore,
    ...(options.now !== undefined ? { now: options.now } : {}),
  });
  const out: InitCertificatesResult = { ...result, namespace: options.namespace, secretName: webhook.secretName };
  if (webhook.localCert) {
    out.local = { certDir: webhook.certDir, written: writeCertificateFiles(webhook.certDir, result.certificates).written };
  }
  return out;
}

/** The one-line summary `certs init` prints. */
export function describeInitCertificates(r: InitCertificatesResult): string {
  const why = r.reason !== undefined ? ` (${r.reason})` : '';
  const ca = r.action === 'renewed' ? (r.caChanged ? '; new CA: re-run `flyte-secrets register`' : '; same CA') : '';
  const local = r.local === undefined ? '' : r.local.written.length > 0 ? `; wrote ${r.local.written.join(', ')} to ${r.local.certDir}` : `; ${r.local.certDir} already up to date`;
  return `${r.action} certificates in Secret ${r.namespace}/${r.secretName}${why}: serving certificate expires ${r.expiresAt.toISOString()}${ca}${local}`;
}

/** Longest wait between two checks of {@link startCertificateRenewal}: 12 hours. */
export const MAX_RENEWAL_CHECK_INTERVAL_MS = 12 * 3_600_000;
/** Shortest wait between two checks of {@link startCertificateRenewal}: 1 minute. */
export const MIN_RENEWAL_CHECK_INTERVAL_MS = 60_000;
/** Wait before the next attempt after a failed check (or the interval, when shorter): 5 minutes. */
export const RENEWAL_RETRY_MS = 5 * 60_000;

/**
 * How often a running webhook checks its certificates, derived from `flyteSecrets.certs.renewBefore`: a quarter of
 * it (so several checks fall inside the renewal window), between 1 minute and 12 hours. With the default `720h`:
 * 12 hours.
 *
 * @example
 * ```ts
 * certificateRenewalIntervalMs({ renewBefore: 720 * 3_600_000 }) // 43_200_000 (12 h)
 * ```
 */
export function certificateRenewalIntervalMs(certs: { renewBefore: number }): number {
  return Math.min(MAX_RENEWAL_CHECK_INTERVAL_MS, Math.max(MIN_RENEWAL_CHECK_INTERVAL_MS, Math.floor(certs.renewBefore / 4)));
}

/** Options of {@link startCertificateRenewal}. */
export interface CertificateRenewalOptions {
  /** Client for the webhook's namespace. */
  core: CoreV1Api;
  /** The webhook's namespace (see `webhookNamespace` in kube.ts). */
  namespace: string;
  /** Wait between checks. Default: {@link certificateRenewalIntervalMs} of `flyteSecrets.certs`. */
  intervalMs?: number;
  /** Each wait is `intervalMs × (1 ± jitter)`, so replicas do not check in step. Default 0.1. */
  jitter?: number;
  /** Where results and failures are logged. Default: silent. */
  logger?: Logger;
  /**
   * Called after a check that put a new CA in place (`caChanged`): the MutatingWebhookConfiguration's `caBundle`
   * must follow (`registerWebhook`), or the API server will not trust the renewed certificate. Errors are logged.
   */
  onCaChanged?: (result: InitCertificatesResult) => Promise<void>;
  /** Random source for the jitter (tests). Default `Math.random`. */
  random?: () => number;
}

/** A running renewal loop. */
export interface CertificateRenewal {
  /** Check now: {@link initCertificates} (and `onCaChanged` when the CA changed). A call during a check joins it. */
  runOnce(): Promise<InitCertificatesResult>;
  /** Stop the timer. A check in progress finishes; no other starts. Safe to call twice. */
  stop(): void;
}

/**
 * Keep a running webhook's certificates fresh without a restart: every `intervalMs` (with jitter) run
 * {@link initCertificates} — the same create-if-absent / compare-and-swap renewal as `certs init`, so several
 * replicas may run it at once — which, with `webhook.localCert`, writes renewed files into `webhook.certDir`; the
 * server's TLS watcher (tls.ts) then serves them to new connections. The first check happens after one interval
 * (`certs init` ran at start). A failed check is logged and retried after 5 minutes (or the interval, when shorter).
 * The timer does not keep the process alive.
 *
 * Needs what `certs init` needs: `get`, `create`, `update` on the webhook Secret.
 *
 * @example
 * ```ts
 * const renewal = startCertificateRenewal(config, { core: kc.makeApiClient(CoreV1Api), namespace: webhookNamespace(), logger });
 * // … on shutdown:
 * renewal.stop();
 * ```
 */
export function startCertificateRenewal(config: Config, options: CertificateRenewalOptions): CertificateRenewal {
  const intervalMs = options.intervalMs ?? certificateRenewalIntervalMs(config.flyteSecrets.certs);
  if (!Number.isFinite(intervalMs) || intervalMs <= 0) {
    throw new FlyteSecretsError('InvalidInput', `certificate renewal interval must be positive, got ${intervalMs} ms`);
  }
  const jitter = Math.min(0.5, Math.max(0, options.jitter ?? 0.1));
  const random = options.random ?? Math.random;
  const log = options.logger;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<InitCertificatesResult> | undefined;

  const schedule = (baseMs: number): void => {
    if (stopped) return;
    const waitMs = Math.min(2 ** 31 - 1, Math.max(1, Math.round(baseMs * (1 + jitter * (2 * random() - 1)))));
    timer = setTimeout(() => {
      timer = undefined;
      runOnce().then(
        () => schedule(intervalMs),
        () => schedule(Math.min(intervalMs, RENEWAL_RETRY_MS)),
      );
    }, waitMs);
    timer.unref();
  };

  async function check(): Promise<InitCertificatesResult> {
    let result: InitCertificatesResult;
    try {
      result = await initCertificates(config, { core: options.core, namespace: options.namespace });
    } catch (err) {
      log?.warn({ event: 'certs_renewal_failed', error: err instanceof Error ? err.message : String(err) }, 'certificate check failed; the current certificate stays in use');
      throw err;
    }
    const written = result.local?.written ?? [];
    const fields = {
      event: 'certs_checked',
      action: result.action,
      expiresAt: result.expiresAt.toISOString(),
      caChanged: result.caChanged,
      written,
      ...(result.reason !== undefined ? { reason: result.reason } : {}),
    };
    if (result.action !== 'kept' || written.length > 0) log?.info(fields, describeInitCertificates(result));
    else log?.debug(fields, 'certificates still good');
    if (result.caChanged && options.onCaChanged) {
      try {
        await options.onCaChanged(result);
      } catch (err) {
        log?.warn({ event: 'certs_ca_publish_failed', error: err instanceof Error ? err.message : String(err) }, 'the CA changed but publishing the new caBundle failed; run `flyte-secrets register`');
      }
    }
    return result;
  }

  function runOnce(): Promise<InitCertificatesResult> {
    running ??= check().finally(() => {
      running = undefined;
    });
    return running;
  }

  schedule(intervalMs);
  return {
    runOnce,
    stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    },
  };
}
