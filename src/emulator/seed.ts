/**
 * Seed data for the Key Vault emulator: a JSON or YAML list (or `{ secrets: [...] }`) of entries, each either a
 * plain Key Vault secret or a Flyte-native secret stored the way Flyte's Embedded/Azure path reads it (encoded
 * name and JSON envelope of `src/azure`).
 *
 * ```yaml
 * - name: db-password            # plain Key Vault secret
 *   value: hunter2
 *   contentType: text/plain      # optional; also tags, enabled, nbf, exp (Unix seconds or an ISO date)
 * - flyteName: my-secret         # Flyte-native: stored as 1-flyte-development-flytesnacks-NV4S243FMNZGK5A
 *   org: flyte                   # optional, default "flyte" (Flyte OSS v2's only organisation)
 *   domain: development          # optional, default "" (org scope)
 *   project: flytesnacks         # optional, default ""
 *   string: s3cr3t               # or binaryBase64: SGVsbG8=
 * ```
 *
 * Entries for the same name become successive versions, in file order.
 *
 * @module
 */
import { parse as parseYaml } from 'yaml';
import { keyVaultNameForId } from '../azure/secret-name.js';
import { encodeBinaryEnvelope, encodeStringEnvelope } from '../azure/secret-value.js';
import { FlyteSecretsError, errorMessage } from '../errors.js';
import type { SetSecretInput } from './vault.js';

/** A normalised seed entry: a Key Vault name and what to store under it. */
export interface SeedSecret extends SetSecretInput {
  name: string;
}

/** A plain Key Vault secret as written in a seed file. `nbf`/`exp`: Unix seconds or an ISO-8601 date. */
export interface PlainSeedEntry {
  name: string;
  value: string;
  contentType?: string;
  tags?: Record<string, string>;
  enabled?: boolean;
  nbf?: number | string;
  exp?: number | string;
}

/** A Flyte-native secret as written in a seed file: exactly one of `string` and `binaryBase64`. */
export interface FlyteSeedEntry {
  org?: string;
  domain?: string;
  project?: string;
  flyteName: string;
  string?: string;
  binaryBase64?: string;
  contentType?: string;
  tags?: Record<string, string>;
  enabled?: boolean;
}

/** One entry of a seed file. */
export type SeedEntry = PlainSeedEntry | FlyteSeedEntry;

const PLAIN_KEYS = new Set(['name', 'value', 'contentType', 'tags', 'enabled', 'nbf', 'exp']);
const FLYTE_KEYS = new Set(['org', 'domain', 'project', 'flyteName', 'string', 'binaryBase64', 'contentType', 'tags', 'enabled']);
const BASE64_STD = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function seedError(where: string, message: string, cause?: unknown): FlyteSecretsError {
  return new FlyteSecretsError('InvalidInput', `${where}: ${message}`, cause === undefined ? {} : { cause });
}

function optString(o: Record<string, unknown>, key: string, where: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw seedError(where, `"${key}" must be a string`);
  return v;
}

function time(v: unknown, key: string, where: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (v instanceof Date) return Math.floor(v.getTime() / 1000);
  if (typeof v === 'string') {
    const ms = Date.parse(v);
    if (!Number.isNaN(ms)) return Math.floor(ms / 1000);
  }
  throw seedError(where, `"${key}" must be Unix seconds or an ISO-8601 date, e.g. 2030-01-01T00:00:00Z`);
}

function common(o: Record<string, unknown>, where: string): Omit<SetSecretInput, 'value'> {
  const out: Omit<SetSecretInput, 'value'> = {};
  const contentType = optString(o, 'contentType', where);
  if (contentType !== undefined) out.contentType = contentType;
  if (o.tags !== undefined && o.tags !== null) {
    if (typeof o.tags !== 'object' || Array.isArray(o.tags) || !Object.values(o.tags).every((x) => typeof x === 'string')) {
      throw seedError(where, '"tags" must be a map of strings');
    }
    out.tags = { ...(o.tags as Record<string, string>) };
  }
  const attributes: NonNullable<SetSecretInput['attributes']> = {};
  if (o.enabled !== undefined && o.enabled !== null) {
    if (typeof o.enabled !== 'boolean') throw seedError(where, '"enabled" must be true or false');
    attributes.enabled = o.enabled;
  }
  const nbf = time(o.nbf, 'nbf', where);
  const exp = time(o.exp, 'exp', where);
  if (nbf !== undefined) attributes.nbf = nbf;
  if (exp !== undefined) attributes.exp = exp;
  if (Object.keys(attributes).length > 0) out.attributes = attributes;
  return out;
}

function normaliseEntry(raw: unknown, where: string): SeedSecret {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw seedError(where, 'expected an object');
  const o = raw as Record<string, unknown>;
  if ('flyteName' in o) {
    for (const k of Object.keys(o)) if (!FLYTE_KEYS.has(k)) throw seedError(where, `unknown key "${k}" in a Flyte-native entry (known: ${[...FLYTE_KEYS].join(', ')})`);
    const flyteName = optString(o, 'flyteName', where);
    if (flyteName === undefined || flyteName === '') throw seedError(where, '"flyteName" must be a non-empty string');
    const text = optString(o, 'string', where);
    const b64 = optString(o, 'binaryBase64', where);
    if ((text === undefined) === (b64 === undefined)) throw seedError(where, 'give exactly one of "string" and "binaryBase64"');
    const id = { org: optString(o, 'org', where) ?? 'flyte', domain: optString(o, 'domain', where) ?? '', project: optString(o, 'project', where) ?? '', name: flyteName };
    let name: string;
    let value: string;
    try {
      name = keyVaultNameForId(id);
      if (b64 !== undefined) {
        const compact = b64.replace(/[\r\n]/g, '');
        if (!BASE64_STD.test(compact)) throw new FlyteSecretsError('InvalidInput', '"binaryBase64" is not standard base64 (A-Z a-z 0-9 + /, = padding)');
        value = encodeBinaryEnvelope(Buffer.from(compact, 'base64'));
      } else {
        value = encodeStringEnvelope(text ?? '');
      }
    } catch (err) {
      throw seedError(where, errorMessage(err), err);
    }
    return { name, value, ...common(o, where) };
  }
  for (const k of Object.keys(o)) if (!PLAIN_KEYS.has(k)) throw seedError(where, `unknown key "${k}" (known: ${[...PLAIN_KEYS].join(', ')}; or use "flyteName" for a Flyte-native secret)`);
  const name = optString(o, 'name', where);
  if (name === undefined) throw seedError(where, '"name" is required (or "flyteName" for a Flyte-native secret)');
  const value = optString(o, 'value', where);
  if (value === undefined) throw seedError(where, '"value" is required and must be a string');
  return { name, value, ...common(o, where) };
}

/**
 * Normalise parsed seed data (a list, or an object with a `secrets` list) into Key Vault names and values.
 * Errors name the entry (`<source> entry 3: …`) and never include a value.
 *
 * @example
 * ```ts
 * normaliseSeed([{ flyteName: 'my-secret', domain: 'development', project: 'flytesnacks', string: 's3cr3t' }]);
 * // [{ name: '1-flyte-development-flytesnacks-NV4S243FMNZGK5A', value: '{"type":"STRING","value":"s3cr3t"}' }]
 * ```
 */
export function normaliseSeed(data: unknown, source = 'seed'): SeedSecret[] {
  const list: unknown =
    data !== null && typeof data === 'object' && !Array.isArray(data) && 'secrets' in data ? data.secrets : data;
  if (list === null || list === undefined) return [];
  if (!Array.isArray(list)) throw seedError(source, 'expected a list of secrets (or an object with a "secrets" list)');
  return list.map((e, i) => normaliseEntry(e, `${source} entry ${i + 1}`));
}

/** Parse seed text (JSON or YAML) and normalise it; `source` names the file in errors. */
export function parseSeedText(text: string, source = 'seed'): SeedSecret[] {
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (err) {
    throw seedError(source, `not valid JSON or YAML (${errorMessage(err).split('\n')[0] ?? ''})`, err);
  }
  return normaliseSeed(data, source);
}
