/**
 * flyte-secrets as a library: Flyte's secret wire formats, the Azure Key Vault codecs, the config, the injectors and
 * the pod mutator. The webhook server lives in `flyte-secrets/webhook`, the Key Vault emulator in
 * `flyte-secrets/emulator`, and the reader for task code in `flyte-secrets/runtime`.
 *
 * @example
 * ```ts
 * import { makeSecret, MountRequirement, secretsToAnnotations } from 'flyte-secrets';
 * secretsToAnnotations([makeSecret({ key: 'api-key', mountRequirement: MountRequirement.ENV_VAR })]);
 * // { 'flyte.secrets/s0': 'nnsxsoraejqxa1jnnnsxsiqknvxxk2tul4zgk3lvnfzgk2lfnz1duicfjzlf5vsbkifa' }
 * ```
 *
 * @module
 */
export * from './errors.js';
export * from './secret/model.js';
export * from './secret/value.js';
export * from './secret/base32.js';
export * from './secret/annotations.js';
export * from './secret/flyte-id.js';
export * from './secret/paths.js';
export * from './azure/secret-name.js';
export * from './azure/secret-value.js';
export * from './azure/secret-uri.js';
export { parseConfig, parseConfigText, loadConfigFile, defaultConfig, ConfigError, type ConfigProblem } from './config/load.js';
export * from './config/schema.js';
export * from './inject/index.js';
export { createEmbeddedSecretManager, createInjectorsFromConfig, type EmbeddedDeps, type RuntimeInjectorOptions, type RuntimeInjectors } from './assemble/index.js';
