/**
 * RFC 6902 JSON Patch between the pod the API server sent and the pod we want (spec §4.0.2).
 *
 * {@link createPatch} writes small patches: objects are compared key by key, arrays keep their common head and
 * tail so a prepended env var is one `add` at index 0. JSON pointers are escaped (`~` → `~0`, `/` → `~1`), so
 * annotation keys such as `vault.hashicorp.com/role` are addressed correctly. {@link applyPatch} applies a patch
 * with `fast-json-patch` (validated), which keeps the two directions independent.
 *
 * @module
 */
import jsonPatch from 'fast-json-patch';
import { isDeepStrictEqual } from 'node:util';
import { FlyteSecretsError } from '../errors.js';

/** One RFC 6902 operation. */
export type JsonPatchOp =
  | { op: 'add'; path: string; value: unknown }
  | { op: 'replace'; path: string; value: unknown }
  | { op: 'test'; path: string; value: unknown }
  | { op: 'remove'; path: string }
  | { op: 'move'; path: string; from: string }
  | { op: 'copy'; path: string; from: string };

/**
 * Escape one JSON-pointer reference token (RFC 6901): `~` → `~0`, then `/` → `~1`.
 *
 * @example
 * ```ts
 * escapePointerToken('vault.hashicorp.com/role') // 'vault.hashicorp.com~1role'
 * ```
 */
export function escapePointerToken(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** JSON view of a value: drops `undefined` members, as JSON serialisation would. */
function toJson(v: unknown): Json {
  return JSON.parse(JSON.stringify(v ?? null)) as Json;
}

function diff(a: Json, b: Json, path: string, out: JsonPatchOp[]): void {
  if (isDeepStrictEqual(a, b)) return;
  if (isObject(a) && isObject(b)) {
    for (const k of Object.keys(a)) if (!Object.hasOwn(b, k)) out.push({ op: 'remove', path: `${path}/${escapePointerToken(k)}` });
    for (const [k, bv] of Object.entries(b)) {
      const p = `${path}/${escapePointerToken(k)}`;
      if (!Object.hasOwn(a, k)) out.push({ op: 'add', path: p, value: bv });
      else diff(a[k] as Json, bv, p, out);
    }
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    let head = 0;
    while (head < a.length && head < b.length && isDeepStrictEqual(a[head], b[head])) head++;
    let tail = 0;
    while (tail < a.length - head && tail < b.length - head && isDeepStrictEqual(a[a.length - 1 - tail], b[b.length - 1 - tail])) tail++;
    const aMid = a.slice(head, a.length - tail);
    const bMid = b.slice(head, b.length - tail);
    const common = Math.min(aMid.length, bMid.length);
    // The changed run: element by element where both sides have one, then adds (b longer) or removes (a longer).
    for (let i = 0; i < common; i++) diff(aMid[i] as Json, bMid[i] as Json, `${path}/${head + i}`, out);
    for (let i = common; i < bMid.length; i++) out.push({ op: 'add', path: `${path}/${head + i}`, value: bMid[i] });
    for (let i = aMid.length - 1; i >= common; i--) out.push({ op: 'remove', path: `${path}/${head + i}` });
    return;
  }
  out.push({ op: 'replace', path, value: b });
}

/**
 * The RFC 6902 patch that turns `before` into `after` (both plain JSON data; `undefined` members are ignored).
 * Identical documents give `[]`.
 *
 * @example
 * ```ts
 * createPatch({ a: [1] }, { a: [0, 1] }) // [{ op: 'add', path: '/a/0', value: 0 }]
 * ```
 */
export function createPatch(before: unknown, after: unknown): JsonPatchOp[] {
  const out: JsonPatchOp[] = [];
  diff(toJson(before), toJson(after), '', out);
  return out;
}

/**
 * Apply `ops` to a copy of `doc` and return the result (the input is not changed). Throws
 * {@link FlyteSecretsError} `InvalidInput` when an operation does not apply.
 */
export function applyPatch<T>(doc: T, ops: readonly JsonPatchOp[]): T {
  try {
    const copy = toJson(doc);
    return jsonPatch.applyPatch(copy, ops.map((o) => ({ ...o })) as jsonPatch.Operation[], true, true).newDocument as T;
  } catch (err) {
    const message = err instanceof Error ? err.message.split('\n')[0] ?? err.message : String(err);
    throw new FlyteSecretsError('InvalidInput', `the JSON patch does not apply: ${message}`, { cause: err });
  }
}
