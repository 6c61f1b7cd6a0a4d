/**
 * Structured JSON logs (pino) for the webhook. Log lines take allowlisted fields only: an admission line is built
 * field by field from {@link AdmissionLogFields}, so a pod, a review or a secret value can never reach the log by
 * being passed in whole.
 *
 * @module
 */
import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';

export type { Logger } from 'pino';

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** pino level; default `info`. */
  level?: LevelWithSilent;
  /** Where lines go; default stdout. Tests pass a stream to capture lines. */
  destination?: DestinationStream;
}

/**
 * A pino logger writing one JSON object per line, with `name: "flyte-secrets"` and ISO timestamps.
 *
 * @example
 * ```ts
 * const logger = createLogger({ level: 'warn' });
 * logger.info({ port: 9443 }, 'webhook listening');
 * ```
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const opts = { name: 'flyte-secrets', level: options.level ?? 'info', timestamp: pino.stdTimeFunctions.isoTime };
  return options.destination === undefined ? pino(opts) : pino(opts, options.destination);
}

/** A logger that drops everything (the default when none is given to a library function). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/** The fields of the one log line written per admission. Nothing else is logged about an admission. */
export interface AdmissionLogFields {
  uid: string;
  namespace: string;
  /** `metadata.name`, or `generateName` when the name is not set yet. */
  pod: string;
  operation: string;
  dryRun: boolean;
  /** Number of secret annotations on the pod. */
  secrets: number;
  /** Secret managers that injected something. */
  managers: readonly string[];
  /** `mutated`, `allowed`, `skipped`, `denied` or `error`. */
  outcome: string;
  durationMs: number;
  /** Error code of a denial. */
  reason?: string;
  /** Denial message (names secrets by their descriptors; never holds values). */
  message?: string;
  warnings?: number;
}

/**
 * Write the admission line: `info` for allowed/mutated/skipped, `warn` for denials and errors. Fields are copied
 * one by one from `fields`; unknown properties are not logged.
 */
export function logAdmission(logger: Logger, fields: AdmissionLogFields): void {
  const line: Record<string, unknown> = {
    event: 'admission',
    uid: fields.uid,
    namespace: fields.namespace,
    pod: fields.pod,
    operation: fields.operation,
    dryRun: fields.dryRun,
    secrets: fields.secrets,
    managers: [...fields.managers],
    outcome: fields.outcome,
    durationMs: Math.round(fields.durationMs * 1000) / 1000,
  };
  if (fields.reason !== undefined) line['reason'] = fields.reason;
  if (fields.message !== undefined) line['message'] = fields.message;
  if (fields.warnings !== undefined && fields.warnings > 0) line['warnings'] = fields.warnings;
  if (fields.outcome === 'denied' || fields.outcome === 'error') logger.warn(line, 'admission denied');
  else logger.info(line, 'admission');
}

/**
 * Describe an unexpected error for a log line without its message (which might echo input): its class name, its
 * code when it has one, and the stack frames only.
 */
export function errorShape(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { errorType: typeof err };
  const out: Record<string, unknown> = { errorType: err.name };
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') out['errorCode'] = code;
  const frames = (err.stack ?? '').split('\n').filter((l) => /^\s+at /.test(l)).slice(0, 8).map((l) => l.trim());
  if (frames.length > 0) out['frames'] = frames;
  return out;
}
