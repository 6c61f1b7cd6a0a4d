import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../config/load.js';
import { makeSecret, MountRequirement } from '../secret/model.js';
import { podProblems } from '../../test/support/pod-schema.js';
import { deepFreeze, describeInjectorVectors, newContext } from '../../test/support/injector-vectors.js';
import { createK8sInjector, k8sVolumeName } from './k8s.js';
import { createPatch } from './patch.js';

describeInjectorVectors('K8s');

const vectors = JSON.parse(readFileSync(new URL('../../test/vectors/injectors.json', import.meta.url), 'utf8')) as {
  k8sVolumeNames: { group: string; groupVersion: string; volumeName: string }[];
};

describe('k8sVolumeName', () => {
  it.each(vectors.k8sVolumeNames.map((v) => [v.group, v.groupVersion, v.volumeName]))('(%j, %j) → %s', (group, version, name) => {
    expect(k8sVolumeName(group, version)).toBe(name);
  });

  it('hashes names longer than 63 characters into a valid, stable, distinct DNS label', () => {
    const a = k8sVolumeName('x'.repeat(60), '');
    const b = k8sVolumeName('x'.repeat(60), 'v2');
    expect(a).toMatch(/^flyte-secret-[0-9a-f]{40}$/);
    expect(a).toBe(k8sVolumeName('x'.repeat(60), ''));
    expect(a).not.toBe(b);
    // 38 characters of group + "_" still fit in 63 base32 characters; 39 do not.
    expect(k8sVolumeName('y'.repeat(38), '')).toHaveLength(63);
    expect(k8sVolumeName('y'.repeat(39), '')).toMatch(/^flyte-secret-/);
  });
});

describe('K8s injector', () => {
  const k8s = createK8sInjector(defaultConfig());

  it('does not change the caller’s Secret when falling back to md5(key)', async () => {
    const secret = deepFreeze(makeSecret({ key: 'hello', mountRequirement: MountRequirement.FILE }));
    const out = await k8s.inject(secret, { spec: { containers: [{ name: 'c' }] } }, newContext());
    expect(out.injected).toBe(true);
    expect(secret.group).toBe('');
  });

  it('gives a container added between two passes the mount and env, and changes nothing else', async () => {
    const secret = makeSecret({ group: 'db', key: 'password', mountRequirement: MountRequirement.FILE, envVar: 'DB_PASSWORD_FILE' });
    const first = await k8s.inject(secret, { spec: { containers: [{ name: 'main' }] } }, newContext());
    expect(first.injected).toBe(true);
    if (!first.injected) return;
    const withSidecar = structuredClone(first.pod);
    withSidecar.spec!.containers.push({ name: 'istio-proxy', env: [{ name: 'A', value: '1' }] });
    const second = await k8s.inject(secret, withSidecar, newContext());
    expect(second.injected).toBe(true);
    if (!second.injected) return;
    expect(second.pod.spec?.containers[0]).toEqual(first.pod.spec?.containers[0]);
    expect(second.pod.spec?.volumes).toEqual(first.pod.spec?.volumes);
    expect(second.pod.spec?.containers[1]).toEqual({
      name: 'istio-proxy',
      env: [
        { name: 'DB_PASSWORD_FILE', value: '/etc/flyte/secrets/db/password' },
        { name: 'FLYTE_SECRETS_FILE_PREFIX', value: '' },
        { name: 'FLYTE_SECRETS_DEFAULT_DIR', value: '/etc/flyte/secrets' },
        { name: 'A', value: '1' },
      ],
      volumeMounts: [{ name: first.pod.spec?.volumes?.[0]?.name, readOnly: true, mountPath: '/etc/flyte/secrets/db' }],
    });
    expect(podProblems(second.pod)).toEqual([]);
  });

  it('treats an env var stored without a value (as the API server stores "") as already present', async () => {
    const secret = makeSecret({ group: 'db', key: 'password', mountRequirement: MountRequirement.FILE });
    const first = await k8s.inject(secret, { spec: { containers: [{ name: 'main' }] } }, newContext());
    if (!first.injected) throw new Error(first.reason);
    const stored = JSON.parse(JSON.stringify(first.pod).replace('{"name":"FLYTE_SECRETS_FILE_PREFIX","value":""}', '{"name":"FLYTE_SECRETS_FILE_PREFIX"}'));
    const second = await k8s.inject(secret, stored, newContext());
    if (!second.injected) throw new Error(second.reason);
    expect(createPatch(stored, second.pod)).toEqual([]);
  });

  it('overrides a user env var of the same name (webhook wins) and moves it to the front', async () => {
    const out = await k8s.inject(makeSecret({ group: 'g', key: 'k', mountRequirement: MountRequirement.ENV_VAR }), {
      spec: { containers: [{ name: 'c', env: [{ name: 'X', value: '1' }, { name: 'FLYTE_SECRETS_ENV_PREFIX', value: 'mine' }] }] },
    }, newContext());
    if (!out.injected) throw new Error(out.reason);
    expect(out.pod.spec?.containers[0]?.env?.map((e) => e.name)).toEqual(['FLYTE_SECRETS_ENV_PREFIX', '_UNION_G_K', 'X']);
    expect(out.pod.spec?.containers[0]?.env?.[0]?.value).toBe('_UNION_');
  });

  it('does not touch a user volume of the same Secret mounted elsewhere', async () => {
    const user = { name: 'mine', secret: { secretName: 'db' } };
    const pod = { spec: { volumes: [user], containers: [{ name: 'c', volumeMounts: [{ name: 'mine', mountPath: '/app/db' }] }] } };
    const out = await k8s.inject(makeSecret({ group: 'db', key: 'pw', mountRequirement: MountRequirement.FILE }), pod, newContext());
    if (!out.injected) throw new Error(out.reason);
    expect(out.pod.spec?.volumes?.[0]).toEqual(user);
    expect(out.pod.spec?.volumes).toHaveLength(2);
    expect(podProblems(out.pod)).toEqual([]);
  });

  it('refuses two keys that would be the same file', async () => {
    const first = await k8s.inject(makeSecret({ group: 'db', key: 'PW', mountRequirement: MountRequirement.FILE }), { spec: { containers: [{ name: 'c' }] } }, newContext());
    if (!first.injected) throw new Error(first.reason);
    const second = await k8s.inject(makeSecret({ group: 'db', key: 'pw', mountRequirement: MountRequirement.FILE }), first.pod, newContext());
    expect(second).toMatchObject({ injected: false, code: 'InjectionRefused' });
  });
});
