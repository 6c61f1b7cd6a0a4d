import { describe, expect, it } from 'vitest';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { defaultConfig } from '../config/load.js';
import { makeSecret, MountRequirement } from '../secret/model.js';
import { podProblems } from '../../test/support/pod-schema.js';
import { describeInjectorVectors, newContext } from '../../test/support/injector-vectors.js';
import { AZURE_NO_WORKLOAD_IDENTITY_WARNING, AZURE_SCRIPT, azureSecretTarget, createAzureInjector } from './azure.js';
import { createPatch } from './patch.js';

describeInjectorVectors('Azure');

const URI = 'https://myvault.vault.azure.net/secrets/db-password';

describe('azureSecretTarget', () => {
  it.each([
    [URI, '', { id: URI, path: '/etc/flyte/secrets/db-password' }],
    [`${URI}//`, 'v1', { id: `${URI}/v1`, path: '/etc/flyte/secrets/db-password/v1' }],
    ['https://MYVAULT.vault.azure.cn/secrets/Db', '', { id: 'https://myvault.vault.azure.cn/secrets/Db', path: '/etc/flyte/secrets/db' }],
  ])('%s + %j', (group, groupVersion, expected) => {
    expect(azureSecretTarget({ group, groupVersion })).toEqual(expected);
  });

  it.each([
    ['http://myvault.vault.azure.net/secrets/x', ''],
    ['https://evil.example.com/secrets/x', ''],
    ['https://myvault.vault.azure.net/keys/x', ''],
    ['https://myvault.vault.azure.net/secrets/x$(id)', ''],
    ['https://myvault.vault.azure.net/secrets/x', '$(id)'],
    ['https://myvault.vault.azure.net/secrets/x', 'a`id`'],
    ['https://myvault.vault.azure.net/secrets/x', 'v;id'],
    ['https://myvault.vault.azure.net/secrets/x', 'v\nid'],
    ['https://myvault.vault.azure.net/secrets/..', ''],
  ])('refuses %j + %j', (group, groupVersion) => {
    expect(azureSecretTarget({ group, groupVersion })).toHaveProperty('reason');
  });

  it('accepts a vault under a configured extra DNS suffix', () => {
    expect(azureSecretTarget({ group: 'https://myv1.vault.example.test/secrets/x', groupVersion: '' }, ['vault.example.test'])).toEqual({
      id: 'https://myv1.vault.example.test/secrets/x',
      path: '/etc/flyte/secrets/x',
    });
  });
});

describe('Azure injector', () => {
  const azure = createAzureInjector(defaultConfig());
  const bare: Pod = { metadata: { name: 'p' }, spec: { containers: [{ name: 'c' }] } };

  it('warns once when the pod shows no sign of workload identity', async () => {
    const ctx = newContext();
    let pod = bare;
    for (const group of [URI, `${URI}-2`]) {
      const out = await azure.inject(makeSecret({ group }), pod, ctx);
      if (!out.injected) throw new Error(out.reason);
      pod = out.pod;
    }
    expect(ctx.warnings).toEqual([AZURE_NO_WORKLOAD_IDENTITY_WARNING]);
  });

  it.each([
    ['the label', { ...bare, metadata: { name: 'p', labels: { 'azure.workload.identity/use': 'true' } } }],
    ['AZURE_* env', { ...bare, spec: { containers: [{ name: 'c', env: [{ name: 'AZURE_CLIENT_ID', value: 'x' }] }] } }],
  ])('does not warn with %s', async (_what, pod: Pod) => {
    const ctx = newContext();
    const out = await azure.inject(makeSecret({ group: URI }), pod, ctx);
    expect(out.injected).toBe(true);
    expect(ctx.warnings).toEqual([]);
  });

  it('does not warn when flyteSecrets.azure.warnWithoutWorkloadIdentity is false', async () => {
    const config = defaultConfig();
    config.flyteSecrets.azure.warnWithoutWorkloadIdentity = false;
    const ctx = newContext();
    await createAzureInjector(config).inject(makeSecret({ group: URI }), bare, ctx);
    expect(ctx.warnings).toEqual([]);
  });

  it('one init container per secret with the fixed script; the same secret twice gives one', async () => {
    let pod = bare;
    for (const s of [{ group: URI, groupVersion: 'v1' }, { group: URI, groupVersion: 'v2' }, { group: `${URI}/`, groupVersion: 'v1', mountRequirement: MountRequirement.FILE }]) {
      const out = await azure.inject(makeSecret(s), pod, newContext());
      if (!out.injected) throw new Error(out.reason);
      pod = out.pod;
    }
    expect(pod.spec?.initContainers?.map((c) => c.name)).toEqual(['azure-pull-secret-0', 'azure-pull-secret-1']);
    for (const c of pod.spec?.initContainers ?? []) expect(c.command).toEqual(['sh', '-ec', AZURE_SCRIPT]);
    expect(podProblems(pod)).toEqual([]);
  });

  it('refuses a secret whose file would collide with another one’s (same name, with and without a version)', async () => {
    const first = await azure.inject(makeSecret({ group: URI }), bare, newContext());
    if (!first.injected) throw new Error(first.reason);
    const second = await azure.inject(makeSecret({ group: URI, groupVersion: 'v1' }), first.pod, newContext());
    expect(second).toMatchObject({ injected: false, code: 'InjectionRefused' });
    const other = await azure.inject(makeSecret({ group: 'https://othervault.vault.azure.net/secrets/db-password' }), first.pod, newContext());
    expect(other).toMatchObject({ injected: false, code: 'InjectionRefused' });
  });

  it('keeps its init container when the workload-identity webhook added env and mounts to it', async () => {
    const secret = makeSecret({ group: URI });
    const first = await azure.inject(secret, bare, newContext());
    if (!first.injected) throw new Error(first.reason);
    const wi = structuredClone(first.pod);
    for (const c of [...wi.spec!.initContainers!, ...wi.spec!.containers]) {
      c.env = [...(c.env ?? []), { name: 'AZURE_CLIENT_ID', value: 'id' }, { name: 'AZURE_FEDERATED_TOKEN_FILE', value: '/var/run/secrets/azure/tokens/azure-identity-token' }];
      c.volumeMounts = [...(c.volumeMounts ?? []), { name: 'azure-identity-token', mountPath: '/var/run/secrets/azure/tokens', readOnly: true }];
    }
    wi.spec!.volumes!.push({ name: 'azure-identity-token', projected: { sources: [] } });
    const second = await azure.inject(secret, wi, newContext());
    if (!second.injected) throw new Error(second.reason);
    expect(createPatch(wi, second.pod)).toEqual([]);
  });
});
