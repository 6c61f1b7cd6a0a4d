/**
 * The shape checks a Pod needs before the injectors read it. The API server decodes a pod before a webhook sees it,
 * but a file given to the CLI, or a review sent by anything else, has had no such check: a list that is an object,
 * a container that is null, would otherwise surface as an internal error.
 *
 * @module
 */

/** A plain JSON object (not null, not a list). */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Check the parts of a Pod the injectors read have the types Kubernetes gives them (the API server decodes a pod
 * before a webhook sees it; a file has had no such check). Returns what is wrong, or undefined.
 *
 * @example
 * ```ts
 * podShapeProblem({ spec: { containers: {} } }) // 'spec.containers is not a list'
 * ```
 */
export function podShapeProblem(pod: Record<string, unknown>): string | undefined {
  const isList = (v: unknown): v is unknown[] => Array.isArray(v);
  const meta = pod['metadata'];
  if (isRecord(meta)) {
    for (const k of ['annotations', 'labels'] as const) {
      const m = meta[k];
      if (m === undefined || m === null) continue;
      if (!isRecord(m)) return `metadata.${k} is not a map`;
      for (const [key, v] of Object.entries(m)) if (typeof v !== 'string') return `${k === 'annotations' ? 'annotation' : 'label'} ${JSON.stringify(key)} is not a string`;
    }
  }
  const spec = pod['spec'];
  if (!isRecord(spec)) return undefined;
  const objects = (v: unknown, where: string): string | undefined => {
    if (v === undefined || v === null) return undefined;
    if (!isList(v)) return `${where} is not a list`;
    const i = v.findIndex((x) => !isRecord(x));
    return i === -1 ? undefined : `${where}[${i}] is not an object`;
  };
  const volumes = objects(spec['volumes'], 'spec.volumes');
  if (volumes !== undefined) return volumes;
  for (const k of ['containers', 'initContainers'] as const) {
    const list = objects(spec[k], `spec.${k}`);
    if (list !== undefined) return list;
    for (const [i, c] of ((spec[k] ?? []) as Record<string, unknown>[]).entries()) {
      const where = `spec.${k}[${i}]`;
      if (typeof c['name'] !== 'string') return `${where}.name is not a string`;
      for (const f of ['env', 'envFrom', 'volumeMounts', 'volumeDevices'] as const) {
        const p = objects(c[f], `${where}.${f}`);
        if (p !== undefined) return p;
      }
      for (const [j, e] of ((c['env'] ?? []) as Record<string, unknown>[]).entries()) if (typeof e['name'] !== 'string') return `${where}.env[${j}].name is not a string`;
      for (const [j, m] of ((c['volumeMounts'] ?? []) as Record<string, unknown>[]).entries()) {
        if (typeof m['name'] !== 'string' || typeof m['mountPath'] !== 'string') return `${where}.volumeMounts[${j}] needs a string name and mountPath`;
      }
    }
  }
  return undefined;
}
