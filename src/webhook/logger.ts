/**
 * Structured JSON logs (pino) for the webhook. Log lines take allowlisted fields only: an admission line is built
 * field by field from {@link AdmissionLogFields}, so a pod, a review or a secret value can never reach the log by
 * being passed in whole.
 *
 * Standard output is written synchronously, once per turn of the event loop ({@link stdoutDestination}): no line
 * waits on a timer or on libuv's thread pool, and lines are out before the next turn and at exit, also after an
 * uncaught exception. pino's default (`sync: false`) sends lines through the thread pool, which cost more CPU per
 * admission under load and kept request objects alive across young-generation GCs; one write per line cost more
 * than one per turn (bench/README.md, "Fifth round").
 *
 * @module
 */
import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';
import { jsonNumber, jsonString, jsonStringList } from '../json-text.js';

export type { Logger } from 'pino';

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** pino level; default `info`. */
  level?: LevelWithSilent;
  /** Where lines go; default stdout, written synchronously. Tests pass a stream to capture lines. */
  destination?: DestinationStream;
  /** Clock for the `time` field (ms since the epoch); default `Date.now`. */
  now?: () => number;
}

/**
 * `new Date(ms).toISOString()`, reusing the text up to the seconds while the second is the same: pino's `isoTime`
 * formats a whole date per line, which was a measurable part of a line's cost.
 */
export function isoTimeFormatter(): (ms: number) => string {
  let second = Number.NaN;
  let head = '';
  return (ms: number): string => {
    const s = Math.floor(ms / 1000);
    if (s !== second) {
      const iso = new Date(ms).toISOString();
      // Everything before "mmmZ" (the text for a year beyond 9999 is longer, so count from the end).
      head = iso.slice(0, -4);
      second = s;
    }
    const milli = ms - s * 1000;
    return `${head}${milli < 10 ? '00' : milli < 100 ? '0' : ''}${milli}Z`;
  };
}

/** What is waiting to be written out when the process exits. */
const flushedAtExit = new Set<() => void>();

/** Lines held for one event-loop turn are written out at this size at the latest. */
const HELD_BYTES = 8 * 1024;

/**
 * Standard output, written synchronously once per turn of the event loop: the lines logged while handling what
 * one turn brought in (under load, several admissions) go out in one write when the turn ends (`setImmediate`),
 * or as soon as 8 KiB are waiting, and at process exit (also after an uncaught exception). A line never waits on
 * a timer or on libuv's thread pool; only a process killed outright (SIGKILL, the OOM killer) can lose the lines
 * of its last turn.
 */
export function stdoutDestination(): DestinationStream {
  // sonic-boom in sync mode writes each string it is given at once (and retries EAGAIN on a non-blocking pipe).
  const out = pino.destination({ dest: 1, sync: true });
  let held = '';
  let pending: NodeJS.Immediate | undefined;
  const flush = (): void => {
    if (pending !== undefined) {
      clearImmediate(pending);
      pending = undefined;
    }
    if (held === '') return;
    const text = held;
    held = '';
    out.write(text);
  };
  // One 'exit' listener for all of them (a listener each would warn past ten loggers).
  if (flushedAtExit.size === 0) process.once('exit', () => flushedAtExit.forEach((f) => f()));
  flushedAtExit.add(flush);
  return {
    write(line: string): void {
      held += line;
      if (held.length >= HELD_BYTES) flush();
      else if (pending === undefined) {
        pending = setImmediate(flush);
        // A line waiting for the turn to end must not keep an otherwise finished process alive ('exit' writes it).
        pending.unref();
      }
    },
  };
}

/** Loggers made by {@link createLogger}: plain pino (no mixin, hooks, redaction or custom formatters). */
const plainLoggers = new WeakSet<Logger>();

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
  const now = options.now ?? Date.now;
  const iso = isoTimeFormatter();
  const opts = { name: 'flyte-secrets', level: options.level ?? 'info', timestamp: (): string => `,"time":"${iso(now())}"` };
  const destination = options.destination ?? stdoutDestination();
  const logger = pino(opts, destination);
  // A stream that wants pino's per-line metadata (a multistream routes lines by it) gets every line through pino.
  if ((destination as unknown as Record<symbol, unknown>)[pino.symbols.needsMetadataGsym] !== true) plainLoggers.add(logger);
  return logger;
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
 *
 * For a logger made by {@link createLogger} the line is written straight to its stream, as the text pino would
 * write for it (a property test holds the two equal), without pino's generic serialisation of an object.
 */
export function logAdmission(logger: Logger, fields: AdmissionLogFields): void {
  const denied = fields.outcome === 'denied' || fields.outcome === 'error';
  const level = denied ? 'warn' : 'info';
  if (!logger.isLevelEnabled(level)) return;
  const durationMs = Math.round(fields.durationMs * 1000) / 1000;
  const msg = denied ? 'admission denied' : 'admission';
  if (plainLoggers.has(logger)) {
    const l = logger as unknown as Record<symbol, unknown>;
    const time = (l[pino.symbols.timeSym] as () => string)();
    const chindings = l[pino.symbols.chindingsSym] as string;
    let line = `{"level":${logger.levels.values[level]}${time}${chindings},"event":"admission","uid":${jsonString(fields.uid)},"namespace":${jsonString(fields.namespace)},"pod":${jsonString(fields.pod)},"operation":${jsonString(fields.operation)},"dryRun":${fields.dryRun},"secrets":${jsonNumber(fields.secrets)},"managers":${jsonStringList(fields.managers)},"outcome":${jsonString(fields.outcome)},"durationMs":${jsonNumber(durationMs)}`;
    if (fields.reason !== undefined) line += `,"reason":${jsonString(fields.reason)}`;
    if (fields.message !== undefined) line += `,"message":${jsonString(fields.message)}`;
    if (fields.warnings !== undefined && fields.warnings > 0) line += `,"warnings":${jsonNumber(fields.warnings)}`;
    line += `,"msg":"${msg}"}\n`;
    (l[pino.symbols.streamSym] as DestinationStream).write(line);
    return;
  }
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
    durationMs,
  };
  if (fields.reason !== undefined) line['reason'] = fields.reason;
  if (fields.message !== undefined) line['message'] = fields.message;
  if (fields.warnings !== undefined && fields.warnings > 0) line['warnings'] = fields.warnings;
  logger[level](line, msg);
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
