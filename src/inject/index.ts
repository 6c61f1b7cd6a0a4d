/**
 * Secret injection: the injectors (Global, K8s, AWS, GCP, Vault, Azure), the pod mutator that chains them, and the
 * JSON Patch between the received and the mutated pod. The Embedded injector lives in `./embedded.js`.
 *
 * @example
 * ```ts
 * import { buildInjectors, createMutator } from './inject/index.js';
 * const mutator = createMutator(config, buildInjectors(config, { embedded }));
 * const outcome = await mutator.mutate(pod, { namespace: 'flytesnacks-development', dryRun: false });
 * ```
 *
 * @module
 */
export { injected, notMine, refused, refusedLazily, synchronousInjector, warnOnce, type InjectContext, type InjectOutcome, type Refusal, type SecretInjector, type SidecarPlan } from './injector.js';
export { sidecarInjector, type SidecarDecision } from './sidecar.js';
export {
  addSidecars,
  allContainers,
  appendEnvVars,
  appendVolumeIfNotExists,
  appendVolumeMounts,
  clonePod,
  controlCharProblem,
  copyJson,
  editablePod,
  envValue,
  envVarNameProblem,
  fileModeEnvVars,
  injectSidecar,
  memoryVolume,
  pathsOverlap,
  injectedInitContainers,
  quote,
  receivingContainers,
  sameEnvVar,
  secretPath,
  setSharedEnv,
  specOf,
  toResources,
  unrecognizedMountRequirement,
  type Problem,
  type SidecarSpec,
} from './pod-edit.js';
export { createGlobalInjector, type GlobalProviderDeps } from './global.js';
export { createK8sInjector, isK8sSecretName, k8sSecretNameWarning, k8sVolumeName, MAX_SECRET_NAME_LENGTH, MAX_VOLUME_NAME_LENGTH } from './k8s.js';
export { AWS_CONTAINER_PREFIX, AWS_SIDECAR_MOUNT_PATH, AWS_VOLUME_NAME, createAwsInjector } from './aws.js';
export { createGcpInjector, GCP_CONTAINER_PREFIX, GCP_SCRIPT, GCP_VOLUME_NAME } from './gcp.js';
export { createVaultInjector, VAULT_ANNOTATION_PREFIX, VAULT_ID_NAMESPACE, vaultSecretId, vaultTemplate } from './vault.js';
export {
  AZURE_CONTAINER_PREFIX,
  AZURE_NO_WORKLOAD_IDENTITY_WARNING,
  AZURE_SCRIPT,
  AZURE_VOLUME_NAME,
  AZURE_WORKLOAD_IDENTITY_LABEL,
  azureSecretTarget,
  createAzureInjector,
  type AzureSecretTarget,
} from './azure.js';
export { buildInjectors, createMutator, NONE_INJECTED_PREFIX, type InjectorDeps, type MutationOutcome, type MutatorOptions, type PodMutator } from './mutator.js';
export { applyPatch, createPatch, escapePointerToken, type JsonPatchOp } from './patch.js';
