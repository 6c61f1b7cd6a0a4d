import type { Pod } from 'kubernetes-types/core/v1.js';
import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../config/load.js';
import { makeSecret } from '../secret/model.js';
import { podProblems } from '../../test/support/pod-schema.js';
import { describeInjectorVectors, newContext } from '../../test/support/injector-vectors.js';
import { createPatch } from './patch.js';
import { createVaultInjector, vaultSecretId } from './vault.js';

describeInjectorVectors('Vault');

describe('vaultSecretId', () => {
  it('is a lower-case UUID version 5, the same for the same request', () => {
    const id = vaultSecretId({ group: 'foo', groupVersion: 'kv2', key: 'bar' });
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(vaultSecretId({ group: 'foo', groupVersion: 'kv2', key: 'bar' })).toBe(id);
  });

  it('differs when any field differs (no ambiguity from joining)', () => {
    const ids = new Set([
      vaultSecretId({ group: 'foo', groupVersion: 'kv2', key: 'bar' }),
      vaultSecretId({ group: 'foo', groupVersion: 'kv1', key: 'bar' }),
      vaultSecretId({ group: 'foo', groupVersion: 'kv2', key: 'baz' }),
      vaultSecretId({ group: 'fo', groupVersion: 'okv2', key: 'bar' }),
    ]);
    expect(ids.size).toBe(4);
  });
});

describe('Vault injector', () => {
  it('two secrets get two id sets; identical pods get identical annotations', async () => {
    const vault = createVaultInjector(defaultConfig());
    const run = async () => {
      let pod = { metadata: { name: 'p' }, spec: { containers: [{ name: 'c' }] } } as Pod;
      for (const s of [{ group: 'secret/db', key: 'password' }, { group: 'secret/api', key: 'token', groupVersion: 'kv1' }]) {
        const out = await vault.inject(makeSecret(s), pod, newContext());
        if (!out.injected) throw new Error(out.reason);
        pod = out.pod;
      }
      return pod;
    };
    const a = await run();
    const b = await run();
    expect(createPatch(a, b)).toEqual([]);
    const keys = Object.keys(a.metadata?.annotations ?? {}).filter((k) => k.includes('agent-inject-secret-'));
    expect(keys).toHaveLength(2);
    expect(podProblems(a)).toEqual([]);
  });
});
