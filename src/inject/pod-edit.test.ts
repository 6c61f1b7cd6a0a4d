import fc from 'fast-check';
import type { Container, EnvVar, Pod } from 'kubernetes-types/core/v1.js';
import { describe, expect, it } from 'vitest';
import { deepFreeze } from '../../test/support/injector-vectors.js';
import {
  allContainers,
  appendEnvVars,
  appendVolumeIfNotExists,
  appendVolumeMounts,
  clonePod,
  copyJson,
  editablePod,
  envVarNameProblem,
  fileModeEnvVars,
  injectedInitContainers,
  injectSidecar,
  pathsOverlap,
  receivingContainers,
  sameEnvVar,
  secretPath,
  setSharedEnv,
  type SidecarSpec,
} from './pod-edit.js';

// Flyte's `secret/utils_test.go` cases for the shared pod-editing helpers (`secret/utils.go`).
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

  it('gives what Flyte\'s var-by-var prepend gives, for any env and vars, repeated names included (property)', () => {
    // The reference: Flyte's AppendEnvVars one var at a time (remove every var of that name, prepend the new one),
    // except that a var present once with the same definition is left where it is.
    const reference = (env: Container['env'], vars: EnvVar[]): Container['env'] => {
      let out = env;
      for (const v of vars) {
        const same = (out ?? []).filter((e) => e.name === v.name);
        if (same.length === 1 && (same[0]?.value ?? '') === (v.value ?? '') && same[0]?.valueFrom === undefined) continue;
        out = [{ ...v }, ...(out ?? []).filter((e) => e.name !== v.name)];
      }
      return out;
    };
    const envVar = fc.record({ name: fc.constantFrom('A', 'B', 'C', 'D'), value: fc.option(fc.constantFrom('', '1', '2'), { nil: undefined }) }).map(({ name, value }): EnvVar => (value === undefined ? { name } : { name, value }));
    fc.assert(
      fc.property(fc.option(fc.array(envVar, { maxLength: 6 }), { nil: undefined }), fc.array(envVar, { maxLength: 4 }), (env, vars) => {
        const c: Container = { name: 'c', ...(env === undefined ? {} : { env: structuredClone(env) }) };
        appendEnvVars([c], vars);
        expect(JSON.stringify(c.env)).toBe(JSON.stringify(reference(env, vars)));
      }),
      { numRuns: 2000 },
    );
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

describe('copyJson', () => {
  it('equals structuredClone on JSON-like data (undefined members kept) and shares nothing with its input (property)', () => {
    const value = fc.letrec<{ node: unknown }>((tie) => ({
      node: fc.oneof(
        { depthSize: 'small' },
        fc.constantFrom(null, true, 0, 'x', undefined),
        fc.array(tie('node'), { maxLength: 3 }),
        fc.dictionary(fc.string({ maxLength: 3 }), tie('node'), { maxKeys: 3 }),
      ),
    })).node;
    fc.assert(
      fc.property(value, (v) => {
        const copy = copyJson(v);
        expect(copy).toStrictEqual(structuredClone(v));
        const shared = (a: unknown, b: unknown): boolean =>
          typeof a === 'object' && a !== null && (a === b || Object.keys(a).some((k) => shared((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])));
        expect(shared(v, copy)).toBe(false);
      }),
      { numRuns: 300 },
    );
  });
});

describe('editablePod (copy-on-write)', () => {
  const pod = (): Pod => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', labels: { a: 'b' }, annotations: { x: 'y' } },
    spec: {
      initContainers: [{ name: 'init', env: [{ name: 'I', value: '1' }], volumeMounts: [{ name: 'v', mountPath: '/v' }] }],
      containers: [{ name: 'main', env: [{ name: 'A', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }] }, { name: 'side' }],
      volumes: [{ name: 'v', emptyDir: {} }],
    },
  });

  it('copies the pod, metadata, spec, container lists and containers; shares what lies deeper', () => {
    const input = pod();
    const out = editablePod(input);
    expect(out).toStrictEqual(input);
    expect(out).not.toBe(input);
    expect(out.metadata).not.toBe(input.metadata);
    expect(out.spec).not.toBe(input.spec);
    expect(out.spec?.containers).not.toBe(input.spec?.containers);
    expect(out.spec?.containers[0]).not.toBe(input.spec?.containers[0]);
    expect(out.spec?.initContainers?.[0]).not.toBe(input.spec?.initContainers?.[0]);
    expect(out.spec?.containers[0]?.env).toBe(input.spec?.containers[0]?.env);
    expect(out.spec?.volumes).toBe(input.spec?.volumes);
    expect(out.metadata?.annotations).toBe(input.metadata?.annotations);
    expect(editablePod({})).toStrictEqual({});
  });

  it('the helpers on an editable copy of a frozen pod give what they give on a deep copy, and leave the input as it was (property)', () => {
    const envVar = fc.record({ name: fc.constantFrom('A', 'B', 'FLYTE_SECRETS_DEFAULT_DIR', 'I'), value: fc.constantFrom('1', '2', '', '/etc/flyte/secrets') });
    const step = fc.oneof(
      fc.record({ kind: fc.constant('env' as const), vars: fc.array(envVar, { maxLength: 3 }) }),
      fc.record({ kind: fc.constant('mount' as const), name: fc.constantFrom('v', 'w'), path: fc.constantFrom('/v', '/etc/flyte/secrets') }),
      fc.record({ kind: fc.constant('volume' as const), name: fc.constantFrom('v', 'w', 'z') }),
      fc.record({ kind: fc.constant('sidecar' as const), path: fc.constantFrom('/etc/flyte/secrets/a', '/etc/flyte/secrets/b') }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 6 }), (steps) => {
        const input = deepFreeze(pod());
        const apply = (p: Pod): Pod => {
          for (const s of steps) {
            if (s.kind === 'env') appendEnvVars(allContainers(p), s.vars);
            else if (s.kind === 'mount') appendVolumeMounts(allContainers(p), { name: s.name, mountPath: s.path, readOnly: true });
            else if (s.kind === 'volume') appendVolumeIfNotExists(p, { name: s.name, emptyDir: { medium: 'Memory' } });
            else injectSidecar(p, { manager: 'T', volumeName: 't-vol', namePrefix: 't-', image: 'img', resources: {}, command: ['sh'], env: [{ name: 'P', value: s.path }], ownMountPath: '/x', pathEnv: 'P' });
          }
          return p;
        };
        const viaEditable = apply(editablePod(input)); // would throw on a write into the frozen input
        const viaClone = apply(clonePod(input));
        expect(viaEditable).toStrictEqual(viaClone);
        expect(input).toStrictEqual(pod());
      }),
      { numRuns: 300 },
    );
  });

  it('injectSidecar copies the spec it is given, so constants shared between calls never end up in a pod', () => {
    const spec: SidecarSpec = { manager: 'T', volumeName: 't-vol', namePrefix: 't-', image: 'img', resources: { limits: { cpu: '1' } }, command: ['sh', '-c', 'x'], env: [{ name: 'P', value: '/a' }], ownMountPath: '/x' };
    const out = editablePod(pod());
    injectSidecar(out, spec);
    const added = out.spec?.initContainers?.at(-1);
    expect(added?.name).toBe('t-1');
    expect(added?.env).not.toBe(spec.env);
    expect(added?.env?.[0]).not.toBe(spec.env[0]);
    expect(added?.resources).not.toBe(spec.resources);
    expect(added?.resources?.limits).not.toBe(spec.resources.limits);
    expect(added?.command).not.toBe(spec.command);
  });

  it('appendEnvVars puts a copy of each var in each container', () => {
    const cs: Container[] = [{ name: 'a' }, { name: 'b' }];
    const vars = fileModeEnvVars();
    appendEnvVars(cs, vars);
    expect(cs[0]?.env).toEqual(cs[1]?.env);
    expect(cs[0]?.env?.[0]).not.toBe(cs[1]?.env?.[0]);
    expect(cs[0]?.env?.[0]).not.toBe(vars[1]);
  });
});

describe('receivingContainers, injectedInitContainers and setSharedEnv (re-admission)', () => {
  const pod: Pod = {
    spec: {
      initContainers: [
        { name: 'setup', volumeMounts: [{ name: 'azure-secret-vol', readOnly: true, mountPath: '/etc/flyte/secrets' }] },
        { name: 'azure-pull-secret-1', volumeMounts: [{ name: 'azure-secret-vol', mountPath: '/etc/flyte/secrets' }] },
      ],
      containers: [{ name: 'azure-pull-secret-1-main-named-alike' }, { name: 'main', volumeMounts: [{ name: 'azure-secret-vol', readOnly: true, mountPath: '/etc/flyte/secrets' }] }],
    },
  };

  it('an injected init container is one mounting a manager volume read-write', () => {
    expect(injectedInitContainers(pod, new Set(['azure-secret-vol']))).toEqual(new Set(['azure-pull-secret-1']));
    expect(injectedInitContainers(pod, new Set(['aws-secret-vol']))).toEqual(new Set());
  });

  it('settled init containers receive nothing; main containers always do; no context = every container (Flyte)', () => {
    const settled = new Set(['azure-pull-secret-1', 'main']);
    expect(receivingContainers(pod, { settledInitContainers: settled }).map((c) => c.name)).toEqual(['setup', 'azure-pull-secret-1-main-named-alike', 'main']);
    expect(receivingContainers(pod).map((c) => c.name)).toEqual(allContainers(pod).map((c) => c.name));
  });

  it('setSharedEnv sets the vars on the receiving containers and reports every one of them', () => {
    const out = editablePod(deepFreeze(structuredClone(pod)));
    const seen: string[] = [];
    setSharedEnv(out, fileModeEnvVars(), { settledInitContainers: new Set(['azure-pull-secret-1']), envSet: (vs) => seen.push(...vs.map((v) => v.name)) });
    expect(out.spec!.initContainers![1]!.env).toBeUndefined();
    expect(out.spec!.containers[1]!.env?.map((e) => e.name)).toEqual(['FLYTE_SECRETS_FILE_PREFIX', 'FLYTE_SECRETS_DEFAULT_DIR']);
    expect(seen).toEqual(['FLYTE_SECRETS_DEFAULT_DIR', 'FLYTE_SECRETS_FILE_PREFIX']);
  });
});
