/**
 * `flyte-secrets/webhook`: the admission webhook as a library: the AdmissionReview codec, the socket-free handler,
 * the HTTPS server, TLS reloading, metrics, logs and Flyte's cache-invalidation server.
 *
 * @example
 * ```ts
 * import { startWebhookServer, createLogger } from 'flyte-secrets/webhook';
 * const server = await startWebhookServer({ config, mutator, injectors, logger: createLogger() });
 * ```
 *
 * @module
 */
export * from './review.js';
export * from './handler.js';
export * from './server.js';
export * from './tls.js';
export * from './metrics.js';
export * from './logger.js';
export * from './invalidation.js';
export * from './certs.js';
export * from './register.js';
export * from './kube.js';
