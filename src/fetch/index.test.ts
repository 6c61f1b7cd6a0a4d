import { describe, expect, it } from 'vitest';
import { parseConfig } from '../config/load.js';
import type { ConfigInput } from '../config/schema.js';
import { makeSecret } from '../secret/model.js';
import { createBackendFetcher, createEmbeddedSecretManager, type KubeSecretsApi } from './index.js';

const cfg = (embedded: Record<string, unknown>, extra: ConfigInput = {}) => parseConfig({ ...extra, webhook: { embeddedSecretManagerConfig: embedded } });
const noKube: KubeSecretsApi = {
  readNamespacedSecret: () => Promise.reject(Object.assign(new Error('not found'), { code: 404, body: { message: 'secrets "x" not found' } })),
  createNamespacedSecret: () => Promise.reject(new Error('unused')),
};

describe('createBackendFetcher / createEmbeddedSecretManager (spec §6.1)', () => {
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
    expect(out).toEqual({ injected: false, code: 'SecretNotFoundAcrossAllScopes', reason: '[SecretNotFoundAcrossAllScopes] secret not found across all scopes' });
  });
});
