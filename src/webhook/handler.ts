/**
 * The admission handler: AdmissionReview bytes in, HTTP status and answer out. No sockets, so it is tested
 * directly and shared by the HTTPS server and by anything else that wants to answer reviews.
 *
 * Pipeline (Flyte: `executor/pkg/webhook/pod.go`): parse the review → skip what is not a pod CREATE → decode the pod → run the mutator →
 * answer with a JSONPatch, «No changes», or a denial (code 400). An unexpected exception becomes a denial with a
 * generic message; it never becomes a 500 and never crashes the process.
 *
 * @module
 */
import { performance } from 'node:perf_hooks';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { isFlyteSecretsError } from '../errors.js';
import type { MutationOutcome, PodMutator } from '../inject/mutator.js';
import { errorShape, logAdmission, silentLogger, type AdmissionLogFields, type Logger } from './logger.js';
import type { AdmissionOutcomeLabel, WebhookMetrics } from './metrics.js';
import { admissionAnswer, httpErrorStatus, parseAdmissionReview, type AdmissionAnswer, type AdmissionDecision, type AdmissionRequest } from './review.js';
import { isRecord, podShapeProblem } from './pod-shape.js';

/** The message of a denial caused by an unexpected error (details go to the log, without values). */
export const INTERNAL_ERROR_MESSAGE = 'flyte-secrets webhook: internal error while mutating the pod; see the webhook logs for this request uid';

/** Flyte's message for a pod without secret annotations. */
export const NO_CHANGES_MESSAGE = 'No changes';

/** What the handler answers: an HTTP status and a JSON body (an AdmissionReview, or a `Status` for HTTP errors). */
export interface HandlerResult {
  status: number;
  body: object;
  /** `body` as JSON text (what the server sends). */
  json: string;
  /** The metrics outcome label of this request. */
  outcome: AdmissionOutcomeLabel;
}

/** Options of {@link createAdmissionHandler}. */
export interface AdmissionHandlerOptions {
  /** The secrets mutator (`createMutator`); the same one the `inject` command runs. */
  mutator: PodMutator;
  /** Where the one line per admission goes; default silent. */
  logger?: Logger;
  /** Counters and histogram to update; default none. */
  metrics?: WebhookMetrics;
}

/** A review handler made by {@link createAdmissionHandler}. */
export type AdmissionHandler = (body: Buffer) => Promise<HandlerResult>;


/** True when the request is about a core/v1 Pod itself (not a subresource such as `pods/binding`). */
export function isPodRequest(request: AdmissionRequest): boolean {
  const { kind, resource } = request;
  return (
    kind.kind === 'Pod' &&
    kind.group === '' &&
    resource.resource === 'pods' &&
    resource.group === '' &&
    (request.subResource === undefined || request.subResource === '')
  );
}

function podName(pod: Pod, request: AdmissionRequest): string {
  const meta = pod.metadata;
  if (meta?.name !== undefined && meta.name !== '') return meta.name;
  if (request.name !== undefined && request.name !== '') return request.name;
  if (meta?.generateName !== undefined && meta.generateName !== '') return meta.generateName;
  return '';
}

/**
 * The namespace to mutate in: `request.namespace`, else the pod's `metadata.namespace`, else `default`
 * (what the API server would have filled in).
 */
export function admissionNamespace(request: AdmissionRequest, pod: Pod | undefined): string {
  if (request.namespace !== undefined && request.namespace !== '') return request.namespace;
  const ns = pod?.metadata?.namespace;
  return ns !== undefined && ns !== '' ? ns : 'default';
}

/** Check the request object is a JSON object that can be a Pod; returns an error message when it cannot. */
function podProblem(object: unknown): string | undefined {
  if (!isRecord(object)) return 'the request object is missing or is not a JSON object';
  if (object['kind'] !== undefined && object['kind'] !== 'Pod') return `the request object has kind ${JSON.stringify(object['kind'])}, expected Pod`;
  if (object['metadata'] !== undefined && !isRecord(object['metadata'])) return "the request object's metadata is not a JSON object";
  if (object['spec'] !== undefined && !isRecord(object['spec'])) return "the request object's spec is not a JSON object";
  return podShapeProblem(object);
}

type LogBase = Omit<AdmissionLogFields, 'outcome' | 'durationMs' | 'reason'>;

/** One decision, with what the metrics and the log line need to know about it. */
interface Verdict {
  decision: AdmissionDecision;
  outcome: AdmissionOutcomeLabel;
  log: LogBase;
  /** Error code of a denial (`denials_total{reason}`). */
  reason?: string;
  /** Managers to count in `injections_total` (the managers that injected something in this admission). */
  injected?: readonly string[];
}

/**
 * Create the review handler.
 *
 * @example
 * ```ts
 * const handle = createAdmissionHandler({ mutator: createMutator(config, buildInjectors(config, {})) });
 * const { status, body } = await handle(Buffer.from(JSON.stringify(review)));
 * ```
 */
export function createAdmissionHandler(options: AdmissionHandlerOptions): AdmissionHandler {
  const { mutator, metrics } = options;
  const logger = options.logger ?? silentLogger();

  const internalError = (log: LogBase): Verdict => ({
    decision: { allowed: false, code: 500, message: INTERNAL_ERROR_MESSAGE, reason: 'InternalError' },
    outcome: 'error',
    log: { ...log, message: INTERNAL_ERROR_MESSAGE },
    reason: 'Internal',
  });

  async function decide(request: AdmissionRequest, base: LogBase): Promise<Verdict> {
    if (!isPodRequest(request) || request.operation !== 'CREATE') {
      return { decision: { allowed: true, message: NO_CHANGES_MESSAGE }, outcome: 'skipped', log: base };
    }
    const problem = podProblem(request.object);
    if (problem !== undefined) {
      const message = `cannot decode the admission request object as a Pod: ${problem}`;
      return { decision: { allowed: false, code: 400, message }, outcome: 'denied', log: { ...base, message }, reason: 'InvalidInput' };
    }
    const pod = request.object as Pod;
    const namespace = admissionNamespace(request, pod);
    const log: LogBase = { ...base, namespace, pod: podName(pod, request) };
    const outcome: MutationOutcome = await mutator.mutate(pod, { namespace, dryRun: base.dryRun });
    switch (outcome.kind) {
      case 'unchanged':
        return { decision: { allowed: true, message: NO_CHANGES_MESSAGE }, outcome: 'allowed', log };
      case 'mutated': {
        const withSecrets: LogBase = { ...log, secrets: outcome.secrets, managers: [...new Set(outcome.managers)], warnings: outcome.warnings.length };
        if (outcome.patch.length === 0) {
          // Already injected (reinvocation, or a second admission of the same pod): nothing to change.
          return { decision: { allowed: true, message: NO_CHANGES_MESSAGE, warnings: outcome.warnings }, outcome: 'allowed', log: withSecrets };
        }
        const decision: AdmissionDecision = { allowed: true, patch: outcome.patch, warnings: outcome.warnings };
        if (outcome.patchJson !== undefined) decision.patchJson = outcome.patchJson;
        return { decision, outcome: 'mutated', log: withSecrets, injected: outcome.managers };
      }
      case 'denied':
        return {
          decision: { allowed: false, code: 400, message: outcome.message, warnings: outcome.warnings },
          outcome: 'denied',
          log: { ...log, secrets: outcome.secrets, message: outcome.message, warnings: outcome.warnings.length },
          reason: outcome.code,
        };
      default: {
        const unknown: never = outcome;
        logger.error({ event: 'admission_error', uid: request.uid, errorType: 'UnknownOutcome', kind: String((unknown as { kind?: unknown }).kind) }, 'mutator returned an unknown outcome');
        return internalError(log);
      }
    }
  }

  /** Count one answered admission and observe its duration; returns the duration in ms. */
  function record(started: number, outcome: AdmissionOutcomeLabel, reason?: string): number {
    const durationMs = performance.now() - started;
    if (metrics !== undefined) {
      metrics.requests.inc({ outcome });
      metrics.duration.observe(durationMs / 1000);
      if (reason !== undefined) metrics.denials.inc({ reason });
    }
    return durationMs;
  }

  return async function handleAdmission(body: Buffer): Promise<HandlerResult> {
    const started = performance.now();

    let parsed;
    try {
      parsed = parseAdmissionReview(body);
    } catch (err) {
      const message = isFlyteSecretsError(err) ? err.message : 'request body is not an AdmissionReview';
      record(started, 'bad_request');
      logger.info({ event: 'bad_request', status: 400, message }, 'rejected a request that is not an AdmissionReview');
      const body = httpErrorStatus(400, message);
      return { status: 400, body, json: JSON.stringify(body), outcome: 'bad_request' };
    }
    const { apiVersion, request } = parsed;
    const base: LogBase = { uid: request.uid, namespace: request.namespace ?? '', pod: request.name ?? '', operation: request.operation, dryRun: request.dryRun === true, secrets: 0, managers: [] };

    let verdict: Verdict;
    try {
      verdict = await decide(request, base);
    } catch (err) {
      // Anything unexpected is a denial with a generic message, never an HTTP 500; the log gets no values.
      logger.error({ event: 'admission_error', uid: request.uid, ...errorShape(err) }, 'unexpected error while mutating a pod');
      verdict = internalError(base);
    }
    let answer: AdmissionAnswer;
    try {
      answer = admissionAnswer(apiVersion, request.uid, verdict.decision);
    } catch (err) {
      logger.error({ event: 'admission_error', uid: request.uid, ...errorShape(err) }, 'unexpected error while encoding an admission response');
      verdict = internalError(verdict.log);
      answer = admissionAnswer(apiVersion, request.uid, verdict.decision);
    }
    for (const manager of verdict.injected ?? []) metrics?.injections.inc({ manager });
    const durationMs = record(started, verdict.outcome, verdict.reason);
    const fields: AdmissionLogFields = { ...verdict.log, outcome: verdict.outcome, durationMs };
    if (verdict.reason !== undefined) fields.reason = verdict.reason;
    logAdmission(logger, fields);
    return { status: 200, body: answer.review, json: answer.json, outcome: verdict.outcome };
  };
}
