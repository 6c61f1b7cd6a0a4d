/**
 * JSON text written from parts on the admission path, each function byte for byte what `JSON.stringify` gives for
 * the same value (property tests in json-text.test.ts and in the tests of the texts built with them).
 *
 * Why not `JSON.stringify`: under load each call's fresh, flat result string costs several times what it costs in
 * a loop. A plain string (printable ASCII without `"` or `\`, as uids, names, paths and Key Vault URIs are) is put
 * between quotes as it is, which links the parts instead of copying them; the answer's encoding copies the whole
 * text once (bench/README.md, "Eighth round").
 *
 * @module
 */

/** Printable ASCII other than `"` and `\`: what JSON.stringify writes as it is. */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/**
 * `JSON.stringify(value)` for a string.
 *
 * @example
 * ```ts
 * jsonString('db-password') // '"db-password"'
 * jsonString('a"b')         // '"a\\"b"'
 * ```
 */
export function jsonString(value: string): string {
  return PLAIN.test(value) ? `"${value}"` : JSON.stringify(value);
}

/**
 * `JSON.stringify(values)` for a list of strings.
 *
 * @example
 * ```ts
 * jsonStringList(['Azure', 'K8s']) // '["Azure","K8s"]'
 * ```
 */
export function jsonStringList(values: readonly string[]): string {
  let out = '[';
  for (let i = 0; i < values.length; i++) out += i === 0 ? jsonString(values[i]!) : `,${jsonString(values[i]!)}`;
  return `${out}]`;
}

/**
 * `JSON.stringify(value)` for a number: its shortest text, `null` when it is not finite.
 *
 * @example
 * ```ts
 * jsonNumber(0.25) // '0.25'
 * ```
 */
export function jsonNumber(value: number): string {
  return Number.isFinite(value) ? String(value) : 'null';
}
