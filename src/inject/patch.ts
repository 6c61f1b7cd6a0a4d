/**
 * RFC 6902 JSON Patch between the pod the API server sent and the pod we want (Flyte: `executor/pkg/webhook/pod.go`).
 *
 * {@link createPatch} writes small patches: objects are compared key by key, arrays keep their common head and
 * tail so a prepended env var is one `add` at index 0. JSON pointers are escaped (`~` → `~0`, `/` → `~1`), so
 * annotation keys such as `vault.hashicorp.com/role` are addressed correctly. {@link applyPatch} applies a patch
 * with `fast-json-patch` (validated), which keeps the two directions independent.
 *
 * @module
 */
import jsonPatch from 'fast-json-patch';
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
  if (!token.includes('~') && !token.includes('/')) return token;
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

/** False for what JSON serialisation leaves out of an object (an `undefined`, a function or a symbol member). */
function present(v: unknown): boolean {
  return v !== undefined && typeof v !== 'function' && typeof v !== 'symbol';
}

/**
 * The JSON view of one value, without copying plain data: what JSON writes as `null` (an absent array element,
 * `NaN`, `Infinity`) becomes `null`, an object with `toJSON` (a `Date`) becomes its JSON data; objects, arrays and
 * other scalars are returned as they are (their members are looked at lazily by {@link jsonEqual} and {@link diff}).
 */
function view(v: unknown): unknown {
  if (!present(v)) return null;
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v === 'object' && v !== null && typeof (v as { toJSON?: unknown }).toJSON === 'function') return toJson(v);
  return v;
}

/** `o` has member `k` in its JSON view. */
function has(o: Record<string, unknown>, k: string): boolean {
  return Object.hasOwn(o, k) && present(o[k]);
}

/** True when `a` and `b` serialise to the same JSON (up to key order): what `isDeepStrictEqual` of both JSON views says. */
function jsonEqual(x: unknown, y: unknown): boolean {
  if (x === y) return true;
  const a = view(x);
  const b = view(y);
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!jsonEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  // for-in over own members (no key arrays): every member of a is in b with an equal value, and b has no more.
  let count = 0;
  for (const k in ao) {
    if (!has(ao, k)) continue;
    count++;
    if (!has(bo, k) || !jsonEqual(ao[k], bo[k])) return false;
  }
  for (const k in bo) if (has(bo, k)) count--;
  return count === 0;
}

function diff(x: unknown, y: unknown, path: string, out: JsonPatchOp[]): void {
  // Shared sub-documents (injectors copy only what they change) are skipped without being walked.
  if (x === y) return;
  const a = view(x);
  const b = view(y);
  if (isObject(a) && isObject(b)) {
    // for-in over own members, in Object.keys order (no key arrays).
    for (const k in a) if (has(a, k) && !has(b, k)) out.push({ op: 'remove', path: `${path}/${escapePointerToken(k)}` });
    for (const k in b) {
      if (!has(b, k)) continue;
      if (!has(a, k)) out.push({ op: 'add', path: `${path}/${escapePointerToken(k)}`, value: view(b[k]) });
      // The member's path is written only for a member that differs (most are shared or equal).
      else if (a[k] !== b[k]) diff(a[k], b[k], `${path}/${escapePointerToken(k)}`, out);
    }
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    let head = 0;
    while (head < a.length && head < b.length && jsonEqual(a[head], b[head])) head++;
    let tail = 0;
    while (tail < a.length - head && tail < b.length - head && jsonEqual(a[a.length - 1 - tail], b[b.length - 1 - tail])) tail++;
    const aEnd = a.length - tail;
    const bEnd = b.length - tail;
    const common = Math.min(aEnd, bEnd);
    // The changed run: element by element where both sides have one, then adds (b longer) or removes (a longer).
    for (let i = head; i < common; i++) diff(a[i], b[i], `${path}/${i}`, out);
    for (let i = common; i < bEnd; i++) out.push({ op: 'add', path: `${path}/${i}`, value: view(b[i]) });
    for (let i = aEnd - 1; i >= common; i--) out.push({ op: 'remove', path: `${path}/${i}` });
    return;
  }
  if (!jsonEqual(a, b)) out.push({ op: 'replace', path, value: view(b) });
}

/**
 * The RFC 6902 patch that turns `before` into `after` (both plain JSON data; `undefined` members are ignored, as
 * JSON serialisation ignores them). Identical documents give `[]`.
 *
 * Neither document is copied: sub-documents that are the same object in both are skipped at once, so a document
 * edited copy-on-write (as the injectors do) is compared in time proportional to what changed. The `value` of an
 * op is the `after` document's own sub-value (not a copy): serialise the patch, or copy it, before editing `after`.
 *
 * @example
 * ```ts
 * createPatch({ a: [1] }, { a: [0, 1] }) // [{ op: 'add', path: '/a/0', value: 0 }]
 * ```
 */
export function createPatch(before: unknown, after: unknown): JsonPatchOp[] {
  const out: JsonPatchOp[] = [];
  diff(before, after, '', out);
  return out;
}

/**
 * Apply `ops` to a copy of `doc` and return the result (the input is not changed). Throws
 * {@link FlyteSecretsError} `InvalidInput` when an operation does not apply.
 */
export function applyPatch<T>(doc: T, ops: readonly JsonPatchOp[]): T {
  try {
    // Copies of both, so the result shares nothing with `doc` or with the ops' values.
    const copy = toJson(doc);
    return jsonPatch.applyPatch(copy, toJson(ops) as unknown as jsonPatch.Operation[], true, true).newDocument as T;
  } catch (err) {
    const message = err instanceof Error ? err.message.split('\n')[0] ?? err.message : String(err);
    throw new FlyteSecretsError('InvalidInput', `the JSON patch does not apply: ${message}`, { cause: err });
  }
}
