/**
 * One wording for YAML syntax errors, wherever YAML is read (config files, pod manifests).
 *
 * The YAML library words an error as «<what> at line L, column C:» followed by an excerpt, and places it where it
 * *noticed* the problem: for an unclosed `[`, `{` or quote that is the start of the next line, or the end of the
 * input, one line or more after the mistake. {@link describeYamlError} drops the library's location and colon and,
 * for an unclosed construct, points at the mistake instead: the opening quote of an unclosed string, else the last
 * character before the point where the library stopped.
 *
 * @module
 */

/** What {@link describeYamlError} needs of a YAML library error (`YAMLParseError`). */
export interface YamlErrorLike {
  message: string;
  code?: string;
  pos?: [number, number];
}

/** Line and column (1-based) of `offset` in `text`. */
function lineColOf(text: string, offset: number): { line: number; col: number } {
  let line = 1;
  let start = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) {
    line += 1;
    start = i + 1;
  }
  return { line, col: offset - start + 1 };
}

/** The offset of the mistake behind an error the library noticed at `at`. */
function mistakeOffset(text: string, err: YamlErrorLike, at: number): number {
  const what = err.message;
  if (err.code === 'MISSING_CHAR' && /quote/i.test(what)) {
    const quote = what.includes("'") ? "'" : '"';
    const open = text.lastIndexOf(quote, Math.min(at, text.length) - 1);
    if (open !== -1) return open;
  }
  // Only an unclosed construct is noticed late; any other error sits where the library puts it (even at column 1).
  const unclosed = err.code === 'MISSING_CHAR' || /end with an? [\]}]/.test(what);
  const atLineStart = at >= text.length || at === 0 || text[at - 1] === '\n';
  if (!unclosed || !atLineStart) return at;
  let i = Math.min(at, text.length) - 1;
  while (i >= 0 && /\s/.test(text[i] ?? '')) i -= 1;
  return i >= 0 ? i : at;
}

/**
 * A one-line description of a YAML syntax error in `text`: «<what> (line L, column C)», where L:C is the mistake.
 *
 * @example
 * ```ts
 * describeYamlError('metadata:\n  name: [p\nspec: {}\n', parseDocument(text).errors[0])
 * // 'Flow sequence in block collection must be sufficiently indented and end with a ] (line 2, column 10)'
 * ```
 */
export function describeYamlError(text: string, err: YamlErrorLike): string {
  const what = (err.message.split('\n')[0] ?? err.message).replace(/ at line \d+, column \d+:?\s*$/, '').replace(/:\s*$/, '');
  if (err.pos === undefined) return what;
  const { line, col } = lineColOf(text, mistakeOffset(text, err, err.pos[0]));
  return `${what} (line ${line}, column ${col})`;
}
