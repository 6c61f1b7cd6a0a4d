import { describe, expect, it } from 'vitest';
import { parseConfig } from '../config/load.js';
import type { ConfigInput } from '../config/schema.js';
import { md5Hex } from '../secret/flyte-id.js';
import { MountRequirement, makeSecret } from '../secret/model.js';
import { createBackendFetcher, type KubeSecretsApi } from '../fetch/index.js';
import type { Pod } from 'kubernetes-types/core/v1.js';
import type { SecretFetcher } from '../fetch/fetcher.js';
import { secretsToAnnotations } from '../secret/annotations.js';
import { SecretValue } from '../secret/value.js';
import { createEmbeddedSecretManager, createInjectorsFromConfig } from './index.js';

const cfg = (embedded: Record<string, unknown>, extra: ConfigInput = {}) => parseConfig({ ...extra, webhook: { embeddedSecretManagerConfig: embedded } });
const noKube: KubeSecretsApi = {
  readNamespacedSecret: () => Promise.reject(Object.assign(new Error('not found'), { code: 404, body: { message: 'secrets "x" not found' } })),
  createNamespacedSecret: () => Promise.reject(new Error('unused')),
};

describe('createBackendFetcher / createEmbeddedSecretManager (Flyte: `secret/embedded_secret_manager.go`)', () => {
  it.each([
    ['Azure', { type: 'Azure', azureConfig: { vaultURI: 'https://myvault.vault.azure.net/' } }, 'azure', 'myvault.vault.azure.net'],
    ['AWS', { type: 'AWS', awsConfig: { region: 'eu-west-1' } }, 'aws', 'secretsmanager.eu-west-1.amazonaws.com'],
    ['GCP', { type: 'GCP', gcpConfig: { project: 'p' } }, 'gcp', 'secretmanager.googleapis.com'],
    ['K8s', { type: 'K8s' }, 'k8s', 'kubernetes'],
  ])('%s → the %s fetcher', async (_t, embedded, kind, budgetKey) => {
    const f = await createBackendFetcher(cfg(embedded), { kubeApi: noKube });
    expect(f.kind).toBe(kind);
    expect(f.budgetKey).toBe(budgetKey);
  });

  it('a missing required setting is a clear config error', async () => {
    await expect(createBackendFetcher(cfg({ type: 'Azure' }))).rejects.toMatchObject({ code: 'InvalidConfig', message: expect.stringContaining('azureConfig.vaultURI is empty') as unknown });
    await expect(createBackendFetcher(cfg({ type: 'GCP' }))).rejects.toMatchObject({ code: 'InvalidConfig', message: expect.stringContaining('gcpConfig.project is empty') as unknown });
  });

  it('builds a working injector over the K8s backend (not found across all scopes → clear refusal)', async () => {
    const inj = await createEmbeddedSecretManager(cfg({ type: 'K8s', imagePullSecrets: { enabled: true } }), { kubeApi: noKube, env: { POD_NAMESPACE: 'flyte' } });
    expect(inj.type).toBe('Embedded');
    const out = await inj.inject(makeSecret({ key: 'x' }), { metadata: { labels: { organization: 'flyte', project: 'p', domain: 'd' } }, spec: { containers: [{ name: 'c' }] } }, { namespace: 'p-d', podName: 'p', warnings: [] });
    expect(out).toEqual({ injected: false, code: 'SecretNotFoundAcrossAllScopes', reason: `[SecretNotFoundAcrossAllScopes] secret not found across all scopes: project flyte/d/p (Kubernetes Secret flyte/${md5Hex('u__org__flyte__domain__d__project__p__key__x')}), domain flyte/d (Kubernetes Secret flyte/${md5Hex('u__org__flyte__domain__d__project____key__x')}), org flyte (Kubernetes Secret flyte/${md5Hex('u__org__flyte__domain____project____key__x')})` });
  });
});

describe('createInjectorsFromConfig', () => {
  const pod = (): Pod => ({
    metadata: { name: 't', labels: { organization: 'flyte', project: 'p', domain: 'd' }, annotations: secretsToAnnotations([makeSecret({ key: 'api-token', mountRequirement: MountRequirement.ENV_VAR })]) },
    spec: { containers: [{ name: 'main' }] },
  });

  it('builds Global + the configured managers, with Embedded over the given backend, and mutates a pod', async () => {
    const calls: string[] = [];
    const fetcher: SecretFetcher = {
      kind: 'memory',
      fetch: (id) => {
        calls.push(`${id.project}/${id.domain}/${id.name}`);
        return Promise.resolve(SecretValue.fromString('v'));
      },
    };
    const config = parseConfig({ webhook: { secretManagerTypes: ['Embedded', 'K8s'] } });
    const { injectors, mutator } = await createInjectorsFromConfig(config, { env: {}, embedded: { fetcher } });
    expect([...injectors.keys()]).toEqual(['Global', 'Embedded', 'K8s']);
    const out = await mutator.mutate(pod(), { namespace: 'p-d', dryRun: false });
    expect(out.kind).toBe('mutated');
    expect(calls).toEqual(['p/d/api-token']);
  });

  it('without Embedded, no backend is built', async () => {
    const { injectors } = await createInjectorsFromConfig(parseConfig({ webhook: { secretManagerTypes: ['K8s'] } }), { env: {} });
    expect([...injectors.keys()]).toEqual(['Global', 'K8s']);
  });
});
