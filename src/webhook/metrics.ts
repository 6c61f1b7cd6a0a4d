/**
 * Prometheus metrics of the webhook, on a {@link Registry} of its own per server (so two servers in one process,
 * as in tests, never share counters). Label values come from small fixed sets (outcomes, error codes, manager
 * names); never from pod names, namespaces or secret descriptors.
 *
 * @module
 */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Outcome label values of `flyte_secrets_admission_requests_total`. */
export type AdmissionOutcomeLabel =
  | 'mutated' // allowed with a patch
  | 'allowed' // a pod with nothing to inject (or already injected)
  | 'skipped' // not a pod, or not CREATE
  | 'denied' // refused by the mutator
  | 'error' // unexpected failure, answered with a denial
  | 'bad_request' // not an AdmissionReview (HTTP 400)
  | 'too_large' // body over flyteSecrets.server.maxBodyBytes (HTTP 413)
  | 'throttled' // over flyteSecrets.server.maxConcurrentAdmissions (HTTP 429)
  | 'aborted'; // body never arrived (client went away, or requestTimeout passed)

/** The webhook's metrics. */
export interface WebhookMetrics {
  readonly registry: Registry;
  /** `flyte_secrets_admission_requests_total{outcome}`. */
  readonly requests: Counter<'outcome'>;
  /** `flyte_secrets_admission_denials_total{reason}`; reason = the error code. */
  readonly denials: Counter<'reason'>;
  /** `flyte_secrets_admission_duration_seconds`: from the body's arrival to the answer. */
  readonly duration: Histogram;
  /** `flyte_secrets_injections_total{manager}`: per mutated pod, +1 for each manager that injected its secrets. */
  readonly injections: Counter<'manager'>;
  /** The Prometheus text exposition of {@link registry}. */
  text(): Promise<string>;
  /** Content-Type for {@link text}. */
  readonly contentType: string;
}

/** Options of {@link createWebhookMetrics}. */
export interface WebhookMetricsOptions {
  /** Also collect Node's default process metrics (CPU, memory, event loop, GC); default true. */
  processMetrics?: boolean;
}

/**
 * Create the metrics on a fresh registry.
 *
 * @example
 * ```ts
 * const metrics = createWebhookMetrics();
 * metrics.requests.inc({ outcome: 'mutated' });
 * await metrics.text(); // "# HELP flyte_secrets_admission_requests_total …"
 * ```
 */
export function createWebhookMetrics(options: WebhookMetricsOptions = {}): WebhookMetrics {
  const registry = new Registry();
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry });
  const requests = new Counter({
    name: 'flyte_secrets_admission_requests_total',
    help: 'Admission requests answered, by outcome (mutated, allowed, skipped, denied, error, bad_request, too_large, throttled, aborted).',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const denials = new Counter({
    name: 'flyte_secrets_admission_denials_total',
    help: 'Admissions denied, by error code.',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'flyte_secrets_admission_duration_seconds',
    help: 'Time to answer an admission request, once its body has arrived.',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const injections = new Counter({
    name: 'flyte_secrets_injections_total',
    help: 'Pods mutated, counted once per secret manager that injected at least one of their secrets.',
    labelNames: ['manager'] as const,
    registers: [registry],
  });
  return {
    registry,
    requests,
    denials,
    duration,
    injections,
    text: () => registry.metrics(),
    contentType: registry.contentType,
  };
}
