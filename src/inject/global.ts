/**
 * The Global injector (Flyte: `secret/global_secrets.go`): secrets held by the webhook itself, always first in the chain.
 *
 * A request `{group, key}` is looked up in the webhook's own environment as `<env-prefix><UPPER(group)>_<UPPER(key)>`
 * (default prefix `FLYTE_SECRET_`), then as the file `<secrets-prefix>/<group>/<key>` (default `/etc/secrets`), and
 * delivered as the env var `UPPER(<secretEnvVarPrefix><group>_<key>)` with the literal value, plus
 * `FLYTE_SECRETS_ENV_PREFIX`. FILE requests are refused. The lookup goes through the injected `env` and `readFile`.
 *
 * Stricter than Flyte: a group/key that would make the file lookup leave `<secrets-prefix>` (`..`) is refused, and a
 * value that is not UTF-8 text is refused instead of being mangled.
 *
 * @module
 */
import type { Pod } from 'kubernetes-types/core/v1.js';
import type { Config } from '../config/schema.js';
import { MountRequirement, type Secret } from '../secret/model.js';
import { secretToString } from '../secret/annotations.js';
import { cleanPath, ENV_SECRETS_ENV_PREFIX, envVarName, goToUpper } from '../secret/paths.js';
import { injected, notMine, refused, refusedLazily, type InjectContext, type InjectOutcome, type Refusal, type SecretInjector } from './injector.js';
import { editablePod, envVarNameProblem, setSharedEnv, unrecognizedMountRequirement } from './pod-edit.js';

/** Where the Global provider looks secrets up (the webhook's own environment and file system, injected). */
export interface GlobalProviderDeps {
  /** The webhook process environment. */
  env: NodeJS.ProcessEnv;
  /** Read a whole file; rejects when it cannot be read (treated as "not found"). */
  readFile: (path: string) => Promise<Uint8Array>;
}

const NOT_MINE = { notMine: true } as const;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Global's refusal of a secret without group or key, when no one reads which secret it was. */
const NOT_GLOBAL: Refusal = Object.freeze({ injected: false, reason: 'both key and group are required parameters', code: 'InvalidSecret', notMine: true });

/**
 * Create the Global injector.
 *
 * @example
 * ```ts
 * const g = createGlobalInjector(config, { env: process.env, readFile: (p) => fs.promises.readFile(p) });
 * ```
 */
export function createGlobalInjector(config: Config, deps: GlobalProviderDeps): SecretInjector {
  const envPrefix = config.secrets['env-prefix'];
  const dir = cleanPath(config.secrets['secrets-prefix']);
  const podPrefix = config.webhook.secretEnvVarPrefix;

  // The reason is only written if no manager delivers the secret.
  const notForGlobal = (secret: Secret): Refusal =>
    refusedLazily(() => `both key and group are required parameters. Secret: [${secretToString(secret)}]`, 'InvalidSecret', NOT_MINE);

  /** A secret Global never holds: it has no group or no key (decided without a lookup). */
  const notGlobals = (secret: Secret): boolean => secret.group === '' || secret.key === '';

  /** The refusal of a secret that is not Global's, decided without a lookup. */
  function refusalNow(secret: Secret): Refusal | undefined {
    return notGlobals(secret) ? notForGlobal(secret) : undefined;
  }

  async function lookUp(secret: Secret): Promise<{ value: string } | InjectOutcome> {
    const { group, key } = secret;
    if (notGlobals(secret)) return notForGlobal(secret);
    const envName = `${envPrefix}${goToUpper(group)}_${goToUpper(key)}`;
    const filePath = cleanPath(`${dir}/${group}/${key}`);
    if (!filePath.startsWith(dir === '/' ? '/' : `${dir}/`)) {
      return refused(`the Global secret file ${JSON.stringify(filePath)} would be outside ${dir} (secrets.secrets-prefix); remove ".." from the secret's group and key`, 'InvalidPath');
    }
    const fromEnv = Object.prototype.hasOwnProperty.call(deps.env, envName) ? deps.env[envName] : undefined;
    if (fromEnv !== undefined) return { value: fromEnv };
    let bytes: Uint8Array;
    try {
      bytes = await deps.readFile(filePath);
    } catch {
      return notMine(`secrets not found - Env [${envName}], file [${filePath}]`, 'SecretNotFound');
    }
    try {
      return { value: utf8.decode(bytes) };
    } catch {
      return refused(`the Global secret in file [${filePath}] is not UTF-8 text and cannot be put in an environment variable`, 'InvalidSecret');
    }
  }

  return {
    type: 'Global',
    inject(secret, pod, ctx): Promise<InjectOutcome> {
      // The usual case (a secret for another manager) needs no lookup: answer without an async function's frames.
      const now = refusalNow(secret);
      return now === undefined ? lookUpAndInject(secret, pod, ctx) : Promise.resolve(now);
    },
    injectNow: refusalNow,
    // The one pass reads no reasons (a pod it cannot serve goes to the loop, which asks injectNow): one shared refusal.
    planWithoutPod: (secret) => (notGlobals(secret) ? NOT_GLOBAL : undefined),
  };

  async function lookUpAndInject(secret: Secret, pod: Pod, ctx: InjectContext): Promise<InjectOutcome> {
    const found = await lookUp(secret);
    if (!('value' in found)) return found;
    switch (secret.mountRequirement) {
      case MountRequirement.ANY:
      case MountRequirement.ENV_VAR:
        break;
      case MountRequirement.FILE:
        return refused(`global secrets can only be injected as environment variables [${secret.group}/${secret.key}]`, 'InjectionRefused');
      default: {
        const p = unrecognizedMountRequirement(secret);
        return notMine(p.reason, p.code);
      }
    }
    const name = envVarName(podPrefix, secret.group, secret.key);
    const bad = envVarNameProblem('Global', name, 'the secret');
    if (bad !== undefined) return refused(bad.reason, bad.code);
    const out = editablePod(pod);
    setSharedEnv(
      out,
      [
        { name: ENV_SECRETS_ENV_PREFIX, value: podPrefix },
        { name, value: found.value },
      ],
      ctx,
    );
    return injected(out);
  }
}
