import { parseAllDocuments, parseDocument } from 'yaml';
import { describe, expect, it } from 'vitest';
import { describeYamlError } from './yaml-error.js';

const first = (text: string) => {
  const e = parseDocument(text, { uniqueKeys: true }).errors[0];
  if (e === undefined) throw new Error('expected a YAML error');
  return describeYamlError(text, e);
};

describe('describeYamlError', () => {
  it.each([
    ['an unclosed [ (noticed on the next line)', 'apiVersion: v1\nmetadata:\n  name: [p\nspec: {}\n', /^Flow sequence .* end with a \] \(line 3, column 10\)$/],
    ['an unclosed quote (noticed at the end of the input)', 'webhook:\n  secretName: "abc\n  port: 9443\n', /^Missing closing "quote \(line 2, column 15\)$/],
    ['a nested compact mapping (noticed where it is)', 'a: 1\nb: c: d\n', /^Nested mappings are not allowed in compact mappings \(line 2, column 4\)$/],
    ['a duplicate key', 'kind: Pod\nkind: Pod\n', /^Map keys must be unique \(line 2, column 1\)$/],
  ])('%s: the mistake’s line and column, once, no dangling colon', (_name, text, expected) => {
    const message = first(text);
    expect(message).toMatch(expected);
    expect(message).not.toMatch(/:\s*$/);
    expect(message.match(/line \d+/g)).toHaveLength(1);
    expect(message).not.toContain('\n');
  });

  it('the same wording for several documents (pod files)', () => {
    const text = 'kind: Pod\nspec: [\n';
    const e = parseAllDocuments(text)[0]?.errors[0];
    expect(e).toBeDefined();
    if (e !== undefined) expect(describeYamlError(text, e)).toMatch(/ \(line 2, column 7\)$/);
  });
});
