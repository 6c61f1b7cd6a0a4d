/**
 * Go duration strings (`time.ParseDuration`): a sequence of decimal numbers with units
 * `ns`, `us` (`µs`), `ms`, `s`, `m`, `h`, e.g. `300ms`, `1.5h`, `2h45m`. `0` alone is allowed.
 *
 * @module
 */

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3,
  'μs': 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/**
 * Parse a Go duration into milliseconds; undefined when the text is not one.
 *
 * @example
 * ```ts
 * parseDuration('1h30m') // 5_400_000
 * ```
 */
export function parseDuration(text: string): number | undefined {
  const s = text.trim();
  if (s === '0') return 0;
  if (s === '') return undefined;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;
  let total = 0;
  let pos = 0;
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (m === null) return undefined;
    total += Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? Number.NaN);
    pos = re.lastIndex;
  }
  return Number.isFinite(total) ? total : undefined;
}

/** Format milliseconds as a Go-style duration (`24h0m0s` is written `24h`). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = ms;
  let out = '';
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const m = Math.floor(rest / 60_000);
  rest -= m * 60_000;
  const s = rest / 1000;
  if (h) out += `${h}h`;
  if (m) out += `${m}m`;
  if (s) out += `${Number(s.toFixed(3))}s`;
  return out;
}
