import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MutatingWebhookConfiguration as MwcModel } from 'kubernetes-models/admissionregistration.k8s.io/v1/MutatingWebhookConfiguration';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../config/load.js';
import { generateCertificates, type CertificateBundle } from './certs.js';
import { MUTATE_POD_PATH, WEBHOOK_NAME, buildMutatingWebhookConfiguration, describeRegisterWebhook, resolveCaBundle } from './register.js';

interface Vector {
  name: string;
  webhook: Record<string, unknown>;
  namespaceSelector: unknown;
}
const vectors = (JSON.parse(readFileSync(new URL('../../test/vectors/webhook-config.json', import.meta.url), 'utf8')) as { namespaceSelector: Vector[] }).namespaceSelector;

const CA = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const tmp = mkdtempSync(join(tmpdir(), 'register-test-'));
let bundle: CertificateBundle;

beforeAll(async () => {
  bundle = await generateCertificates({ serviceName: 'flyte-pod-webhook', namespace: 'flyte', validityMs: 3600_000 });
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('buildMutatingWebhookConfiguration', () => {
  it('builds the default configuration (Flyte: `executor/pkg/webhook/entrypoint.go`)', () => {
    const mwc = buildMutatingWebhookConfiguration(parseConfig({}), { namespace: 'flyte', caBundle: CA });
    expect(mwc).toEqual({
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: 'flyte-pod-webhook', labels: { 'app.kubernetes.io/managed-by': 'flyte-secrets' } },
      webhooks: [
        {
          name: 'flyte-pod-webhook.flyte.org',
          admissionReviewVersions: ['v1', 'v1beta1'],
          clientConfig: {
            caBundle: Buffer.from(CA).toString('base64'),
            service: { name: 'flyte-pod-webhook', namespace: 'flyte', path: '/mutate--v1-pod', port: 443 },
          },
          rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }],
          failurePolicy: 'Fail',
          sideEffects: 'None',
          timeoutSeconds: 30,
          reinvocationPolicy: 'IfNeeded',
          objectSelector: { matchLabels: { 'inject-flyte-secrets': 'true' } },
        },
      ],
    });
    expect(WEBHOOK_NAME).toBe('flyte-pod-webhook.flyte.org');
    expect(MUTATE_POD_PATH).toBe('/mutate--v1-pod');
  });

  it.each(vectors.map((v) => [v.name, v] as const))("Flyte's webhook configuration test: %s", (_name, v) => {
    const mwc = buildMutatingWebhookConfiguration(parseConfig({ webhook: v.webhook }), { namespace: 'flyte', caBundle: CA });
    const hook = mwc.webhooks?.[0];
    if (v.namespaceSelector === null) expect(hook).not.toHaveProperty('namespaceSelector');
    else expect(hook?.namespaceSelector).toEqual(v.namespaceSelector);
  });

  it('takes names, port, timeout and policies from the config', () => {
    const config = parseConfig({
      webhook: { serviceName: 'my-webhook', servicePort: 9443, webhookTimeout: 12, embeddedSecretManagerConfig: { imagePullSecrets: { enabled: true } } },
      flyteSecrets: { registration: { failurePolicy: 'Ignore', reinvocationPolicy: 'Never' } },
    });
    const owners = [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: 'u-1', controller: true }];
    const mwc = buildMutatingWebhookConfiguration(config, { namespace: 'infra', caBundle: Buffer.from(CA), ownerReferences: owners });
    const hook = mwc.webhooks?.[0];
    expect(mwc.metadata?.name).toBe('my-webhook');
    expect(mwc.metadata?.ownerReferences).toEqual(owners);
    expect(hook?.clientConfig.service).toEqual({ name: 'my-webhook', namespace: 'infra', path: '/mutate--v1-pod', port: 9443 });
    expect(hook?.clientConfig.caBundle).toBe(Buffer.from(CA).toString('base64'));
    expect(hook).toMatchObject({ timeoutSeconds: 12, failurePolicy: 'Ignore', reinvocationPolicy: 'Never', sideEffects: 'NoneOnDryRun' });
  });

  it('does not share the config’s selector object', () => {
    const config = parseConfig({ webhook: { namespaceSelector: { matchLabels: { a: 'b' } } } });
    const mwc = buildMutatingWebhookConfiguration(config, { namespace: 'flyte', caBundle: CA });
    (mwc.webhooks?.[0]?.namespaceSelector?.matchLabels as Record<string, string>).a = 'changed';
    expect(config.webhook.namespaceSelector?.matchLabels?.a).toBe('b');
  });

  it.each([
    ['defaults', {}],
    ['every option', { webhook: { serviceName: 'w', servicePort: 8443, webhookTimeout: 5, namespaceSelector: { matchExpressions: [{ key: 'k', operator: 'Exists' }] } }, flyteSecrets: { registration: { failurePolicy: 'Ignore' } } }],
  ])('validates against the Kubernetes schema: %s', (_name, input) => {
    const mwc = buildMutatingWebhookConfiguration(parseConfig(input), {
      namespace: 'flyte',
      caBundle: bundle.caCert,
      ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: 'p', uid: 'u' }],
    });
    expect(() => new MwcModel(mwc as ConstructorParameters<typeof MwcModel>[0]).validate()).not.toThrow();
  });

  it('the schema check can fail (it is not vacuous)', () => {
    const mwc = buildMutatingWebhookConfiguration(parseConfig({}), { namespace: 'flyte', caBundle: CA });
    const broken = { ...mwc, webhooks: [{ ...mwc.webhooks?.[0], timeoutSeconds: 'thirty' }] };
    expect(() => new MwcModel(broken as unknown as ConstructorParameters<typeof MwcModel>[0]).validate()).toThrow(/timeoutSeconds/);
  });

  it('refuses an empty CA bundle', () => {
    expect(() => buildMutatingWebhookConfiguration(parseConfig({}), { namespace: 'flyte', caBundle: '' })).toThrow(expect.objectContaining({ code: 'InvalidInput' }) as Error);
  });
});

describe('resolveCaBundle (files)', () => {
  it('prefers --ca-file, then <certDir>/ca.crt', async () => {
    const certDir = join(tmp, 'certs');
    mkdirSync(certDir);
    writeFileSync(join(certDir, 'ca.crt'), bundle.caCert);
    const other = (await generateCertificates({ serviceName: 's', namespace: 'n', validityMs: 3600_000 })).caCert;
    const caFile = join(tmp, 'other-ca.crt');
    writeFileSync(caFile, other);
    expect(await resolveCaBundle({ caFile, certDir })).toEqual({ pem: other, source: caFile });
    expect(await resolveCaBundle({ certDir })).toEqual({ pem: bundle.caCert, source: join(certDir, 'ca.crt') });
  });

  it.each([
    ['a missing --ca-file', () => ({ caFile: join(tmp, 'nope.crt'), certDir: tmp }), /cannot read the CA bundle .*nope\.crt \(--ca-file\): no such file/],
    ['a CA file that is not PEM', () => (writeFileSync(join(tmp, 'junk.crt'), 'junk'), { caFile: join(tmp, 'junk.crt'), certDir: tmp }), /the CA bundle from .*junk\.crt is not a PEM certificate/],
    ['no source at all', () => ({ certDir: join(tmp, 'empty') }), /no CA bundle: .*empty\/ca\.crt does not exist \(pass --ca-file\)/],
  ])('fails clearly on %s', async (_name, sources, message) => {
    await expect(resolveCaBundle(sources())).rejects.toThrow(message);
  });
});

describe('describeRegisterWebhook', () => {
  it('says when registration is disabled', () => {
    expect(describeRegisterWebhook({ action: 'disabled' }, parseConfig({}), 'flyte')).toMatch(/disabled \(webhook\.disableCreateMutatingWebhookConfig: true\)/);
  });
});
