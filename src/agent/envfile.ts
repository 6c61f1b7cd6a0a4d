/**
 * Kubernetes env files (the EnvFiles feature, `env[].valueFrom.fileKeyRef`), as the kubelet of Kubernetes 1.35 reads
 * them: one `KEY='value'` per entry, the value in single quotes and taken literally (no escapes, no expansion),
 * newlines inside the quotes kept. What the kubelet cannot read back exactly is refused before anything is written:
 *
 * - a single quote (it would end the value; there is no escape);
 * - a carriage return (the kubelet's line reader drops a `\r` before each line break);
 * - a NUL character (no process environment can hold it);
 * - a line longer than {@link MAX_ENV_FILE_LINE_BYTES} bytes (the kubelet's line reader stops with "token too long").
 *
 * Kubernetes 1.34's alpha parser reads the same file differently (`KEY=value` unquoted, quotes kept as part of the
 * value, a trailing `\` joins lines): a file written here gives values wrapped in quotes there.
 *
 * Pure: no I/O. {@link parseEnvFile} reads a file the way the 1.35 kubelet does (used by the tests to check what a
 * container would get).
 *
 * @module
 */

/** Longest line the kubelet's reader accepts (Go's `bufio.Scanner` default buffer of 64 KiB, less the line break). */
export const MAX_ENV_FILE_LINE_BYTES = 64 * 1024 - 1;

/**
 * Why `value` cannot be written under `key`, or undefined when it can. The reason never quotes the value.
 *
 * @example
 * ```ts
 * envFileValueProblem('K', "it's") // 'it contains a single quote (\'), which a Kubernetes env file cannot carry'
 * ```
 */
export function envFileValueProblem(key: string, value: string): string | undefined {
  if (value.includes("'")) return "it contains a single quote ('), which a Kubernetes env file cannot carry";
  if (value.includes('\r')) return 'it contains a carriage return, which the kubelet drops when it reads an env file';
  if (value.includes('\0')) return 'it contains a NUL character, which no environment variable can hold';
  const lines = `${key}='${value}'`.split('\n');
  const longest = Math.max(...lines.map((l) => Buffer.byteLength(l, 'utf8')));
  if (longest > MAX_ENV_FILE_LINE_BYTES) {
    return `one of its lines is ${longest} bytes long in the env file, more than the ${MAX_ENV_FILE_LINE_BYTES} the kubelet reads`;
  }
  return undefined;
}

/**
 * The env file holding `entries` in order (`KEY='value'` lines). Call {@link envFileValueProblem} first: this does not
 * check the values again.
 *
 * @example
 * ```ts
 * formatEnvFile([{ key: 'A', value: 'x y' }]) // "A='x y'\n"
 * ```
 */
export function formatEnvFile(entries: readonly { key: string; value: string }[]): string {
  return entries.map((e) => `${e.key}='${e.value}'\n`).join('');
}

function lines(text: string): string[] {
  // Go's bufio.ScanLines: split at "\n", drop one "\r" before it, a final line without "\n" counts.
  const out = text.split('\n');
  if (out.at(-1) === '') out.pop();
  return out.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
}

/**
 * Read an env file the way the kubelet of Kubernetes 1.35 does; throws an `Error` naming the line on a format error.
 * Later entries do not replace earlier ones (the kubelet returns the first match of a key).
 *
 * @example
 * ```ts
 * parseEnvFile("A='x\ny'\n").get('A') // 'x\ny'
 * ```
 */
export function parseEnvFile(text: string): Map<string, string> {
  const out = new Map<string, string>();
  const all = lines(text);
  for (let n = 0; n < all.length; n++) {
    if (Buffer.byteLength(all[n] ?? '', 'utf8') > MAX_ENV_FILE_LINE_BYTES) throw new Error(`line ${n + 1}: token too long`);
    const line = (all[n] ?? '').replace(/^[ \t]+/, '');
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq === -1) throw new Error(`line ${n + 1}: missing '='`);
    const namePart = line.slice(0, eq);
    const name = namePart.replace(/[ \t]+$/, '');
    if (name === '') throw new Error(`line ${n + 1}: empty variable name`);
    if (name !== namePart) throw new Error(`line ${n + 1}: whitespace before '=' is not allowed`);
    const valuePart = line.slice(eq + 1);
    const trimmed = valuePart.replace(/^[ \t]+/, '');
    if (trimmed !== valuePart) {
      if (!out.has(name)) out.set(name, '');
      continue;
    }
    if (!trimmed.startsWith("'")) throw new Error(`line ${n + 1}: value must be enclosed in single quotes`);
    let rest = trimmed.slice(1);
    let value = '';
    const start = n;
    for (;;) {
      const close = rest.indexOf("'");
      if (close !== -1) {
        value += rest.slice(0, close);
        const after = rest.slice(close + 1).replace(/^[ \t]+/, '');
        if (after !== '' && !after.startsWith('#')) throw new Error(`line ${n + 1}: unexpected content after closing quote`);
        if (!out.has(name)) out.set(name, value);
        break;
      }
      value += `${rest}\n`;
      n++;
      if (n >= all.length) throw new Error(`line ${start + 1}: unclosed single quote`);
      if (Buffer.byteLength(all[n] ?? '', 'utf8') > MAX_ENV_FILE_LINE_BYTES) throw new Error(`line ${n + 1}: token too long`);
      rest = all[n] ?? '';
    }
  }
  return out;
}
