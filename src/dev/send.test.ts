import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFlyteSecretsError } from '../errors.js';
import { createPatch } from '../inject/patch.js';
import { generateCertificates, type CertificateBundle } from '../webhook/certs.js';
import { admissionUrl, describeAdmission, sendPodForAdmission, type SendPodResult } from './send.js';

const POD: Pod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'p', namespace: 'ns' },
  spec: { containers: [{ name: 'main', image: 'python', env: [{ name: 'KEEP', value: 'x' }] }] },
};

const MUTATED: Pod = {
  ...POD,
  spec: {
    initContainers: [
      {
        name: 'init-embedded-secret',
        image: 'busybox',
        env: [
          { name: 'SECRETS', value: `db=${Buffer.from('s3cret').toString('base64')}\nbin=${Buffer.from([0xff, 1, 2]).toString('base64')}\nnl=${Buffer.from('a\nb').toString('base64')}\n` },
          { name: 'FLYTE_SECRETS_DEFAULT_DIR', value: '/etc/flyte/secrets' },
        ],
        volumeMounts: [{ name: 'embedded-secret-vol', mountPath: '/etc/flyte/secrets' }],
      },
      { name: 'azure-pull-secret-1', image: 'az', env: [{ name: 'FLYTE_SECRET_ID', value: 'https://v.vault.azure.net/secrets/a' }, { name: 'FLYTE_SECRET_PATH', value: '/etc/flyte/secrets/a' }] },
    ],
    containers: [
      {
        name: 'main',
        image: 'python',
        env: [
          { name: 'KEEP', value: 'x' },
          { name: 'API_TOKEN', value: 'tok-123' },
          { name: 'FLYTE_SECRETS_FILE_PREFIX', value: '' },
          { name: 'FROM_K8S', valueFrom: { secretKeyRef: { name: 'creds', key: 'pw' } } },
        ],
        volumeMounts: [{ name: 'embedded-secret-vol', mountPath: '/etc/flyte/secrets', readOnly: true }],
      },
    ],
    volumes: [{ name: 'embedded-secret-vol', emptyDir: { medium: 'Memory' } }],
    imagePullSecrets: [{ name: 'img-pull-abc' }],
  },
};

function result(after: Pod, extra: Partial<SendPodResult> = {}): SendPodResult {
  return { before: POD, after, allowed: true, warnings: [], patch: createPatch(POD, after), namespace: 'ns', ...extra };
}

describe('describeAdmission', () => {
  it('lists what was added, values hidden by default', () => {
    const lines = describeAdmission(result(MUTATED, { warnings: ['mind this'] }));
    expect(lines).toEqual([
      `pod ns/p: mutated (${createPatch(POD, MUTATED).length} patch operations)`,
      '  warning: mind this',
      '  init container init-embedded-secret (image busybox), added:',
      '    writes /etc/flyte/secrets/db: <6 bytes, hidden; --show-values prints it>',
      '    writes /etc/flyte/secrets/bin: <3 bytes, hidden; --show-values prints it>',
      '    writes /etc/flyte/secrets/nl: <3 bytes, hidden; --show-values prints it>',
      '    env FLYTE_SECRETS_DEFAULT_DIR=/etc/flyte/secrets',
      '    mounts volume embedded-secret-vol at /etc/flyte/secrets',
      '  init container azure-pull-secret-1 (image az), added:',
      '    fetches https://v.vault.azure.net/secrets/a',
      '    writes /etc/flyte/secrets/a',
      '  container main:',
      '    env API_TOKEN=<7 bytes, hidden; --show-values prints it>',
      '    env FLYTE_SECRETS_FILE_PREFIX=""',
      '    env FROM_K8S from Secret creds key pw',
      '    mounts volume embedded-secret-vol at /etc/flyte/secrets, read-only',
      '  volume embedded-secret-vol: emptyDir (Memory)',
      '  image pull secret img-pull-abc',
    ]);
  });

  it('shows values with showValues (text with control characters JSON-quoted, other bytes as base64)', () => {
    const text = describeAdmission(result(MUTATED), { showValues: true }).join('\n');
    expect(text).toContain('writes /etc/flyte/secrets/db: s3cret');
    expect(text).toContain('writes /etc/flyte/secrets/bin: base64:/wEC');
    expect(text).toContain('writes /etc/flyte/secrets/nl: "a\\nb"');
    expect(text).toContain('env API_TOKEN=tok-123');
  });

  it('says so when nothing changed, and gives the reason of a denial', () => {
    expect(describeAdmission(result(POD))).toEqual(['pod ns/p: admitted unchanged (no secrets requested, or already injected)']);
    expect(describeAdmission(result(POD, { allowed: false, message: 'none of the secret managers injected secret' }))).toEqual([
      'pod ns/p: DENIED',
      '  none of the secret managers injected secret',
    ]);
  });
});

describe('admissionUrl', () => {
  it.each([
    ['https://127.0.0.1:9443', 'https://127.0.0.1:9443/mutate--v1-pod'],
    ['https://127.0.0.1:9443/', 'https://127.0.0.1:9443/mutate--v1-pod'],
    ['https://h/custom', 'https://h/custom'],
  ])('%s → %s', (url, expected) => {
    expect(admissionUrl(url).href).toBe(expected);
  });

  it.each([['http://127.0.0.1:9443', /must use https/], ['not a url', /is not a URL/]])('refuses %s', (url, message) => {
    expect(() => admissionUrl(url)).toThrow(message);
  });
});

describe('sendPodForAdmission', () => {
  let certs: CertificateBundle;
  let server: Server;
  let port: number;
  let answer: (review: { request: { uid: string; namespace: string } }) => unknown;

  beforeAll(async () => {
    certs = await generateCertificates({ serviceName: 'w', namespace: 'n', validityMs: 3_600_000, ipAddresses: ['127.0.0.1'] });
    server = createServer({ cert: certs.tlsCert, key: certs.tlsKey }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { request: { uid: string; namespace: string } };
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(answer(review)));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('sends a CREATE review and applies the answered patch', async () => {
    let seen: { request: { uid: string; namespace: string } } | undefined;
    answer = (review) => {
      seen = review;
      const patch = Buffer.from(JSON.stringify(createPatch(POD, MUTATED))).toString('base64');
      return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: review.request.uid, allowed: true, patchType: 'JSONPatch', patch, warnings: ['w1'] } };
    };
    const r = await sendPodForAdmission(POD, { url: `https://127.0.0.1:${port}`, ca: certs.caCert });
    expect(seen?.request).toMatchObject({ namespace: 'ns', operation: 'CREATE', dryRun: false, object: POD });
    expect(r).toMatchObject({ allowed: true, warnings: ['w1'], namespace: 'ns' });
    expect(r.after).toEqual(MUTATED);
  });

  it('returns a denial as a result', async () => {
    answer = (review) => ({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: review.request.uid, allowed: false, status: { message: 'no' } } });
    const r = await sendPodForAdmission(POD, { url: `https://127.0.0.1:${port}`, ca: certs.caCert, namespace: 'other' });
    expect(r).toMatchObject({ allowed: false, message: 'no', namespace: 'other', after: POD });
  });

  it('explains an untrusted certificate, a closed port and an answer that is no review', async () => {
    const untrusted: unknown = await sendPodForAdmission(POD, { url: `https://127.0.0.1:${port}` }).catch((e: unknown) => e);
    expect(isFlyteSecretsError(untrusted, 'InvalidInput')).toBe(true);
    expect((untrusted as Error).message).toMatch(/the webhook's certificate is not signed by a CA this machine trusts \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\): pass the CA that signed it with --ca/);

    const closed = await new Promise<number>((resolve) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    await expect(sendPodForAdmission(POD, { url: `https://127.0.0.1:${closed}`, ca: certs.caCert })).rejects.toThrow(/nothing listens at https:\/\/127\.0\.0\.1:\d+/);

    answer = () => ({ hello: 'world' });
    await expect(sendPodForAdmission(POD, { url: `https://127.0.0.1:${port}`, ca: certs.caCert })).rejects.toThrow(/answered HTTP 200 without an AdmissionReview response/);
  });

  it('says what each TLS failure means: another CA passed, a certificate for other names', async () => {
    const other = await generateCertificates({ serviceName: 'w', namespace: 'n', validityMs: 3_600_000 });
    const wrongCa: unknown = await sendPodForAdmission(POD, { url: `https://127.0.0.1:${port}`, ca: other.caCert }).catch((e: unknown) => e);
    expect((wrongCa as Error).message).toMatch(/the webhook's certificate is not signed by the CA passed with --ca \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\): pass the CA that signed this server's certificate/);

    // The same trusted CA, but a certificate for the cluster names only, called by IP address.
    const clusterOnly = await generateCertificates({ serviceName: 'w', namespace: 'n', validityMs: 3_600_000, ca: { cert: certs.caCert, key: certs.caKey } });
    const s = createServer({ cert: clusterOnly.tlsCert, key: clusterOnly.tlsKey }, (_req, res) => res.end());
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    try {
      const p = (s.address() as AddressInfo).port;
      const mismatch: unknown = await sendPodForAdmission(POD, { url: `https://127.0.0.1:${p}`, ca: certs.caCert }).catch((e: unknown) => e);
      const message = (mismatch as Error).message;
      expect(message).toContain("the webhook's certificate is trusted but not issued for 127.0.0.1 (ERR_TLS_CERT_ALTNAME_INVALID; it is for DNS:w, DNS:w.n, DNS:w.n.svc, DNS:w.n.svc.cluster.local)");
      expect(message).toContain('flyte-secrets certs generate --ip 127.0.0.1');
      expect(message).not.toContain('pass the CA');
    } finally {
      await new Promise<void>((r) => s.close(() => r()));
    }
  });
});
