/**
 * `flyteSecrets.azure.delivery: agent` through the whole mutator: one agent init container for all of a pod's Key
 * Vault secrets, the same files as cli mode, env files with `flyteSecrets.envFiles`, re-admission a fixed point, other
 * managers unaffected, and cli mode unchanged.
 */
import type { Container, Pod } from 'kubernetes-types/core/v1.js';
import { describe, expect, it } from 'vitest';
import { parseAgentArgs } from '../src/agent/args.js';
import { parseConfig } from '../src/config/load.js';
import { AGENT_CONTAINER_NAME, AGENT_ENV_VOLUME_NAME } from '../src/inject/agent.js';
import { AZURE_ENV_VAR_HINT, AZURE_VOLUME_NAME } from '../src/inject/azure.js';
import { buildInjectors, createMutator, type MutationOutcome } from '../src/inject/mutator.js';
import { applyPatch } from '../src/inject/patch.js';
import { annotatePod } from '../src/secret/annotations.js';
import { makeSecret, MountRequirement, type Secret } from '../src/secret/model.js';
import { podProblems } from './support/pod-schema.js';

const V = 'https://kv-e2e.vault.azure.net/secrets';
const VERSION = '0123456789abcdef0123456789abcdef';

function mutatorFor(flyteSecrets: Record<string, unknown>, types = ['K8s', 'Azure']) {
  const config = parseConfig({ webhook: { secretManagerTypes: types }, flyteSecrets });
  return createMutator(config, buildInjectors(config));
}

function taskPod(secrets: Secret[]): Pod {
  return annotatePod(
    {
      metadata: { name: 'task', namespace: 'ns', labels: { 'azure.workload.identity/use': 'true' } },
      spec: {
        initContainers: [{ name: 'user-init', image: 'busybox' }],
        containers: [{ name: 'task', image: 'python:3.12' }],
        serviceAccountName: 'task-sa',
      },
    },
    secrets,
  );
}

function mutated(out: MutationOutcome): Extract<MutationOutcome, { kind: 'mutated' }> {
  if (out.kind !== 'mutated') throw new Error(`expected mutated, got ${out.kind}: ${'message' in out ? out.message : ''}`);
  return out;
}

const SECRETS = [
  makeSecret({ group: `${V}/db-password`, mountRequirement: MountRequirement.FILE }),
  makeSecret({ group: `${V}/Api-Key`, groupVersion: VERSION }),
  makeSecret({ group: 'my-k8s-secret', key: 'token', mountRequirement: MountRequirement.ENV_VAR }),
  makeSecret({ group: `${V}/as-env`, mountRequirement: MountRequirement.ENV_VAR, envVar: 'DB_URL' }),
];

describe('Azure delivery: agent', () => {
  const agentMutator = mutatorFor({ azure: { delivery: 'agent' }, envFiles: true });

  it('puts one agent init container first, with every Key Vault secret in annotation order', async () => {
    const pod = taskPod(SECRETS);
    const out = mutated(await agentMutator.mutate(pod, { namespace: 'ns', dryRun: false }));
    const inits = out.pod.spec?.initContainers ?? [];
    expect(inits.map((c) => c.name)).toEqual([AGENT_CONTAINER_NAME, 'user-init']);
    const agent = inits[0] as Container;
    expect(agent.image).toBe('flyte-secrets:0.1.0');
    expect(agent.args).toEqual([
      'agent',
      '--',
      '--deadline',
      '120s',
      '--file',
      `${V}/db-password=/etc/flyte/secrets/db-password`,
      '--file',
      `${V}/Api-Key/${VERSION}=/etc/flyte/secrets/api-key/${VERSION}`,
      '--env-file',
      '/var/run/flyte-secrets/env/secrets.env',
      '--env',
      `${V}/as-env=_UNION_AS-ENV`,
    ]);
    const parsed = parseAgentArgs(agent.args?.slice(1) ?? []);
    expect(parsed.files.map((f) => f.path)).toEqual(['/etc/flyte/secrets/db-password', `/etc/flyte/secrets/api-key/${VERSION}`]);
    expect(agent.env).toBeUndefined();
    expect(agent.command).toBeUndefined();
    expect(agent.volumeMounts).toEqual([
      { name: AZURE_VOLUME_NAME, mountPath: '/etc/flyte/secrets' },
      { name: AGENT_ENV_VOLUME_NAME, mountPath: '/var/run/flyte-secrets/env' },
    ]);
    const task = out.pod.spec?.containers[0] as Container;
    const ref = { volumeName: AGENT_ENV_VOLUME_NAME, path: 'secrets.env', key: '_UNION_AS-ENV', optional: false };
    expect(task.env).toEqual(
      expect.arrayContaining([
        { name: '_UNION_AS-ENV', valueFrom: { fileKeyRef: ref } },
        { name: 'DB_URL', valueFrom: { fileKeyRef: ref } },
        { name: 'FLYTE_SECRETS_ENV_PREFIX', value: '_UNION_' },
        { name: '_UNION_MY-K8S-SECRET_TOKEN', valueFrom: { secretKeyRef: { name: 'my-k8s-secret', key: 'token', optional: true } } },
      ]),
    );
    expect(task.volumeMounts).toEqual([{ name: AZURE_VOLUME_NAME, readOnly: true, mountPath: '/etc/flyte/secrets' }]);
    expect((out.pod.spec?.volumes ?? []).map((v) => v.name).sort()).toEqual([AZURE_VOLUME_NAME, AGENT_ENV_VOLUME_NAME].sort());
    expect(podProblems(out.pod)).toEqual([]);
    expect(applyPatch(pod, out.patch)).toEqual(out.pod);
  });

  it('is deterministic, and re-admitting the mutated pod changes nothing', async () => {
    const pod = taskPod(SECRETS);
    const a = mutated(await agentMutator.mutate(pod, { namespace: 'ns', dryRun: false }));
    const b = mutated(await agentMutator.mutate(structuredClone(pod), { namespace: 'ns', dryRun: false }));
    expect(JSON.stringify(b.patch)).toBe(JSON.stringify(a.patch));
    const again = mutated(await agentMutator.mutate(a.pod, { namespace: 'ns', dryRun: false }));
    expect(again.patch).toEqual([]);
    expect(again.pod).toEqual(a.pod);
  });

  it('ENV_VAR is refused without flyteSecrets.envFiles, naming the option and the Kubernetes version', async () => {
    for (const m of [mutatorFor({ azure: { delivery: 'agent' } }), mutatorFor({})]) {
      const out = await m.mutate(taskPod([SECRETS[3] as Secret]), { namespace: 'ns', dryRun: false });
      expect(out.kind).toBe('denied');
      if (out.kind !== 'denied') return;
      expect(out.message).toContain('unrecognized mount requirement [ENV_VAR]');
      expect(out.message).toContain(AZURE_ENV_VAR_HINT);
      expect(out.message).toContain('flyteSecrets.envFiles');
      expect(out.message).toContain('1.35');
    }
  });

  it('refuses an env_var that cannot be an env-file key', async () => {
    const out = await agentMutator.mutate(taskPod([makeSecret({ group: `${V}/x`, mountRequirement: MountRequirement.ENV_VAR, envVar: "BAD'NAME" })]), { namespace: 'ns', dryRun: false });
    expect(out.kind).toBe('denied');
    if (out.kind === 'denied') expect(out.message).toContain('cannot be a key of a Kubernetes env file');
  });

  it('leaves cli mode exactly as it was (one azure-pull-secret-<i> per secret, no agent)', async () => {
    const pod = taskPod(SECRETS.slice(0, 3));
    const cli = mutated(await mutatorFor({}).mutate(pod, { namespace: 'ns', dryRun: false }));
    const explicit = mutated(await mutatorFor({ azure: { delivery: 'cli' } }).mutate(pod, { namespace: 'ns', dryRun: false }));
    expect(explicit.patch).toEqual(cli.patch);
    expect(cli.pod.spec?.initContainers?.map((c) => c.name)).toEqual(['user-init', 'azure-pull-secret-1', 'azure-pull-secret-2']);
  });

  it('another manager’s init containers are unaffected: the same pod with only its K8s secret differs by the agent’s share only', async () => {
    const k8sOnly = mutated(await agentMutator.mutate(taskPod([SECRETS[2] as Secret]), { namespace: 'ns', dryRun: false }));
    const both = mutated(await agentMutator.mutate(taskPod(SECRETS.slice(0, 3)), { namespace: 'ns', dryRun: false }));
    const userInit = (p: Pod): Container | undefined => p.spec?.initContainers?.find((c) => c.name === 'user-init');
    expect(userInit(both.pod)?.env?.filter((e) => e.name.includes('K8S'))).toEqual(userInit(k8sOnly.pod)?.env?.filter((e) => e.name.includes('K8S')));
    expect(both.pod.spec?.initContainers).toHaveLength(2);
  });
});
