/**
 * The protobuf text format of Flyte's `Secret` message, as golang/protobuf v1.5 writes and reads it (Flyte: `utils/secrets/marshaler.go`).
 *
 * - {@link marshalSecretText} = `proto.MarshalTextString`: one `name: value\n` line per non-default field, in field
 *   order; strings double-quoted and escaped **byte by byte** (3-digit octal for every byte outside 0x20–0x7E except
 *   `\n \r \t \" \\`).
 * - {@link unmarshalSecretText} = `proto.UnmarshalText`: a port of golang/protobuf's tolerant tokenizer and parser,
 *   with its error texts (`line 1.<byte offset>: …` on the first line, `line <n>: …` after it); the canonical text
 *   that `MarshalTextString` writes takes a one-pass fast path first ({@link unmarshalSecretTextCanonical}).
 * - {@link secretToString} = the Go `String()` of the message (compact prototext), used in Flyte's error messages.
 *
 * Proto strings are byte sequences. In memory a {@link Secret}'s fields are JS strings: they are written as UTF-8
 * and read back with a non-fatal UTF-8 decode, so valid UTF-8 round-trips exactly and invalid bytes (which Go's parser
 * accepts without checking) become U+FFFD. Lone UTF-16 surrogates in a JS string are written as U+FFFD.
 *
 * Every failure is a {@link FlyteSecretsError}; nothing else is thrown for any input.
 *
 * @module
 */
import { FlyteSecretsError, type ErrorCode } from '../errors.js';
import type { Secret } from './model.js';

/** The Go type name golang/protobuf prints in parse errors (`reflect` name of the generated struct `core.Secret`). */
export const SECRET_GO_TYPE_NAME = 'core.Secret';

const utf8Encoder = new TextEncoder();
/** Non-fatal, BOM-preserving: valid UTF-8 round-trips exactly, invalid bytes become U+FFFD. */
const utf8Decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

const ENUM_NAMES: ReadonlyMap<number, string> = new Map([
  [0, 'ANY'],
  [1, 'ENV_VAR'],
  [2, 'FILE'],
]);
const ENUM_VALUES: ReadonlyMap<string, number> = new Map([...ENUM_NAMES].map(([n, s]) => [s, n]));

type FieldName = 'group' | 'group_version' | 'key' | 'mount_requirement' | 'env_var';
interface FieldDesc {
  readonly name: FieldName;
  readonly number: number;
  readonly kind: 'string' | 'enum';
  readonly prop: keyof Secret;
}
const FIELDS: readonly FieldDesc[] = [
  { name: 'group', number: 1, kind: 'string', prop: 'group' },
  { name: 'group_version', number: 2, kind: 'string', prop: 'groupVersion' },
  { name: 'key', number: 3, kind: 'string', prop: 'key' },
  { name: 'mount_requirement', number: 4, kind: 'enum', prop: 'mountRequirement' },
  { name: 'env_var', number: 5, kind: 'string', prop: 'envVar' },
];
const FIELD_BY_NAME: ReadonlyMap<string, FieldDesc> = new Map(FIELDS.map((f) => [f.name, f]));

// ---------------------------------------------------------------------------------------------------------------
// Byte strings: the parser works on "binary strings" (one char per byte, 0–255), as Go works on byte strings.

function bytesToBinary(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 8192) {
    out += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return out;
}

function binaryToBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
  return out;
}

/** A Go byte string shown as text: UTF-8 decoded, invalid bytes as U+FFFD. */
function binaryToText(s: string): string {
  return utf8Decoder.decode(binaryToBytes(s));
}

function textToBinary(s: string): string {
  return bytesToBinary(utf8Encoder.encode(s));
}

const RUNE_ERROR = 0xfffd;

/** Go's `utf8.DecodeRuneInString` on a binary string: `[rune, width]`, `[RuneError, 1]` for invalid input. */
function decodeRune(s: string, i: number): [number, number] {
  const b0 = s.charCodeAt(i);
  if (b0 < 0x80) return [b0, 1];
  const cont = (k: number): number => {
    const b = s.charCodeAt(i + k);
    return Number.isNaN(b) || (b & 0xc0) !== 0x80 ? -1 : b & 0x3f;
  };
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    const c1 = cont(1);
    return c1 < 0 ? [RUNE_ERROR, 1] : [((b0 & 0x1f) << 6) | c1, 2];
  }
  if (b0 >= 0xe0 && b0 <= 0xef) {
    const c1 = cont(1);
    const c2 = cont(2);
    if (c1 < 0 || c2 < 0) return [RUNE_ERROR, 1];
    const r = ((b0 & 0x0f) << 12) | (c1 << 6) | c2;
    if (r < 0x800 || (r >= 0xd800 && r <= 0xdfff)) return [RUNE_ERROR, 1];
    return [r, 3];
  }
  if (b0 >= 0xf0 && b0 <= 0xf4) {
    const c1 = cont(1);
    const c2 = cont(2);
    const c3 = cont(3);
    if (c1 < 0 || c2 < 0 || c3 < 0) return [RUNE_ERROR, 1];
    const r = ((b0 & 0x07) << 18) | (c1 << 12) | (c2 << 6) | c3;
    if (r < 0x10000 || r > 0x10ffff) return [RUNE_ERROR, 1];
    return [r, 4];
  }
  return [RUNE_ERROR, 1];
}

/** `string(rune(r))` in Go: the UTF-8 of `r` as a binary string; surrogates and out-of-range runes become U+FFFD. */
function runeToBinary(r: number): string {
  const valid = r >= 0 && r <= 0x10ffff && !(r >= 0xd800 && r <= 0xdfff);
  return textToBinary(String.fromCodePoint(valid ? r : RUNE_ERROR));
}

const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;

/** Go's `strconv.IsPrint`: letters, marks, numbers, punctuation, symbols and the ASCII space. */
function isGoPrint(r: number): boolean {
  if (r === 0x20) return true;
  if (r < 0x20 || r === 0x7f) return false;
  return PRINTABLE.test(String.fromCodePoint(r));
}

/** Go's `%q` (`strconv.Quote`) of a byte string, returned as text. */
function goQuote(binary: string): string {
  let out = '"';
  for (let i = 0; i < binary.length; ) {
    const [r, width] = decodeRune(binary, i);
    if (width === 1 && r === RUNE_ERROR) {
      out += `\\x${hex(binary.charCodeAt(i), 2)}`;
      i += 1;
      continue;
    }
    i += width;
    if (r === 0x22 || r === 0x5c) {
      out += `\\${String.fromCharCode(r)}`;
    } else if (isGoPrint(r)) {
      out += String.fromCodePoint(r);
    } else {
      const named: Record<number, string> = { 7: '\\a', 8: '\\b', 12: '\\f', 10: '\\n', 13: '\\r', 9: '\\t', 11: '\\v' };
      const esc = named[r];
      if (esc !== undefined) out += esc;
      else if (r < 0x20 || r === 0x7f) out += `\\x${hex(r, 2)}`;
      else if (r < 0x10000) out += `\\u${hex(r, 4)}`;
      else out += `\\U${hex(r, 8)}`;
    }
  }
  return `${out}"`;
}

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

// ---------------------------------------------------------------------------------------------------------------
// Go's strconv.ParseUint / ParseInt (the subset the text parser uses).

function lowerAscii(c: string): string {
  return c >= 'A' && c <= 'Z' ? String.fromCharCode(c.charCodeAt(0) + 32) : c;
}

/** Go's `underscoreOK`: underscores only between digits (a base prefix counts as a digit). */
function underscoreOK(s0: string): boolean {
  let s = s0;
  let saw = '^';
  let i = 0;
  if (s.length >= 1 && (s[0] === '-' || s[0] === '+')) s = s.slice(1);
  let isHex = false;
  if (s.length >= 2 && s[0] === '0' && 'box'.includes(lowerAscii(s[1]!))) {
    i = 2;
    saw = '0';
    isHex = lowerAscii(s[1]!) === 'x';
  }
  for (; i < s.length; i++) {
    const c = s[i]!;
    const l = lowerAscii(c);
    if ((c >= '0' && c <= '9') || (isHex && l >= 'a' && l <= 'f')) {
      saw = '0';
      continue;
    }
    if (c === '_') {
      if (saw !== '0') return false;
      saw = '_';
      continue;
    }
    if (saw === '_') return false;
    saw = '!';
  }
  return saw !== '_';
}

/** Go's `strconv.ParseUint(s, base, bitSize)`; undefined on any syntax or range error. */
function parseGoUint(s0: string, base0: number, bitSize: number): bigint | undefined {
  if (s0 === '') return undefined;
  let s = s0;
  let base = base0;
  const base0Mode = base0 === 0;
  if (base0Mode) {
    base = 10;
    if (s[0] === '0') {
      const p = s.length >= 3 ? lowerAscii(s[1]!) : '';
      if (p === 'b') {
        base = 2;
        s = s.slice(2);
      } else if (p === 'o') {
        base = 8;
        s = s.slice(2);
      } else if (p === 'x') {
        base = 16;
        s = s.slice(2);
      } else {
        base = 8;
        s = s.slice(1);
      }
    }
  }
  const max = (1n << BigInt(bitSize)) - 1n;
  let n = 0n;
  let underscores = false;
  for (const c of s) {
    if (c === '_' && base0Mode) {
      underscores = true;
      continue;
    }
    const l = lowerAscii(c);
    let d: number;
    if (c >= '0' && c <= '9') d = c.charCodeAt(0) - 48;
    else if (l >= 'a' && l <= 'z') d = l.charCodeAt(0) - 87;
    else return undefined;
    if (d >= base) return undefined;
    n = n * BigInt(base) + BigInt(d);
    if (n > max) return undefined;
  }
  if (underscores && !underscoreOK(s0)) return undefined;
  return n;
}

/** Go's `strconv.ParseInt(s, 0, bitSize)`; undefined on any syntax or range error. */
function parseGoInt(s: string, bitSize: number): number | undefined {
  if (s === '') return undefined;
  let body = s;
  let negative = false;
  if (body[0] === '+') body = body.slice(1);
  else if (body[0] === '-') {
    negative = true;
    body = body.slice(1);
  }
  const u = parseGoUint(body, 0, bitSize);
  if (u === undefined) return undefined;
  const cutoff = 1n << BigInt(bitSize - 1);
  if (!negative && u >= cutoff) return undefined;
  if (negative && u > cutoff) return undefined;
  return Number(negative ? -u : u);
}

// ---------------------------------------------------------------------------------------------------------------
// Encoder

/** golang/protobuf `writeQuotedString`: byte-wise escaping, 3-digit octal for non-printable bytes. */
function quoteProtoText(value: string): string {
  let out = '"';
  for (const c of utf8Encoder.encode(value)) {
    switch (c) {
      case 0x0a:
        out += '\\n';
        break;
      case 0x0d:
        out += '\\r';
        break;
      case 0x09:
        out += '\\t';
        break;
      case 0x22:
        out += '\\"';
        break;
      case 0x5c:
        out += '\\\\';
        break;
      default:
        out += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : `\\${c.toString(8).padStart(3, '0')}`;
    }
  }
  return `${out}"`;
}

function isInt32(n: number): boolean {
  return Number.isInteger(n) && n >= -2147483648 && n <= 2147483647;
}

function checkSecretShape(s: Secret): void {
  for (const f of FIELDS) {
    const v: unknown = s[f.prop];
    if (f.kind === 'string' ? typeof v !== 'string' : typeof v !== 'number' || !isInt32(v)) {
      throw new FlyteSecretsError(
        'InvalidSecret',
        f.kind === 'string'
          ? `secret field ${f.name} must be a string`
          : `invalid mount requirement [${String(v)}]: must be a 32-bit integer (0 = ANY, 1 = ENV_VAR, 2 = FILE)`,
      );
    }
  }
}

/**
 * The protobuf text form of a secret (golang/protobuf `MarshalTextString`), as bytes.
 * An all-default secret is empty. Unknown enum numbers are written as the bare number.
 * Throws `InvalidSecret` when a field has the wrong type or the mount requirement is not a 32-bit integer.
 *
 * @example
 * ```ts
 * new TextDecoder().decode(marshalSecretText(makeSecret({ key: 'my_key' }))) // 'key: "my_key"\n'
 * ```
 */
export function marshalSecretText(s: Secret): Uint8Array {
  checkSecretShape(s);
  let text = '';
  for (const f of FIELDS) {
    if (f.kind === 'string') {
      const v = s[f.prop] as string;
      if (v !== '') text += `${f.name}: ${quoteProtoText(v)}\n`;
    } else {
      const v = s[f.prop] as number;
      if (v !== 0) text += `${f.name}: ${ENUM_NAMES.get(v) ?? String(v)}\n`;
    }
  }
  // Only ASCII is produced (every other byte is octal-escaped), so code units are bytes.
  return binaryToBytes(text);
}

/**
 * Go's `String()` of the message: compact prototext such as `group:"x" key:"y" mount_requirement:FILE`, as used in
 * Flyte's error messages («none of the secret managers injected secret [<S>]…»). Go inserts a random extra space
 * between fields in some builds; this always uses one.
 *
 * @example
 * ```ts
 * secretToString(makeSecret({ group: 'x', key: 'y' })) // 'group:"x" key:"y"'
 * ```
 */
export function secretToString(s: Secret): string {
  const parts: string[] = [];
  for (const f of FIELDS) {
    const v: unknown = s[f.prop];
    if (f.kind === 'string') {
      if (typeof v === 'string' && v !== '') parts.push(`${f.name}:${prototextQuote(v)}`);
    } else if (typeof v === 'number' && v !== 0) {
      parts.push(`${f.name}:${ENUM_NAMES.get(v) ?? String(v)}`);
    }
  }
  return parts.join(' ');
}

/** google.golang.org/protobuf text `appendString` (UTF-8 kept, controls escaped, C1 controls as `\u00XX`). */
function prototextQuote(value: string): string {
  const b = textToBinary(value);
  let out = '"';
  for (let i = 0; i < b.length; ) {
    const decoded = decodeRune(b, i);
    let r = decoded[0];
    const n = decoded[1];
    const invalid = r === RUNE_ERROR && n === 1;
    if (invalid) r = b.charCodeAt(i);
    if (invalid || r < 0x20 || r === 0x22 || r === 0x5c || r === 0x7f) {
      if (r === 0x22 || r === 0x5c) out += `\\${String.fromCharCode(r)}`;
      else if (r === 0x0a) out += '\\n';
      else if (r === 0x0d) out += '\\r';
      else if (r === 0x09) out += '\\t';
      else out += `\\x${hex(r, 2)}`;
    } else if (r >= 0x80 && r <= 0x9f) {
      out += `\\u${hex(r, 4)}`;
    } else {
      out += String.fromCodePoint(r);
    }
    i += n;
  }
  return `${out}"`;
}

// ---------------------------------------------------------------------------------------------------------------
// Decoder: a port of golang/protobuf v1.5 proto/text_decode.go for the Secret message.

/** golang/protobuf's `ParseError`; `message` is its `Error()` text. */
class ParseFailure extends Error {
  constructor(goMessage: string, line: number, offset: number) {
    super(line === 1 ? `line 1.${offset}: ${goMessage}` : `line ${line}: ${goMessage}`);
  }
}

/** An error raised outside the tokenizer (Go returns it without a line prefix). */
class PlainFailure extends Error {}

interface Token {
  value: string;
  err: ParseFailure | undefined;
  line: number;
  offset: number;
  unquoted: string;
}

const BAD_UTF8 = 'proto: bad UTF-8';

function isQuote(c: string | undefined): boolean {
  return c === '"' || c === "'";
}

function isWhitespace(c: string): boolean {
  return c === ' ' || c === '\t' || c === '\n' || c === '\r';
}

function isIdentOrNumberChar(c: string): boolean {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c === '-' || c === '+' || c === '.' || c === '_';
}

/** `unescape`: one escape sequence after a backslash; returns the bytes and the rest, or an error text. */
function unescape(s: string): { ch: string; tail: string } | { error: string } {
  const [r, n] = decodeRune(s, 0);
  if (r === RUNE_ERROR && n === 1) return { error: BAD_UTF8 };
  const rc = s.slice(0, n); // the rune as a byte string (for %c)
  let rest = s.slice(n);
  switch (rc) {
    case 'a':
      return { ch: '\x07', tail: rest };
    case 'b':
      return { ch: '\b', tail: rest };
    case 'f':
      return { ch: '\f', tail: rest };
    case 'n':
      return { ch: '\n', tail: rest };
    case 'r':
      return { ch: '\r', tail: rest };
    case 't':
      return { ch: '\t', tail: rest };
    case 'v':
      return { ch: '\v', tail: rest };
    case '?':
      return { ch: '?', tail: rest };
    case "'":
    case '"':
    case '\\':
      return { ch: rc, tail: rest };
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7': {
      if (rest.length < 2) return { error: `\\${rc} requires 2 following digits` };
      const ss = rc + rest.slice(0, 2);
      rest = rest.slice(2);
      const v = parseGoUint(ss, 8, 8);
      if (v === undefined) return { error: `\\${ss} contains non-octal digits` };
      return { ch: String.fromCharCode(Number(v)), tail: rest };
    }
    case 'x':
    case 'X':
    case 'u':
    case 'U': {
      const width = rc === 'u' ? 4 : rc === 'U' ? 8 : 2;
      if (rest.length < width) return { error: `\\${rc} requires ${width} following digits` };
      const ss = rest.slice(0, width);
      rest = rest.slice(width);
      const v = parseGoUint(ss, 16, 64);
      if (v === undefined) return { error: `\\${rc}${ss} contains non-hexadecimal digits` };
      if (rc === 'x' || rc === 'X') return { ch: String.fromCharCode(Number(v) & 0xff), tail: rest };
      if (v > 0x10ffffn) return { error: `\\${rc}${ss} is not a valid Unicode code point` };
      return { ch: runeToBinary(Number(v)), tail: rest };
    }
    default:
      return { error: `unknown escape \\${rc}` };
  }
}

/** `unquoteC`: the body of a quoted string (without quotes) to bytes. */
function unquoteC(s: string, quote: string): { value: string } | { error: string } {
  if (!s.includes('\\') && !s.includes(quote)) return { value: s };
  let out = '';
  let rest = s;
  while (rest.length > 0) {
    const [r, n] = decodeRune(rest, 0);
    if (r === RUNE_ERROR && n === 1) return { error: BAD_UTF8 };
    const piece = rest.slice(0, n);
    rest = rest.slice(n);
    if (piece !== '\\') {
      out += piece;
      continue;
    }
    const u = unescape(rest);
    if ('error' in u) return u;
    out += u.ch;
    rest = u.tail;
  }
  return { value: out };
}

class TextParser {
  private readonly src: string;
  private pos = 0;
  private done = false;
  private backed = false;
  private offset = 0;
  private line = 1;
  private cur: Token = { value: '', err: undefined, line: 1, offset: 0, unquoted: '' };

  constructor(src: string) {
    this.src = src;
  }

  errorf(message: string): ParseFailure {
    const pe = new ParseFailure(message, this.cur.line, this.cur.offset);
    this.cur.err = pe;
    this.done = true;
    return pe;
  }

  private skipWhitespace(): void {
    const s = this.src;
    let i = this.pos;
    while (i < s.length && (isWhitespace(s[i]!) || s[i] === '#')) {
      if (s[i] === '#') {
        while (i < s.length && s[i] !== '\n') i++;
        if (i === s.length) break;
      }
      if (s[i] === '\n') this.line++;
      i++;
    }
    this.offset += i - this.pos;
    this.pos = i;
    if (this.pos >= s.length) this.done = true;
  }

  private advance(): void {
    this.skipWhitespace();
    if (this.done) return;
    const s = this.src;
    const start = this.pos;
    this.cur.err = undefined;
    this.cur.offset = this.offset;
    this.cur.line = this.line;
    this.cur.unquoted = '';
    const c = s[start]!;
    if ('<>{}:[];,/'.includes(c)) {
      this.cur.value = c;
      this.pos = start + 1;
    } else if (isQuote(c)) {
      let i = 1;
      while (start + i < s.length && s[start + i] !== c && s[start + i] !== '\n') {
        if (s[start + i] === '\\' && start + i + 1 < s.length) i++;
        i++;
      }
      if (start + i >= s.length || s[start + i] !== c) {
        this.errorf('unmatched quote');
        return;
      }
      const unq = unquoteC(s.slice(start + 1, start + i), c);
      if ('error' in unq) {
        this.errorf(binaryToText(`invalid quoted string ${s.slice(start, start + i + 1)}: ${unq.error}`));
        return;
      }
      this.cur.value = s.slice(start, start + i + 1);
      this.pos = start + i + 1;
      this.cur.unquoted = unq.value;
    } else {
      let i = 0;
      while (start + i < s.length && isIdentOrNumberChar(s[start + i]!)) i++;
      if (i === 0) {
        this.errorf(`unexpected byte 0x${s.charCodeAt(start).toString(16)}`);
        return;
      }
      this.cur.value = s.slice(start, start + i);
      this.pos = start + i;
    }
    this.offset += this.cur.value.length;
  }

  back(): void {
    this.backed = true;
  }

  next(): Token {
    if (this.backed || this.done) {
      this.backed = false;
      return this.cur;
    }
    this.advance();
    if (this.done) {
      this.cur.value = '';
    } else if (this.cur.value.length > 0 && isQuote(this.cur.value[0])) {
      // Adjacent quoted strings are concatenated.
      const cat: Token = { ...this.cur };
      for (;;) {
        this.skipWhitespace();
        if (this.done || !isQuote(this.src[this.pos])) break;
        this.advance();
        if (this.cur.err !== undefined) return this.cur;
        cat.value += ` ${this.cur.value}`;
        cat.unquoted += this.cur.unquoted;
      }
      this.done = false;
      this.cur = cat;
    }
    return this.cur;
  }

  private consumeToken(s: string): void {
    const tok = this.next();
    if (tok.err) throw tok.err;
    if (tok.value !== s) {
      this.back();
      throw this.errorf(`expected ${goQuote(s)}, found ${goQuote(tok.value)}`);
    }
  }

  private consumeOptionalSeparator(): void {
    const tok = this.next();
    if (tok.err) throw tok.err;
    if (tok.value !== ';' && tok.value !== ',') this.back();
  }

  private consumeExtensionOrAnyName(): string {
    let tok = this.next();
    if (tok.err) throw tok.err;
    const v = tok.value;
    if (v.length > 2 && isQuote(v[0]) && v[v.length - 1] === v[0]) {
      const name = unquoteC(v.slice(1, -1), v[0]!);
      if ('error' in name) throw new PlainFailure(name.error);
      this.consumeToken(']');
      return name.value;
    }
    const parts: string[] = [];
    while (tok.value !== ']') {
      parts.push(tok.value);
      tok = this.next();
      if (tok.err) throw this.errorf(`unrecognized type_url or extension name: ${tok.err.message}`);
      if (this.done && tok.value !== ']') throw this.errorf('unclosed type_url or extension name');
    }
    return parts.join('');
  }

  /**
   * `[name]` entries. `Secret` has no extensions and is not an `Any`, so every form is an error. (Go resolves type
   * URLs against its global registry and would crash on a known one; we report it as unrecognized instead.)
   */
  private unmarshalExtensionOrAny(): never {
    const name = this.consumeExtensionOrAnyName();
    const slash = name.lastIndexOf('/');
    if (slash >= 0) {
      let tok = this.next();
      if (tok.err) throw tok.err;
      if (tok.value === ':') {
        tok = this.next();
        if (tok.err) throw tok.err;
      }
      if (tok.value !== '<' && tok.value !== '{') throw this.errorf(`expected '{' or '<', found ${goQuote(tok.value)}`);
      throw this.errorf(`unrecognized message ${goQuote(name.slice(slash + 1))} in google.protobuf.Any`);
    }
    throw this.errorf(`unrecognized extension ${goQuote(name)}`);
  }

  private unmarshalSingularValue(f: FieldDesc): string | number {
    const tok = this.next();
    if (tok.err) throw tok.err;
    if (tok.value === '') throw this.errorf('unexpected EOF');
    if (f.kind === 'string') {
      if (isQuote(tok.value[0])) return binaryToText(tok.unquoted);
    } else {
      const n = parseGoInt(tok.value, 32);
      if (n !== undefined) return n;
      const named = ENUM_VALUES.get(tok.value);
      if (named !== undefined) return named;
    }
    throw this.errorf(`invalid ${f.kind}: ${binaryToText(tok.value)}`);
  }

  parseSecret(): Secret {
    const result: Secret = { group: '', groupVersion: '', key: '', mountRequirement: 0, envVar: '' };
    const seen = new Set<number>();
    for (;;) {
      const tok = this.next();
      if (tok.err) throw tok.err;
      if (tok.value === '') break; // the top-level terminator is the end of input
      if (tok.value === '[') this.unmarshalExtensionOrAny();
      const f = FIELD_BY_NAME.get(tok.value);
      if (f === undefined) throw this.errorf(`unknown field name ${goQuote(tok.value)} in ${SECRET_GO_TYPE_NAME}`);
      if (seen.has(f.number)) throw this.errorf(`non-repeated field ${goQuote(f.name)} was repeated`);
      seen.add(f.number);
      // checkForColon: mandatory for scalar fields.
      const colon = this.next();
      if (colon.err) throw colon.err;
      if (colon.value !== ':') throw this.errorf(`expected ':', found ${goQuote(colon.value)}`);
      // unmarshalValue
      const first = this.next();
      if (first.err) throw first.err;
      if (first.value === '') throw this.errorf('unexpected EOF');
      this.back();
      const value = this.unmarshalSingularValue(f);
      if (f.kind === 'string') (result[f.prop] as string) = value as string;
      else result.mountRequirement = value as number;
      this.consumeOptionalSeparator();
    }
    return result;
  }
}

/**
 * Parse the protobuf text form of a secret with golang/protobuf's tolerance (Flyte: `utils/secrets/marshaler.go`): whitespace and `#` comments,
 * `"` or `'` quotes, adjacent strings concatenated, all C escapes (`\a \b \f \n \r \t \v \? \' \" \\`, octal, `\x`,
 * `\u`, `\U`), optional `;`/`,` separators, enums by name or any 32-bit integer.
 *
 * Throws {@link FlyteSecretsError} (code `InvalidAnnotation` unless `code` is given) whose message is Go's error text,
 * e.g. «line 1.0: unknown field name "foo" in core.Secret».
 *
 * @example
 * ```ts
 * unmarshalSecretText(new TextEncoder().encode("key: 'a' 'b'; mount_requirement: 2")) // key 'ab', FILE
 * ```
 */
export function unmarshalSecretText(bytes: Uint8Array, code: ErrorCode = 'InvalidAnnotation'): Secret {
  return unmarshalSecretTextCanonical(bytes) ?? unmarshalSecretTextFull(bytes, code);
}

// ---------------------------------------------------------------------------------------------------------------
// Fast path: exactly what MarshalTextString (ours, flytepropeller's) writes for ordinary values.

const FIELD_BYTES: readonly Uint8Array[] = FIELDS.map((f) => utf8Encoder.encode(`${f.name}: `));
const ENUM_BYTES: readonly (readonly [Uint8Array, number])[] = [...ENUM_VALUES].map(([name, n]) => [utf8Encoder.encode(`${name}\n`), n] as const);

function bytesAt(b: Uint8Array, i: number, what: Uint8Array): boolean {
  if (i + what.length > b.length) return false;
  for (let k = 0; k < what.length; k++) if (b[i + k] !== what[k]) return false;
  return true;
}

/**
 * The common case of {@link unmarshalSecretText}, in one pass over the bytes: lines `<field>: <value>\n` in field
 * order, each field at most once, string values in `"…"` holding only printable ASCII without `\` and `"`, the
 * mount requirement by name. That is what `proto.MarshalTextString` writes for ordinary requests. Anything else
 * (escapes, other whitespace, comments, numbers, errors) answers `undefined`, and the caller uses the full parser,
 * which gives the same result for every input the fast path accepts (property-tested).
 *
 * @example
 * ```ts
 * unmarshalSecretTextCanonical(new TextEncoder().encode('key: "k"\nmount_requirement: FILE\n')) // key 'k', FILE
 * unmarshalSecretTextCanonical(new TextEncoder().encode("key: 'k'")) // undefined: not canonical
 * ```
 */
export function unmarshalSecretTextCanonical(b: Uint8Array): Secret | undefined {
  const result: Secret = { group: '', groupVersion: '', key: '', mountRequirement: 0, envVar: '' };
  const n = b.length;
  let i = 0;
  let next = 0;
  // The same bytes as a Buffer (no copy), whose latin1 slice makes a string straight from them.
  let text: Buffer | undefined;
  while (i < n) {
    let f = next;
    while (f < FIELDS.length && !bytesAt(b, i, FIELD_BYTES[f]!)) f++;
    const desc = FIELDS[f];
    if (desc === undefined) return undefined;
    i += FIELD_BYTES[f]!.length;
    next = f + 1;
    if (desc.kind === 'enum') {
      const e = ENUM_BYTES.find(([text]) => bytesAt(b, i, text));
      if (e === undefined) return undefined;
      result.mountRequirement = e[1];
      i += e[0].length;
      continue;
    }
    if (b[i] !== 0x22) return undefined;
    let j = i + 1;
    for (; j < n; j++) {
      const c = b[j]!;
      if (c === 0x22) break;
      if (c < 0x20 || c > 0x7e || c === 0x5c) return undefined;
    }
    if (j + 1 >= n || b[j + 1] !== 0x0a) return undefined;
    // Printable ASCII only (checked above): one character per byte, so latin1 is exact. Made from the bytes in one
    // call: String.fromCharCode.apply over a subarray cost ~3× as much and made an argument list per field.
    text ??= Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    (result[desc.prop] as string) = text.toString('latin1', i + 1, j);
    i = j + 2;
  }
  return result;
}

/**
 * {@link unmarshalSecretText} without the fast path: always golang/protobuf's tolerant parser. For tests that compare
 * the two; callers use {@link unmarshalSecretText}.
 */
export function unmarshalSecretTextFull(bytes: Uint8Array, code: ErrorCode = 'InvalidAnnotation'): Secret {
  const parser = new TextParser(bytesToBinary(bytes));
  try {
    return parser.parseSecret();
  } catch (err) {
    if (err instanceof ParseFailure || err instanceof PlainFailure) throw new FlyteSecretsError(code, err.message);
    throw new FlyteSecretsError('Internal', 'unexpected failure while parsing a secret descriptor', { cause: err });
  }
}
