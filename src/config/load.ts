/**
 * Loading a config: file → YAML/JSON parse → schema (defaults filled in) → every problem reported at once.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { errorMessage, FlyteSecretsError } from '../errors.js';
import { describeYamlError } from './yaml-error.js';
import { configSchema, type Config } from './schema.js';

/** One problem in a config, with the dot-path of the key it concerns. */
export interface ConfigProblem {
  path: string;
  message: string;
}

/** A config that failed validation; `problems` lists every one of them. */
export class ConfigError extends FlyteSecretsError {
  readonly problems: ConfigProblem[];

  constructor(source: string, problems: ConfigProblem[]) {
    const lines = problems.map((p) => `  - ${p.path === '' ? '(top level)' : p.path}: ${p.message}`);
    super('InvalidConfig', `invalid config ${source}:\n${lines.join('\n')}`);
    this.problems = problems;
  }
}

function dotPath(path: readonly PropertyKey[]): string {
  return path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[');
}

function problemsOf(error: z.ZodError): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        out.push({ path: dotPath([...issue.path, key]), message: 'unknown key (check its spelling against `flyte-secrets config defaults`)' });
      }
      continue;
    }
    out.push({ path: dotPath(issue.path), message: issue.message });
  }
  return out;
}

/** Expand `$VAR` and `${VAR}` from the environment, as Flyte does for `certDir`. */
export function expandEnv(text: string, env: NodeJS.ProcessEnv = process.env): string {
  return text.replace(/\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))/g, (_m, a: string | undefined, b: string | undefined) => env[a ?? b ?? ''] ?? '');
}

/**
 * Validate an already-parsed config object. Throws {@link ConfigError} listing every problem.
 *
 * @example
 * ```ts
 * const config = parseConfig({ webhook: { secretManagerTypes: ['azure'] } });
 * config.webhook.secretManagerTypes // ['Azure']
 * ```
 */
export function parseConfig(input: unknown, source = '(inline)', env: NodeJS.ProcessEnv = process.env): Config {
  const raw = input ?? {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(source, [{ path: '', message: 'a config must be a mapping of sections (webhook, secrets, cache, flyteSecrets)' }]);
  }
  const result = configSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(source, problemsOf(result.error));
  const config = result.data;
  config.webhook.certDir = expandEnv(config.webhook.certDir, env);
  return config;
}

/** Parse config text (YAML, which includes JSON). Syntax errors are reported with line and column. */
export function parseConfigText(text: string, source = '(inline)', env: NodeJS.ProcessEnv = process.env): Config {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      source,
      doc.errors.map((e) => ({ path: '', message: describeYamlError(text, e) })),
    );
  }
  let value: unknown;
  try {
    // A bounded alias count stops "billion laughs" documents; an unresolved alias throws here too.
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new ConfigError(source, [{ path: '', message: `cannot read the YAML: ${errorMessage(err).split('\n')[0] ?? ''}` }]);
  }
  return parseConfig(value, source, env);
}

/** Read and validate a config file. */
export function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new FlyteSecretsError('InvalidConfig', `cannot read config file ${file}: ${code === 'ENOENT' ? 'no such file' : code}`, { cause: err });
  }
  return parseConfigText(text, file, env);
}

/** The default config (what an empty file gives). */
export function defaultConfig(): Config {
  return parseConfig({});
}
