/**
 * Prometheus metrics of the webhook, on a {@link Registry} of its own per server (so two servers in one process,
 * as in tests, never share counters). Label values come from small fixed sets (outcomes, error codes, manager
 * names); never from pod names, namespaces or secret descriptors.
 *
 * The admission path only adds to plain numbers; prom-client reads them when `/metrics` is scraped. Its own
 * `inc`/`observe` (label hashing and validation, a closure per observation) cost ~1 µs each in a loop, but 17–28 µs
 * per admission in the loaded server (9–14 % of the `floor` server's CPU per request; bench/README.md, "Sixth
 * round"). The exposition is prom-client's, byte for byte (a property test compares the two).
 *
 * @module
 */
import { Counter, Registry, collectDefaultMetrics, type Metric } from 'prom-client';

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

/** A counter with one label, counted on the admission path without prom-client's per-call work. */
export interface LabelledCounter<L extends string> {
  /** Add 1 for these label values. */
  inc(labels: Readonly<Record<L, string>>): void;
}

/** A histogram without labels, observed on the admission path without prom-client's per-call work. */
export interface LeanHistogram {
  /** Record one value (seconds). */
  observe(value: number): void;
}

/** The webhook's metrics. */
export interface WebhookMetrics {
  readonly registry: Registry;
  /** `flyte_secrets_admission_requests_total{outcome}`. */
  readonly requests: LabelledCounter<'outcome'>;
  /** `flyte_secrets_admission_denials_total{reason}`; reason = the error code. */
  readonly denials: LabelledCounter<'reason'>;
  /** `flyte_secrets_admission_duration_seconds`: from the body's arrival to the answer. */
  readonly duration: LeanHistogram;
  /** `flyte_secrets_injections_total{manager}`: per mutated pod, +1 for each manager that injected its secrets. */
  readonly injections: LabelledCounter<'manager'>;
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
 * A prom-client counter with one label whose counts are kept in a map until a scrape hands them over (its
 * `collect` hook), so the exposition is prom-client's own.
 */
function labelledCounter<L extends string>(registry: Registry, name: string, help: string, label: L): LabelledCounter<L> {
  const pending = new Map<string, number>();
  new Counter({
    name,
    help,
    labelNames: [label],
    registers: [registry],
    collect(this: Counter<L>) {
      for (const [value, n] of pending) this.inc({ [label]: value } as Record<L, string>, n);
      pending.clear();
    },
  });
  return {
    inc(labels) {
      const value = labels[label];
      pending.set(value, (pending.get(value) ?? 0) + 1);
    },
  };
}

/** One series of a histogram as prom-client's registry formats it. */
interface HistogramSeries {
  labels: Record<string, string | number>;
  value: number;
  metricName: string;
}

/**
 * A histogram without labels: bucket counts, sum and count in plain numbers, exposed through the registry in the
 * form prom-client's `Histogram` gives (series `_bucket{le}` cumulative with `+Inf`, `_sum`, `_count`, zeros
 * before the first observation). A value counts in the first bucket whose bound is at least the value.
 */
export function leanHistogram(registry: Registry, name: string, help: string, bounds: readonly number[]): LeanHistogram {
  const upper = [...bounds].sort((a, b) => a - b);
  const counts = new Float64Array(upper.length);
  let sum = 0;
  let count = 0;
  const metric = {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    get(): Promise<{ name: string; help: string; type: string; values: HistogramSeries[]; aggregator: string }> {
      const values: HistogramSeries[] = [];
      let acc = 0;
      for (let i = 0; i < upper.length; i++) {
        acc += counts[i]!;
        values.push({ labels: { le: upper[i]! }, value: acc, metricName: `${name}_bucket` });
      }
      values.push({ labels: { le: '+Inf' }, value: count, metricName: `${name}_bucket` });
      values.push({ labels: {}, value: sum, metricName: `${name}_sum` });
      values.push({ labels: {}, value: count, metricName: `${name}_count` });
      return Promise.resolve({ name, help, type: 'histogram', values, aggregator: 'sum' });
    },
    reset(): void {
      counts.fill(0);
      sum = 0;
      count = 0;
    },
  };
  // The registry reads a metric only through name, type, get() and reset().
  registry.registerMetric(metric as unknown as Metric);
  return {
    observe(value) {
      for (let i = 0; i < upper.length; i++) {
        if (value <= upper[i]!) {
          counts[i]! += 1;
          break;
        }
      }
      sum += value;
      count += 1;
    },
  };
}

/**
 * How often the event-loop lag metrics (`nodejs_eventloop_lag_*`) sample the loop, in ms. prom-client's default is
 * 10 ms: a timer that wakes the process 100 times a second, which cost an idle webhook ~10 ms of CPU per second
 * (1 % of a core, all day, in every replica); at 500 admissions a second the webhook used 0.84–0.89 of the CPU per
 * admission once it sampled every 100 ms (bench/README.md, "Ninth round"). At 100 ms the metrics still show a
 * blocked loop (a stall delays the next sample), at a tenth of the wake-ups.
 */
export const EVENT_LOOP_SAMPLE_MS = 100;

/**
 * Create the webhook's metrics on a new registry.
 *
 * @example
 * ```ts
 * const metrics = createWebhookMetrics();
 * metrics.requests.inc({ outcome: 'mutated' });
 * const text = await metrics.text();
 * ```
 */
export function createWebhookMetrics(options: WebhookMetricsOptions = {}): WebhookMetrics {
  const registry = new Registry();
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  const requests = labelledCounter(
    registry,
    'flyte_secrets_admission_requests_total',
    'Admission requests answered, by outcome (mutated, allowed, skipped, denied, error, bad_request, too_large, throttled, aborted).',
    'outcome',
  );
  const denials = labelledCounter(registry, 'flyte_secrets_admission_denials_total', 'Admissions denied, by error code.', 'reason');
  const duration = leanHistogram(
    registry,
    'flyte_secrets_admission_duration_seconds',
    'Time to answer an admission request, once its body has arrived.',
    ADMISSION_DURATION_BUCKETS,
  );
  const injections = labelledCounter(
    registry,
    'flyte_secrets_injections_total',
    'Pods mutated, counted once per secret manager that injected at least one of their secrets.',
    'manager',
  );
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

/** Bucket bounds (seconds) of `flyte_secrets_admission_duration_seconds`. */
export const ADMISSION_DURATION_BUCKETS: readonly number[] = Object.freeze([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);
