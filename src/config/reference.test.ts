import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { defaultConfig } from './load.js';
import { CONFIG_DESCRIPTIONS, configLeafPaths, renderConfigReference } from './reference.js';

describe('configuration reference', () => {
  const leaves = configLeafPaths(defaultConfig());

  it('describes every key of the schema, and only those', () => {
    expect(leaves.filter((p) => !(p in CONFIG_DESCRIPTIONS))).toEqual([]);
    expect(Object.keys(CONFIG_DESCRIPTIONS).filter((p) => !leaves.includes(p))).toEqual([]);
  });

  it('docs/configuration.md is up to date (run `npm run docs:config`)', () => {
    const committed = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    expect(committed).toBe(renderConfigReference());
  });
});
