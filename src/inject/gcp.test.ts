import type { Pod } from 'kubernetes-types/core/v1.js';
import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../config/load.js';
import { makeSecret } from '../secret/model.js';
import { podProblems } from '../../test/support/pod-schema.js';
import { describeInjectorVectors, newContext } from '../../test/support/injector-vectors.js';
import { createGcpInjector, GCP_SCRIPT } from './gcp.js';

describeInjectorVectors('GCP');

describe('GCP injector', () => {
  const gcp = createGcpInjector(defaultConfig());

  it('runs the same fixed script for every secret; the request travels only in env', async () => {
    let pod = { spec: { containers: [{ name: 'c' }] } } as Pod;
    for (const s of [{ group: 'projects/p-1/secrets/db', groupVersion: 'latest' }, { group: 'api_key', groupVersion: '7' }]) {
      const out = await gcp.inject(makeSecret(s), pod, newContext());
      if (!out.injected) throw new Error(out.reason);
      pod = out.pod;
    }
    const inits = pod.spec!.initContainers!;
    expect(inits.map((c) => c.name)).toEqual(['gcp-pull-secret-0', 'gcp-pull-secret-1']);
    for (const c of inits) expect(c.command).toEqual(['sh', '-ec', GCP_SCRIPT]);
    expect(inits[0]!.env?.find((e) => e.name === 'FLYTE_SECRET_PATH')?.value).toBe('/etc/flyte/secrets/projects/p-1/secrets/db/latest');
    expect(podProblems(pod)).toEqual([]);
  });

  it.each([
    ['a quote', 'db"x', '1'],
    ['a command substitution', '$(id)', '1'],
    ['backticks', '`id`', '1'],
    ['a semicolon', 'db;id', '1'],
    ['a newline', 'db\nid', '1'],
    ['a leading dash', '-db', '1'],
    ['a ".." part', 'projects/../secrets', '1'],
    ['a hostile version', 'db', '1;id'],
  ])('refuses %s', async (_what, group, groupVersion) => {
    const out = await gcp.inject(makeSecret({ group, groupVersion }), { spec: { containers: [] } }, newContext());
    expect(out).toMatchObject({ injected: false, code: 'InvalidInput' });
  });

  it('accepts letters of any script in a secret name (GCP allows them)', async () => {
    const out = await gcp.inject(makeSecret({ group: 'Geheimnis_Ä', groupVersion: '1' }), { spec: { containers: [] } }, newContext());
    expect(out.injected).toBe(true);
  });
});
