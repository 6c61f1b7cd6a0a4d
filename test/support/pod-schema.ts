/**
 * Validate a pod the way the API server would, as far as can be done offline: the OpenAPI schema (kubernetes-models:
 * required fields, types) plus the semantic rules the schema cannot express and that secret injection can break —
 * DNS-1123 names (volumes ≤ 63 characters, Secret names), unique volume and container names, mounts of existing
 * volumes, one volume per mount path and container, env var names, Secret item paths, annotation keys.
 *
 * @example
 * ```ts
 * expect(podProblems(pod)).toEqual([]);
 * assertValidPod(pod); // throws with every problem listed
 * ```
 */
import type { Container, Pod } from 'kubernetes-types/core/v1.js';
import { Pod as PodModel } from 'kubernetes-models/v1/Pod';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const QUALIFIED_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function label(what: string, name: string, out: string[]): void {
  if (name.length > 63 || !DNS_LABEL.test(name)) out.push(`${what} ${JSON.stringify(name)} is not a DNS-1123 label (lower-case alphanumerics and "-", at most 63 characters)`);
}

/**
 * A Secret name must be a DNS-1123 subdomain (at most 253 characters). Upper-case letters are tolerated here, although
 * the API server refuses them: Flyte's own vectors use the group `grOUP` (the K8s injector warns about them instead).
 */
function secretName(what: string, name: string, out: string[]): void {
  if (name.length > 253 || !DNS_SUBDOMAIN.test(name.toLowerCase())) out.push(`${what} ${JSON.stringify(name)} is not a DNS-1123 subdomain (a Kubernetes Secret name)`);
}

/** Every problem found in `pod` (empty when valid). */
export function podProblems(pod: Pod): string[] {
  const out: string[] = [];
  try {
    new PodModel(structuredClone(pod) as ConstructorParameters<typeof PodModel>[0]).validate();
  } catch (err) {
    out.push(`schema: ${err instanceof Error ? err.message : String(err)}`);
  }
  const spec = pod.spec;
  const volumes = new Set<string>();
  for (const v of spec?.volumes ?? []) {
    label('volume name', v.name, out);
    if (volumes.has(v.name)) out.push(`volume name ${JSON.stringify(v.name)} is used twice`);
    volumes.add(v.name);
    if (v.secret !== undefined) secretName(`volume ${v.name}: secretName`, v.secret.secretName ?? '', out);
    for (const item of v.secret?.items ?? []) {
      if (item.path.startsWith('/') || item.path.split('/').includes('..')) out.push(`volume ${v.name}: item path ${JSON.stringify(item.path)} must be relative without ".."`);
    }
  }
  const names = new Set<string>();
  const containers: Container[] = [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])];
  for (const c of containers) {
    label('container name', c.name, out);
    if (names.has(c.name)) out.push(`container name ${JSON.stringify(c.name)} is used twice`);
    names.add(c.name);
    const paths = new Set<string>();
    for (const m of c.volumeMounts ?? []) {
      if (!volumes.has(m.name)) out.push(`container ${c.name}: mount of volume ${JSON.stringify(m.name)}, which does not exist`);
      if (paths.has(m.mountPath)) out.push(`container ${c.name}: two mounts at ${m.mountPath}`);
      paths.add(m.mountPath);
    }
    const envNames = new Set<string>();
    for (const e of c.env ?? []) {
      if (e.name === '' || e.name.includes('=') || !/^[\x20-\x7e]+$/.test(e.name)) out.push(`container ${c.name}: env var name ${JSON.stringify(e.name)} is invalid`);
      if (envNames.has(e.name)) out.push(`container ${c.name}: env var ${e.name} is set twice`);
      envNames.add(e.name);
      const ref = e.valueFrom?.secretKeyRef;
      if (ref !== undefined) secretName(`container ${c.name}: env var ${e.name} secretKeyRef.name`, ref.name ?? '', out);
    }
  }
  for (const key of Object.keys(pod.metadata?.annotations ?? {})) {
    const slash = key.lastIndexOf('/');
    const prefix = slash < 0 ? '' : key.slice(0, slash);
    const name = slash < 0 ? key : key.slice(slash + 1);
    if (name.length > 63 || !QUALIFIED_NAME.test(name) || (prefix !== '' && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix)))) {
      out.push(`annotation key ${JSON.stringify(key)} is not a qualified name`);
    }
  }
  return out;
}

/** Throw an Error listing every problem of `pod`. */
export function assertValidPod(pod: Pod): void {
  const problems = podProblems(pod);
  if (problems.length > 0) throw new Error(`invalid pod:\n  - ${problems.join('\n  - ')}`);
}
