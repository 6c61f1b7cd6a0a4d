import { describe, expect, it } from 'vitest';
import { parseConfig } from './load.js';

describe('cache.redis.options (go-redis Options as Flyte copies them)', () => {
  it('matches field names case-insensitively, as Flyte’s loader does, and reads durations', () => {
    const c = parseConfig({ cache: { type: 'Redis', redis: { defaultExpiration: '1h', options: { addr: 'redis:6380', PASSWORD: 'p', Username: 'u', db: 2, readTimeout: '250ms', minRetryBackoff: -1, TLSConfig: { ServerName: 'x' } } } } });
    expect(c.cache.redis.defaultExpiration).toBe(3_600_000);
    expect(c.cache.redis.options).toMatchObject({ Addr: 'redis:6380', Password: 'p', Username: 'u', DB: 2, ReadTimeout: 250, MinRetryBackoff: -1, TLSConfig: { ServerName: 'x' }, PoolSize: 0 });
  });

  it('names an unknown or mistyped field and lists the known ones', () => {
    expect(() => parseConfig({ cache: { redis: { options: { adress: 'x', DB: 'two' } } } })).toThrow(/unknown Redis option "adress"; the options are go-redis's as Flyte copies them: Network, Addr,/);
    expect(() => parseConfig({ cache: { redis: { options: { DB: 'two' } } } })).toThrow(/DB should be a whole number/);
  });
});
