import { describe, expect, it } from 'vitest';
import { ConfigError, defaultConfig, expandEnv, parseConfig, parseConfigText } from './load.js';
import { enabledManagers } from './schema.js';

describe('config defaults (Flyte: `secret/config/config.go`)', () => {
  const c = defaultConfig();
  it.each([
    ['webhook.metrics-prefix', c.webhook['metrics-prefix'], 'flyte:'],
    ['webhook.certDir', c.webhook.certDir, '/etc/webhook/certs'],
    ['webhook.localCert', c.webhook.localCert, false],
    ['webhook.listenPort', c.webhook.listenPort, 9443],
    ['webhook.cacheInvalidationPort', c.webhook.cacheInvalidationPort, 9444],
    ['webhook.serviceName', c.webhook.serviceName, 'flyte-pod-webhook'],
    ['webhook.servicePort', c.webhook.servicePort, 443],
    ['webhook.secretName', c.webhook.secretName, 'flyte-pod-webhook'],
    ['webhook.secretManagerType', c.webhook.secretManagerType, 'Embedded'],
    ['webhook.awsSecretManager.sidecarImage', c.webhook.awsSecretManager.sidecarImage, 'docker.io/amazon/aws-secrets-manager-secret-sidecar:v0.1.4'],
    ['webhook.gcpSecretManager.sidecarImage', c.webhook.gcpSecretManager.sidecarImage, 'gcr.io/google.com/cloudsdktool/cloud-sdk:alpine'],
    ['webhook.azureSecretManager.sidecarImage', c.webhook.azureSecretManager.sidecarImage, 'mcr.microsoft.com/azure-cli:cbl-mariner2.0'],
    ['webhook.vaultSecretManager.role', c.webhook.vaultSecretManager.role, 'flyte'],
    ['webhook.vaultSecretManager.kvVersion', c.webhook.vaultSecretManager.kvVersion, '2'],
    ['webhook.embeddedSecretManagerConfig.type', c.webhook.embeddedSecretManagerConfig.type, 'K8s'],
    ['webhook.embeddedSecretManagerConfig.k8sConfig.namespace', c.webhook.embeddedSecretManagerConfig.k8sConfig.namespace, 'flyte'],
    ['webhook.embeddedSecretManagerConfig.fileMountInitContainer.image', c.webhook.embeddedSecretManagerConfig.fileMountInitContainer.image, 'public.ecr.aws/docker/library/busybox:latest'],
    ['webhook.embeddedSecretManagerConfig.fileMountInitContainer.containerName', c.webhook.embeddedSecretManagerConfig.fileMountInitContainer.containerName, 'init-embedded-secret'],
    ['webhook.webhookTimeout', c.webhook.webhookTimeout, 30],
    ['webhook.kubeClientConfig.qps', c.webhook.kubeClientConfig.qps, 100],
    ['webhook.kubeClientConfig.burst', c.webhook.kubeClientConfig.burst, 25],
    ['webhook.kubeClientConfig.timeout', c.webhook.kubeClientConfig.timeout, 30_000],
    ['webhook.secretEnvVarPrefix', c.webhook.secretEnvVarPrefix, '_UNION_'],
    ['secrets.secrets-prefix', c.secrets['secrets-prefix'], '/etc/secrets'],
    ['secrets.env-prefix', c.secrets['env-prefix'], 'FLYTE_SECRET_'],
    ['cache.inMemoryFixedSize.defaultExpiration', c.cache.inMemoryFixedSize.defaultExpiration, 24 * 3600_000],
  ])('%s', (_name, actual, expected) => {
    expect(actual).toEqual(expected);
  });

  it('sidecar resources default to 200m/500Mi requests and limits, the file-mount init container to 100m/100Mi', () => {
    expect(c.webhook.azureSecretManager.resources).toEqual({ requests: { cpu: '200m', memory: '500Mi' }, limits: { cpu: '200m', memory: '500Mi' } });
    expect(c.webhook.embeddedSecretManagerConfig.fileMountInitContainer.resources).toEqual({ requests: { cpu: '100m', memory: '100Mi' }, limits: { cpu: '100m', memory: '100Mi' } });
  });

  it('namespaceSelector defaults to null (all namespaces)', () => {
    expect(c.webhook.namespaceSelector).toBeNull();
  });
});

describe('config parsing', () => {
  it('parses enums case-insensitively and writes the canonical spelling', () => {
    const cfg = parseConfig({ webhook: { secretManagerTypes: ['azure', 'EMBEDDED', 'k8s'], embeddedSecretManagerConfig: { type: 'azure' } } });
    expect(cfg.webhook.secretManagerTypes).toEqual(['Azure', 'Embedded', 'K8s']);
    expect(cfg.webhook.embeddedSecretManagerConfig.type).toBe('Azure');
  });

  it('rejects a non-string enum with Flyte’s wording', () => {
    expect(() => parseConfig({ webhook: { secretManagerType: 3 } })).toThrow(/SecretManagerType should be a string, got 3/);
  });

  it('lists every problem at once, each with its dot-path', () => {
    let caught: unknown;
    try {
      parseConfigText('webhook:\n  secretManagerTypes: [azure, Nope]\n  listenPort: "x"\n  foo: 1\ncache:\n  inMemoryFixedSize:\n    defaultExpiration: 3x\n');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const paths = (caught as ConfigError).problems.map((p) => p.path).sort();
    expect(paths).toEqual(['cache.inMemoryFixedSize.defaultExpiration', 'webhook.foo', 'webhook.listenPort', 'webhook.secretManagerTypes[1]']);
    expect((caught as ConfigError).message).toContain('Nope does not belong to SecretManagerType values');
  });

  it('reports YAML syntax errors with a line number', () => {
    expect(() => parseConfigText('webhook:\n  listenPort: [\n')).toThrow(/line \d+/);
  });

  it('ignores sections it does not read, such as Flyte’s propeller section', () => {
    expect(parseConfig({ propeller: { workers: 4 } }).webhook.listenPort).toBe(9443);
  });

  it('refuses unresolved aliases and alias bombs with a ConfigError, not a crash', () => {
    expect(() => parseConfigText('webhook: *nowhere\n')).toThrow(ConfigError);
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]', 'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]', 'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]', 'webhook: {listenPort: 1}', 'd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]'].join('\n');
    expect(() => parseConfigText(bomb)).toThrow(/cannot read the YAML/);
  });

  it('accepts JSON', () => {
    expect(parseConfigText('{"webhook":{"listenPort":8443}}').webhook.listenPort).toBe(8443);
  });

  it('expands environment variables in certDir', () => {
    expect(expandEnv('$HOME/x/${USER}', { HOME: '/h', USER: 'u' })).toBe('/h/x/u');
    expect(parseConfig({ webhook: { certDir: '${D}/certs' } }, 'x', { D: '/var/run' }).webhook.certDir).toBe('/var/run/certs');
  });
});

describe('enabledManagers (Flyte: `secret/secrets_pod_mutator.go`)', () => {
  it('prepends Global to secretManagerTypes', () => {
    expect(enabledManagers(parseConfig({ webhook: { secretManagerTypes: ['Azure', 'Embedded'] } }).webhook)).toEqual(['Global', 'Azure', 'Embedded']);
  });
  it('falls back to the deprecated secretManagerType', () => {
    expect(enabledManagers(parseConfig({ webhook: { secretManagerType: 'K8s' } }).webhook)).toEqual(['Global', 'K8s']);
  });
  it('does not run a manager twice', () => {
    expect(enabledManagers(parseConfig({ webhook: { secretManagerTypes: ['Global', 'Azure', 'azure'] } }).webhook)).toEqual(['Global', 'Azure']);
  });
});
