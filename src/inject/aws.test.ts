import type { Pod } from 'kubernetes-types/core/v1.js';
import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../config/load.js';
import { makeSecret, MountRequirement } from '../secret/model.js';
import { podProblems } from '../../test/support/pod-schema.js';
import { describeInjectorVectors, newContext } from '../../test/support/injector-vectors.js';
import { AWS_SIDECAR_MOUNT_PATH, createAwsInjector } from './aws.js';
import { envValue } from './pod-edit.js';

describeInjectorVectors('AWS');

describe('AWS injector', () => {
  const aws = createAwsInjector(defaultConfig());

  it('the sidecar writes /tmp + SECRET_FILENAME, which task containers read at /etc/flyte/secrets/<lower(group)>/<lower(key)>', async () => {
    const out = await aws.inject(makeSecret({ group: 'MyArn', key: 'Prod/DB', mountRequirement: MountRequirement.FILE }), { spec: { containers: [{ name: 'c' }] } }, newContext());
    if (!out.injected) throw new Error(out.reason);
    const sidecar = out.pod.spec!.initContainers![0]!;
    const own = sidecar.volumeMounts!.find((m) => m.name === 'aws-secret-vol')!;
    const task = out.pod.spec!.containers[0]!.volumeMounts!.find((m) => m.name === 'aws-secret-vol')!;
    expect(own.mountPath).toBe(AWS_SIDECAR_MOUNT_PATH);
    const relative = envValue(sidecar, 'SECRET_FILENAME')!;
    expect(`${task.mountPath}${relative}`).toBe('/etc/flyte/secrets/myarn/prod/db');
    expect(task.readOnly).toBe(true);
  });

  it('one init container per secret (N counts earlier ones), none for a secret seen before', async () => {
    let pod = { spec: { initContainers: [{ name: 'user-init' }], containers: [{ name: 'c' }] } } as Pod;
    for (const s of [{ group: 'a', key: 'x' }, { group: 'b', key: 'y' }, { group: 'a', key: 'x' }]) {
      const out = await aws.inject(makeSecret(s), pod, newContext());
      if (!out.injected) throw new Error(out.reason);
      pod = out.pod;
    }
    expect(pod.spec?.initContainers?.map((c) => c.name)).toEqual(['user-init', 'aws-pull-secret-1', 'aws-pull-secret-2']);
    expect(pod.spec?.volumes).toEqual([{ name: 'aws-secret-vol', emptyDir: { medium: 'Memory' } }]);
    // the user's init container gets the read-only mount too (it runs before the secret exists, as in Flyte)
    expect(pod.spec?.initContainers?.[0]?.volumeMounts).toEqual([{ name: 'aws-secret-vol', readOnly: true, mountPath: '/etc/flyte/secrets' }]);
    expect(podProblems(pod)).toEqual([]);
  });

  it('does not reuse a name an unrelated init container already has', async () => {
    const out = await aws.inject(makeSecret({ group: 'a', key: 'x' }), { spec: { initContainers: [{ name: 'aws-pull-secret-1' }], containers: [] } }, newContext());
    if (!out.injected) throw new Error(out.reason);
    expect(out.pod.spec?.initContainers?.map((c) => c.name)).toEqual(['aws-pull-secret-1', 'aws-pull-secret-2']);
  });

  it('refuses a second secret that would overwrite the first one’s file', async () => {
    const first = await aws.inject(makeSecret({ group: 'a', key: 'X' }), { spec: { containers: [] } }, newContext());
    if (!first.injected) throw new Error(first.reason);
    const second = await aws.inject(makeSecret({ group: 'A', key: 'x' }), first.pod, newContext());
    expect(second).toMatchObject({ injected: false, code: 'InjectionRefused' });
  });

  it('takes image and resources from config', async () => {
    const config = defaultConfig();
    config.webhook.awsSecretManager.sidecarImage = 'example.com/aws:1';
    config.webhook.awsSecretManager.resources = { requests: { cpu: 1 }, limits: { memory: '1Gi' } };
    const out = await createAwsInjector(config).inject(makeSecret({ group: 'a', key: 'b' }), { spec: { containers: [] } }, newContext());
    if (!out.injected) throw new Error(out.reason);
    expect(out.pod.spec?.initContainers?.[0]).toMatchObject({ image: 'example.com/aws:1', resources: { requests: { cpu: '1' }, limits: { memory: '1Gi' } } });
  });
});
