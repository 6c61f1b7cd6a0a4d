import { describe, expect, it } from 'vitest';
import { envFileValueProblem, formatEnvFile, MAX_ENV_FILE_LINE_BYTES, parseEnvFile } from './envfile.js';

describe('env files (Kubernetes 1.35 syntax)', () => {
  const values = ['', 'plain', 'grüße ✓ 日本語', 'two\nlines', 'trailing newline\n', '\n\nleading blank lines', '  spaces  ', '# not a comment', 'a = b', '"double" $HOME `x` \\n \\', 'x'.repeat(25 * 1024)];

  it('round-trips every value the format can carry, as the kubelet reads it', () => {
    const entries = values.map((value, i) => ({ key: `K${i}`, value }));
    for (const e of entries) expect(envFileValueProblem(e.key, e.value)).toBeUndefined();
    const parsed = parseEnvFile(formatEnvFile(entries));
    expect([...parsed.entries()]).toEqual(entries.map((e) => [e.key, e.value]));
  });

  it.each([
    ["it's", /single quote/],
    ['a\r\nb', /carriage return/],
    ['a\u0000b', /NUL/],
    ['y'.repeat(MAX_ENV_FILE_LINE_BYTES), /lines is \d+ bytes long/],
  ])('refuses a value it cannot carry, without quoting it (%#)', (value, reason) => {
    const problem = envFileValueProblem('KEY', value) ?? '';
    expect(problem).toMatch(reason);
    expect(problem).not.toContain(value);
  });

  it('accepts the longest line the kubelet reads, and no longer', () => {
    const fits = 'z'.repeat(MAX_ENV_FILE_LINE_BYTES - "K=''".length);
    expect(envFileValueProblem('K', fits)).toBeUndefined();
    expect(parseEnvFile(formatEnvFile([{ key: 'K', value: fits }])).get('K')).toBe(fits);
    expect(envFileValueProblem('K', `${fits}z`)).toBeDefined();
    expect(() => parseEnvFile(`K='${fits}z'\n`)).toThrow(/token too long/);
  });

  it('reads the kubelet’s edge cases: comments, blank lines, first match wins, errors', () => {
    expect(Object.fromEntries(parseEnvFile("# c\n\n  A='1' # trailing\nA='2'\nB= 'ignored'\n"))).toEqual({ A: '1', B: '' });
    expect(() => parseEnvFile('A=1\n')).toThrow(/single quotes/);
    expect(() => parseEnvFile("A ='1'\n")).toThrow(/whitespace before/);
    expect(() => parseEnvFile("A='1\n")).toThrow(/unclosed/);
    expect(() => parseEnvFile("A='1' x\n")).toThrow(/after closing quote/);
    expect(parseEnvFile("A='x\r\ny'\n").get('A')).toBe('x\ny');
  });
});
