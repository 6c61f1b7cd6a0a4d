import type { Container, Pod } from 'kubernetes-types/core/v1.js';
import { describe, expect, it } from 'vitest';
import { appendEnvVars, appendVolumeIfNotExists, appendVolumeMounts, envVarNameProblem, pathsOverlap, sameEnvVar, secretPath } from './pod-edit.js';

// Spec §7.2 (Flyte's utils_test.go) and §4.0.5.
describe('appendVolumeMounts', () => {
  it('adds the mount', () => {
    const cs: Container[] = [{ name: 'my_container' }];
    appendVolumeMounts(cs, { name: 'my_secret', readOnly: true, mountPath: '/etc/flyte/secrets/my_secret' });
    expect(cs[0]?.volumeMounts).toEqual([{ name: 'my_secret', readOnly: true, mountPath: '/etc/flyte/secrets/my_secret' }]);
  });

  it('skips a container that already mounts the volume (by name, whatever the path)', () => {
    const cs: Container[] = [{ name: 'c', volumeMounts: [{ name: 'v', mountPath: '/tmp' }] }];
    appendVolumeMounts(cs, { name: 'v', readOnly: true, mountPath: '/etc/flyte/secrets' });
    expect(cs[0]?.volumeMounts).toEqual([{ name: 'v', mountPath: '/tmp' }]);
  });
});

describe('appendEnvVars', () => {
  it('already exists → replaced', () => {
    const cs: Container[] = [{ name: 'c', env: [{ name: 'my_secret', value: 'my_val_already' }] }];
    appendEnvVars(cs, [{ name: 'my_secret', value: 'my_val' }]);
    expect(cs[0]?.env).toEqual([{ name: 'my_secret', value: 'my_val' }]);
  });

  it('new → added', () => {
    const cs: Container[] = [{ name: 'c' }];
    appendEnvVars(cs, [{ name: 'my_secret', value: 'my_val' }]);
    expect(cs[0]?.env).toEqual([{ name: 'my_secret', value: 'my_val' }]);
  });

  it('prepends: the last var given ends up first', () => {
    const cs: Container[] = [{ name: 'c', env: [{ name: 'U', value: 'u' }] }];
    appendEnvVars(cs, [{ name: 'A', value: '1' }, { name: 'B', value: '2' }]);
    expect(cs[0]?.env?.map((e) => e.name)).toEqual(['B', 'A', 'U']);
  });

  it('leaves an identical var where it is (idempotent), and an empty value equals an absent one', () => {
    const cs: Container[] = [{ name: 'c', env: [{ name: 'U', value: 'u' }, { name: 'A' }] }];
    appendEnvVars(cs, [{ name: 'A', value: '' }, { name: 'U', value: 'u' }]);
    expect(cs[0]?.env).toEqual([{ name: 'U', value: 'u' }, { name: 'A' }]);
  });
});

describe('appendVolumeIfNotExists', () => {
  it.each([
    [[], [{ name: 'new_secret' }]],
    [[{ name: 'existing' }], [{ name: 'existing' }, { name: 'new_secret' }]],
    [[{ name: 'new_secret', emptyDir: {} }], [{ name: 'new_secret', emptyDir: {} }]],
  ])('%j + new_secret → %j', (volumes, expected) => {
    const pod: Pod = { spec: { containers: [], volumes } };
    appendVolumeIfNotExists(pod, { name: 'new_secret' });
    expect(pod.spec?.volumes).toEqual(expected);
  });
});

describe('checks', () => {
  it('sameEnvVar compares value and valueFrom', () => {
    expect(sameEnvVar({ name: 'a', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }, { name: 'a', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } })).toBe(true);
    expect(sameEnvVar({ name: 'a', value: 'x' }, { name: 'a', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } })).toBe(false);
  });

  it('envVarNameProblem refuses "=", control characters and empty names', () => {
    for (const bad of ['', 'A=B', 'A\nB', 'É']) expect(envVarNameProblem('K8s', bad, 'x')).toBeDefined();
    for (const ok of ['A', '_UNION_MY-GROUP_KEY', 'a.b']) expect(envVarNameProblem('K8s', ok, 'x')).toBeUndefined();
  });

  it('secretPath keeps paths inside /etc/flyte/secrets', () => {
    expect(secretPath('X', ['a', 'b'])).toEqual({ path: '/etc/flyte/secrets/a/b' });
    expect(secretPath('X', ['a/../b'])).toEqual({ path: '/etc/flyte/secrets/b' });
    for (const bad of [['..'], ['a', '../..'], ['.']]) expect(secretPath('X', bad)).toHaveProperty('problem.code', 'InvalidPath');
  });

  it('pathsOverlap', () => {
    expect(pathsOverlap('/a/b', '/a/b')).toBe(true);
    expect(pathsOverlap('/a/b', '/a/b/c')).toBe(true);
    expect(pathsOverlap('/a/b', '/a/bc')).toBe(false);
  });
});
