import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isFlyteSecretsError } from '../errors.js';
import { makeSecret, type Secret } from './model.js';
import { marshalSecretText, unmarshalSecretText, unmarshalSecretTextCanonical, unmarshalSecretTextFull } from './prototext.js';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

/** The outcome of a parse: the secret, or the error's code and message. */
function outcome(parse: () => Secret): Secret | { code: string; message: string } {
  try {
    return parse();
  } catch (err) {
    if (!isFlyteSecretsError(err)) throw err;
    return { code: err.code, message: err.message };
  }
}

const asciiText = fc.string({ unit: fc.constantFrom('a', 'Z', '0', '-', '_', '.', ' ', '#', "'", ':', '/', '~'), maxLength: 12 });
const anyText = fc.string({ unit: fc.constantFrom('a', ' ', '"', '\\', '\n', '\t', 'é', '\u0085', '\u{1F600}', '\u0000', '\ud800'), maxLength: 8 });
const mount = fc.oneof(fc.constantFrom(0, 1, 2), fc.integer({ min: -3, max: 9 }));
const secretOf = (text: fc.Arbitrary<string>): fc.Arbitrary<Secret> =>
  fc.record({ group: text, groupVersion: text, key: text, mountRequirement: mount, envVar: text }).map((s) => makeSecret(s));

/** Canonical texts, then the same with a few bytes inserted, removed or replaced. */
const canonical = fc.oneof(secretOf(asciiText), secretOf(anyText)).map((s) => marshalSecretText(s));
const mutated = fc
  .tuple(canonical, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 2 }), fc.constantFrom(0x0a, 0x20, 0x22, 0x27, 0x5c, 0x3a, 0x3b, 0x23, 0x41, 0x61, 0x30, 0xc3, 0x00)), { maxLength: 3 }))
  .map(([bytes, edits]) => {
    const b = [...bytes];
    for (const [at, op, byte] of edits) {
      const i = b.length === 0 ? 0 : at % (b.length + 1);
      if (op === 0) b.splice(i, 0, byte);
      else if (op === 1) b.splice(i, 1);
      else b[i] = byte;
    }
    return Uint8Array.from(b);
  });
const soup = fc
  .array(fc.constantFrom('group: ', 'group_version: ', 'key: ', 'mount_requirement: ', 'env_var: ', '"a"', '"b c"', "'x'", '"\\n"', '""', '\n', ' ', ';', 'FILE', 'ENV_VAR', 'ANY', '2', '#c\n', 'FILE\n', '"q"\n'), { maxLength: 12 })
  .map((parts) => utf8(parts.join('')));

describe('prototext fast path (what MarshalTextString writes)', () => {
  it('takes the canonical text of an ordinary secret, whatever fields are set', () => {
    fc.assert(
      fc.property(secretOf(asciiText).filter((s) => s.mountRequirement >= 0 && s.mountRequirement <= 2), (secret) => {
        expect(unmarshalSecretTextCanonical(marshalSecretText(secret))).toEqual(secret);
      }),
      { numRuns: 200 },
    );
    expect(unmarshalSecretTextCanonical(new Uint8Array())).toEqual(makeSecret());
  });

  it.each([
    ['single quotes', "key: 'k'\n"],
    ['an escape', 'key: "a\\n"\n'],
    ['no final newline', 'key: "k"'],
    ['fields out of order', 'key: "k"\ngroup: "g"\n'],
    ['a repeated field', 'key: "k"\nkey: "k"\n'],
    ['a number as mount requirement', 'mount_requirement: 2\n'],
    ['a comment', '# c\nkey: "k"\n'],
    ['a separator', 'key: "k";\n'],
    ['non-ASCII', 'key: "é"\n'],
    ['an unknown field', 'name: "k"\n'],
  ])('leaves %s to the full parser', (_what, text) => {
    expect(unmarshalSecretTextCanonical(utf8(text))).toBeUndefined();
  });

  it('agrees with the full parser on every input it accepts, and unmarshalSecretText agrees with the full parser everywhere (property)', () => {
    fc.assert(
      fc.property(fc.oneof(canonical, mutated, soup, fc.uint8Array({ maxLength: 40 })), (bytes) => {
        const fast = unmarshalSecretTextCanonical(bytes);
        const full = outcome(() => unmarshalSecretTextFull(bytes));
        if (fast !== undefined) expect(full).toEqual(fast);
        expect(outcome(() => unmarshalSecretText(bytes))).toEqual(full);
      }),
      { numRuns: 1000 },
    );
  });
});
