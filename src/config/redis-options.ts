/**
 * `cache.redis.options`: the fields of go-redis's `Options` as Flyte's `flytestdlib/cache` copies them
 * (`RedisOptions` in https://github.com/flyteorg/flyte/blob/master/flytestdlib/cache/config.go). Flyte's loader matches
 * field names case-insensitively, so `Addr`, `addr` and `ADDR` are the same field; so do we. Durations are Go duration
 * strings (`5s`, `500ms`); a negative number means "off", as in go-redis.
 *
 * @module
 */
import { z } from 'zod';
import { parseDuration } from './duration.js';

/** The fields, in Flyte's spelling and order, with their kind. */
const FIELDS = {
  Network: 'string',
  Addr: 'string',
  ClientName: 'string',
  Protocol: 'int',
  Username: 'string',
  Password: 'string',
  PasswordSecretName: 'string',
  DB: 'int',
  MaxRetries: 'int',
  MinRetryBackoff: 'duration',
  MaxRetryBackoff: 'duration',
  DialTimeout: 'duration',
  ReadTimeout: 'duration',
  WriteTimeout: 'duration',
  ContextTimeoutEnabled: 'bool',
  PoolFIFO: 'bool',
  PoolSize: 'int',
  PoolTimeout: 'duration',
  MinIdleConns: 'int',
  MaxIdleConns: 'int',
  MaxActiveConns: 'int',
  ConnMaxIdleTime: 'duration',
  ConnMaxLifetime: 'duration',
  TLSConfig: 'object',
  DisableIndentity: 'bool',
} as const;

type Field = keyof typeof FIELDS;
type KindOf<K extends string> = K extends 'string' ? string : K extends 'bool' ? boolean : K extends 'object' ? Record<string, unknown> | null : number;

/** `cache.redis.options` after validation: every field present (go-redis's zero value when unset), durations in ms. */
export type RedisOptions = { [F in Field]: KindOf<(typeof FIELDS)[F]> };

const ZERO: RedisOptions = Object.fromEntries(
  Object.entries(FIELDS).map(([f, kind]) => [f, kind === 'string' ? '' : kind === 'bool' ? false : kind === 'object' ? null : 0]),
) as RedisOptions;

const byLowerName = new Map(Object.keys(FIELDS).map((f) => [f.toLowerCase(), f as Field]));

/** The zod schema of `cache.redis.options`. */
export const redisOptionsSchema = z
  .record(z.string(), z.unknown())
  .default({})
  .transform((raw, ctx): RedisOptions => {
    const out: Record<string, unknown> = { ...ZERO };
    for (const [name, value] of Object.entries(raw)) {
      const field = byLowerName.get(name.toLowerCase());
      if (field === undefined) {
        ctx.addIssue({ code: 'custom', path: [name], message: `unknown Redis option "${name}"; the options are go-redis's as Flyte copies them: ${Object.keys(FIELDS).join(', ')}` });
        continue;
      }
      const kind = FIELDS[field];
      const bad = (what: string): void => ctx.addIssue({ code: 'custom', path: [name], message: `${field} should be ${what}` });
      if (value === null || value === undefined) continue;
      switch (kind) {
        case 'string':
          if (typeof value === 'string') out[field] = value;
          else bad('a string');
          break;
        case 'int':
          if (typeof value === 'number' && Number.isInteger(value)) out[field] = value;
          else if (typeof value === 'string' && /^-?\d+$/.test(value.trim())) out[field] = Number(value);
          else bad('a whole number');
          break;
        case 'bool':
          if (typeof value === 'boolean') out[field] = value;
          else bad('true or false');
          break;
        case 'duration': {
          const ms = typeof value === 'number' ? (value < 0 ? -1 : value) : typeof value === 'string' ? (value.trim().startsWith('-') ? -1 : parseDuration(value)) : undefined;
          if (ms === undefined) bad('a duration like "500ms" or "3s"');
          else out[field] = ms;
          break;
        }
        case 'object':
          if (typeof value === 'object' && !Array.isArray(value)) out[field] = value;
          else bad('a map');
          break;
      }
    }
    return out as RedisOptions;
  });
