/**
 * The pure agent-container builder (src/inject/agent.ts): one container for the pod, first among the init containers,
 * items appended in call order, re-adding is a fixed point, volumes and fileKeyRef entries where they belong.
 */
import type { Container, Pod } from 'kubernetes-types/core/v1.js';
import { describe, expect, it } from 'vitest';
import { parseAgentArgs } from '../src/agent/args.js';
import { AZURE_VOLUME_NAME } from '../src/inject/azure.js';
import {
  addAgentDelivery,
  AGENT_CONTAINER_NAME,
  AGENT_ENV_VOLUME_NAME,
  AGENT_SECRETS_VOLUME_NAME,
  ensureAgentOption,
  findAgentContainer,
  type AgentItem,
  type AgentSettings,
} from '../src/inject/agent.js';
import { editablePod } from '../src/inject/pod-edit.js';
import { podProblems } from './support/pod-schema.js';

const SETTINGS: AgentSettings = { image: 'example.test/flyte-secrets:0.1.0', resources: { requests: { cpu: '50m', memory: '64Mi' } }, deadline: '2m' };
const A = 'https://kv-e2e.vault.azure.net/secrets/a';
const B = 'https://kv-e2e.vault.azure.net/secrets/b';

function pod(): Pod {
  return {
    metadata: { name: 'p' },
    spec: {
      initContainers: [{ name: 'user-init', image: 'busybox' }],
      containers: [{ name: 'main', image: 'busybox', env: [{ name: 'KEEP', value: '1' }] }],
    },
  };
}

function add(p: Pod, ...items: AgentItem[]): Pod {
  const out = editablePod(p);
  for (const item of items) {
    const problem = addAgentDelivery(out, item, SETTINGS);
    if (problem !== undefined) throw new Error(problem.reason);
  }
  return out;
}

function agent(p: Pod): Container {
  const c = findAgentContainer(p)?.container;
  if (c === undefined) throw new Error('no agent container');
  return c;
}

describe('addAgentDelivery', () => {
  it('the secrets volume is the Azure manager’s', () => {
    expect(AGENT_SECRETS_VOLUME_NAME).toBe(AZURE_VOLUME_NAME);
  });

  it('creates one agent container first among the init containers, files in call order', () => {
    const out = add(pod(), { kind: 'file', source: A, path: '/etc/flyte/secrets/a' }, { kind: 'file', source: B, path: '/etc/flyte/secrets/b' });
    expect(out.spec?.initContainers?.map((c) => c.name)).toEqual([AGENT_CONTAINER_NAME, 'user-init']);
    expect(agent(out)).toEqual({
      name: AGENT_CONTAINER_NAME,
      image: SETTINGS.image,
      args: ['agent', '--', '--deadline', '2m', '--file', `${A}=/etc/flyte/secrets/a`, '--file', `${B}=/etc/flyte/secrets/b`],
      resources: SETTINGS.resources,
      securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
      volumeMounts: [{ name: AZURE_VOLUME_NAME, mountPath: '/etc/flyte/secrets' }],
    });
    expect(out.spec?.volumes).toEqual([{ name: AZURE_VOLUME_NAME, emptyDir: { medium: 'Memory' } }]);
    for (const name of ['user-init', 'main']) {
      const c = [...(out.spec?.initContainers ?? []), ...(out.spec?.containers ?? [])].find((x) => x.name === name);
      expect(c?.volumeMounts).toEqual([{ name: AZURE_VOLUME_NAME, readOnly: true, mountPath: '/etc/flyte/secrets' }]);
      expect(c?.env?.slice(0, 2)).toEqual([
        { name: 'FLYTE_SECRETS_FILE_PREFIX', value: '' },
        { name: 'FLYTE_SECRETS_DEFAULT_DIR', value: '/etc/flyte/secrets' },
      ]);
    }
    expect(podProblems(out)).toEqual([]);
    // The args are exactly what the agent parses.
    expect(parseAgentArgs(agent(out).args?.slice(1) ?? []).files.map((f) => f.path)).toEqual(['/etc/flyte/secrets/a', '/etc/flyte/secrets/b']);
  });

  it('is a fixed point: adding the same items again changes nothing', () => {
    const items: AgentItem[] = [
      { kind: 'file', source: A, path: '/etc/flyte/secrets/a' },
      { kind: 'env', source: B, key: '_UNION_B', names: ['_UNION_B', 'MY_B'] },
    ];
    const once = add(pod(), ...items);
    const twice = add(once, ...items);
    expect(twice).toEqual(once);
    expect(JSON.stringify(twice)).toBe(JSON.stringify(once));
  });

  it('env items: the env-file volume is mounted by the agent only, fileKeyRef on every container after it', () => {
    const out = add(pod(), { kind: 'env', source: B, key: '_UNION_B', names: ['_UNION_B', 'MY_B'] });
    const a = agent(out);
    expect(a.args).toEqual(['agent', '--', '--deadline', '2m', '--env-file', '/var/run/flyte-secrets/env/secrets.env', '--env', `${B}=_UNION_B`]);
    expect(a.volumeMounts).toEqual([{ name: AGENT_ENV_VOLUME_NAME, mountPath: '/var/run/flyte-secrets/env' }]);
    expect(out.spec?.volumes).toEqual([{ name: AGENT_ENV_VOLUME_NAME, emptyDir: { medium: 'Memory' } }]);
    const ref = { volumeName: AGENT_ENV_VOLUME_NAME, path: 'secrets.env', key: '_UNION_B', optional: false };
    for (const c of [out.spec?.initContainers?.[1], out.spec?.containers[0]]) {
      expect(c?.volumeMounts).toBeUndefined();
      expect(c?.env?.filter((e) => e.valueFrom !== undefined)).toEqual([
        { name: 'MY_B', valueFrom: { fileKeyRef: ref } },
        { name: '_UNION_B', valueFrom: { fileKeyRef: ref } },
      ]);
    }
    expect(out.spec?.containers[0]?.env?.at(-1)).toEqual({ name: 'KEEP', value: '1' });
    expect(a.env).toBeUndefined();
    expect(podProblems(out)).toEqual([]);
  });

  it('a container that starts before the agent (put there later by another webhook) gets no fileKeyRef', () => {
    const first = add(pod(), { kind: 'file', source: A, path: '/etc/flyte/secrets/a' });
    first.spec?.initContainers?.unshift({ name: 'early-sidecar', image: 'busybox', restartPolicy: 'Always' });
    const out = add(first, { kind: 'env', source: B, key: 'K', names: ['K'] });
    expect(out.spec?.initContainers?.map((c) => c.name)).toEqual(['early-sidecar', AGENT_CONTAINER_NAME, 'user-init']);
    const hasRef = (c: Container | undefined): boolean => (c?.env ?? []).some((e) => e.name === 'K');
    expect(hasRef(out.spec?.initContainers?.[0])).toBe(false);
    expect(hasRef(out.spec?.initContainers?.[2])).toBe(true);
    expect(hasRef(out.spec?.containers[0])).toBe(true);
  });

  it('refuses two secrets at colliding paths, and one env-file key for two sources, changing nothing', () => {
    const base = add(pod(), { kind: 'file', source: A, path: '/etc/flyte/secrets/a' }, { kind: 'env', source: A, key: 'K', names: ['K'] });
    const copy = editablePod(base);
    expect(addAgentDelivery(copy, { kind: 'file', source: B, path: '/etc/flyte/secrets/a/v1' }, SETTINGS)?.reason).toMatch(/collides with \/etc\/flyte\/secrets\/a written by init container flyte-secrets-agent/);
    expect(addAgentDelivery(copy, { kind: 'env', source: B, key: 'K', names: ['K'] }, SETTINGS)?.reason).toMatch(/env-file key "K"/);
    expect(copy).toEqual(base);
  });

  it('ensureAgentOption appends an option once (the broker’s --broker, for instance)', () => {
    const out = add(pod(), { kind: 'file', source: A, path: '/etc/flyte/secrets/a' });
    ensureAgentOption(out, '--broker', 'https://broker.test:8443', SETTINGS);
    ensureAgentOption(out, '--broker', 'https://broker.test:8443', SETTINGS);
    expect(agent(out).args?.slice(-2)).toEqual(['--broker', 'https://broker.test:8443']);
    expect(agent(out).args?.filter((a) => a === '--broker')).toHaveLength(1);
  });

  it('never edits the pod it was given a copy of', () => {
    const original = pod();
    const frozen = JSON.stringify(original);
    add(original, { kind: 'file', source: A, path: '/etc/flyte/secrets/a' }, { kind: 'env', source: B, key: 'K', names: ['K'] });
    expect(JSON.stringify(original)).toBe(frozen);
  });
});
