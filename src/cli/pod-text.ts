/**
 * Pod manifests in and out of the CLI: {@link parsePodText} reads a bare Pod from YAML or JSON, {@link toYaml}
 * prints one. Kept apart from the command modules so that the YAML library loads only when a command reads or
 * prints YAML (not for `--help`).
 *
 * @module
 */
import type { Pod } from 'kubernetes-types/core/v1.js';
import { parseAllDocuments, stringify } from 'yaml';
import { describeYamlError } from '../config/yaml-error.js';
import { isRecord, podShapeProblem } from '../webhook/pod-shape.js';
import { CliError } from './io.js';

/**
 * Read a bare Pod from YAML or JSON text. Refuses several documents, non-objects, other kinds and AdmissionReviews
 * with a message saying what to pass instead.
 */
export function parsePodText(text: string, source: string): Pod {
  const docs = parseAllDocuments(text, { uniqueKeys: true });
  const nonEmpty = docs.filter((d) => d.contents !== null || d.errors.length > 0);
  if (nonEmpty.length === 0) throw new CliError(`${source}: empty input; pass a Pod manifest (YAML or JSON)`);
  if (nonEmpty.length > 1) throw new CliError(`${source}: holds ${nonEmpty.length} documents; pass exactly one Pod`);
  const doc = nonEmpty[0];
  if (doc === undefined) throw new CliError(`${source}: empty input`);
  const e = doc.errors[0];
  if (e !== undefined) throw new CliError(`${source}: not valid YAML or JSON: ${describeYamlError(text, e)}`);
  let pod: unknown;
  try {
    // toJS resolves aliases: an unresolved one or an alias bomb throws the YAML library's own error.
    pod = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new CliError(`${source}: not a usable YAML document: ${err instanceof Error ? (err.message.split('\n')[0] ?? '') : String(err)}`, 1, { cause: err });
  }
  if (!isRecord(pod)) throw new CliError(`${source}: expected a Pod object, got ${Array.isArray(pod) ? 'a list' : pod === null ? 'null' : typeof pod}`);
  if (pod['kind'] === 'AdmissionReview') throw new CliError(`${source}: this is an AdmissionReview; pass the bare Pod (its request.object) instead`);
  if (pod['kind'] !== undefined && pod['kind'] !== 'Pod') throw new CliError(`${source}: expected kind Pod, got ${JSON.stringify(pod['kind'])}`);
  if (pod['apiVersion'] !== undefined && pod['apiVersion'] !== 'v1') throw new CliError(`${source}: expected apiVersion v1 for a Pod, got ${JSON.stringify(pod['apiVersion'])}`);
  for (const key of ['metadata', 'spec'] as const) {
    if (pod[key] !== undefined && !isRecord(pod[key])) throw new CliError(`${source}: the Pod's ${key} is not an object`);
  }
  const problem = podShapeProblem(pod);
  if (problem !== undefined) throw new CliError(`${source}: ${problem}`);
  return pod;
}

/** A value as YAML, lines never wrapped. */
export function toYaml(value: unknown): string {
  return stringify(value, { lineWidth: 0 });
}
