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

const MAP_FIELDS = ['annotations', 'labels'] as const;
const CONTAINER_LISTS = ['containers', 'initContainers'] as const;
const CONTAINER_LIST_FIELDS = ['env', 'envFrom', 'volumeMounts', 'volumeDevices'] as const;

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
  // Runs once per admission: no closures, iterators (indexed loops: a for-of loop that can return early keeps its
  // iterator object) or message strings unless something is wrong.
  const meta = pod['metadata'];
  if (isRecord(meta)) {
    for (let f = 0; f < MAP_FIELDS.length; f++) {
      const k = MAP_FIELDS[f]!;
      const m = meta[k];
      if (m === undefined || m === null) continue;
      if (!isRecord(m)) return `metadata.${k} is not a map`;
      for (const key in m) {
        if (Object.prototype.hasOwnProperty.call(m, key) && typeof m[key] !== 'string') return `${k === 'annotations' ? 'annotation' : 'label'} ${JSON.stringify(key)} is not a string`;
      }
    }
  }
  const spec = pod['spec'];
  if (!isRecord(spec)) return undefined;
  const volumes = listProblem(spec['volumes'], 'spec.volumes');
  if (volumes !== undefined) return volumes;
  for (let l = 0; l < CONTAINER_LISTS.length; l++) {
    const k = CONTAINER_LISTS[l]!;
    const containers = spec[k];
    const list = listProblem(containers, `spec.${k}`);
    if (list !== undefined) return list;
    if (containers === undefined || containers === null) continue;
    const items = containers as Record<string, unknown>[];
    for (let i = 0; i < items.length; i++) {
      const c = items[i] as Record<string, unknown>;
      if (typeof c['name'] !== 'string') return `spec.${k}[${i}].name is not a string`;
      for (let n = 0; n < CONTAINER_LIST_FIELDS.length; n++) {
        const f = CONTAINER_LIST_FIELDS[n]!;
        const p = listProblem(c[f], f);
        if (p !== undefined) return `spec.${k}[${i}].${p}`;
      }
      const env = c['env'] as Record<string, unknown>[] | undefined | null;
      if (env !== undefined && env !== null) {
        for (let j = 0; j < env.length; j++) if (typeof (env[j] as Record<string, unknown>)['name'] !== 'string') return `spec.${k}[${i}].env[${j}].name is not a string`;
      }
      const mounts = c['volumeMounts'] as Record<string, unknown>[] | undefined | null;
      if (mounts !== undefined && mounts !== null) {
        for (let j = 0; j < mounts.length; j++) {
          const m = mounts[j] as Record<string, unknown>;
          if (typeof m['name'] !== 'string' || typeof m['mountPath'] !== 'string') return `spec.${k}[${i}].volumeMounts[${j}] needs a string name and mountPath`;
        }
      }
    }
  }
  return undefined;
}

/** Null/undefined, or a list of objects; else what is wrong, naming the field `where`. */
function listProblem(v: unknown, where: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) return `${where} is not a list`;
  for (let i = 0; i < v.length; i++) if (!isRecord(v[i])) return `${where}[${i}] is not an object`;
  return undefined;
}
