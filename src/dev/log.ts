/**
 * Logs for a terminal: the webhook's structured (pino) log lines, rewritten as one short readable line each, for
 * `flyte-secrets dev`. The fields are the server's own allowlisted fields (no pods, no values), only laid out for
 * people instead of log collectors.
 *
 * @module
 */
import { pino, type LevelWithSilent, type Logger } from 'pino';

/** Fields left out of a readable line (pino's bookkeeping). */
const SKIPPED = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg', 'event']);
const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

function fieldText(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=]*$/.test(value) && value !== '' ? value : JSON.stringify(value);
  if (Array.isArray(value)) return value.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(',') || '[]';
  return JSON.stringify(value);
}

/**
 * Turn one pino JSON line into `HH:MM:SS level message key=value …`. Lines that are not JSON are returned as they are.
 *
 * @example
 * ```ts
 * formatLogLine('{"level":30,"time":"2025-01-01T10:00:00.000Z","msg":"admission","pod":"p","outcome":"mutated"}')
 * // '10:00:00 info  admission pod=p outcome=mutated'
 * ```
 */
export function formatLogLine(line: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith('\n') ? line.slice(0, -1) : line;
  }
  const time = typeof rec['time'] === 'string' ? rec['time'].slice(11, 19) : typeof rec['time'] === 'number' ? new Date(rec['time']).toISOString().slice(11, 19) : '';
  const level = LEVELS[Number(rec['level'])] ?? fieldText(rec['level'] ?? '');
  const fields = Object.entries(rec)
    .filter(([k]) => !SKIPPED.has(k))
    .map(([k, v]) => `${k}=${fieldText(v)}`);
  const msg = typeof rec['msg'] === 'string' ? rec['msg'] : '';
  return [time, level.padEnd(5), msg, ...fields].filter((s) => s !== '').join(' ');
}

/**
 * A pino logger whose lines go to `stream` (default stderr) in the readable form of {@link formatLogLine}.
 *
 * @example
 * ```ts
 * const logger = createDevLogger();
 * logger.info({ event: 'admission', pod: 'p' }, 'admission'); // "10:00:00 info  admission pod=p" on stderr
 * ```
 */
export function createDevLogger(options: { level?: LevelWithSilent; stream?: NodeJS.WritableStream } = {}): Logger {
  const out = options.stream ?? process.stderr;
  return pino(
    { name: 'flyte-secrets', level: options.level ?? 'info', timestamp: pino.stdTimeFunctions.isoTime },
    {
      write(msg: string): void {
        for (const line of msg.split('\n')) if (line.trim() !== '') out.write(`${formatLogLine(line)}\n`);
      },
    },
  );
}
