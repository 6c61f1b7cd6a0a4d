/**
 * Flyte's Key Vault value envelope (Flyte: `secret/azure_utils.go`): Key Vault stores text only, so Flyte wraps every value in a small
 * JSON object, `{"type":"STRING","value":"<text>"}` or `{"type":"BINARY","value":"<standard base64>"}`.
 *
 * - The encoders write exactly the bytes Go's `encoding/json` writes (field order, no spaces, Go's escaping of
 *   `<`, `>`, `&`, U+2028, U+2029 and control characters), so values we store are byte-identical to Flyte's.
 * - {@link decodeEnvelope} follows Go's decoding rules (case-insensitive keys, last duplicate wins, `type` missing =
 *   STRING, `value` null = unchanged, …).
 * - {@link decodeKeyVaultValue} additionally lets callers accept plain (non-envelope) Key Vault values.
 *
 * No error message contains any stored text, by construction, so callers need no scrubbing: JSON syntax errors name
 * an offset and what was expected, base64 errors name an offset (Go's wording), a wrong `type` is described by its
 * JSON kind or its length, never quoted (Flyte quotes it: «<type> does not belong to azureSecretValueType values»).
 *
 * @module
 */
import { FlyteSecretsError } from '../errors.js';
import { SecretValue } from '../secret/value.js';

/** Largest secret value Key Vault accepts: 25 KiB (25,600 bytes, UTF-8). */
export const KEY_VAULT_MAX_VALUE_BYTES = 25_600;

/** The two envelope types, spelled as on the wire (case-sensitive on decode, like Flyte's enumer code). */
export type EnvelopeType = 'STRING' | 'BINARY';

const utf8 = new TextEncoder();
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const LONE_SURROGATE_G = new RegExp(LONE_SURROGATE.source, 'g');
const HEX = '0123456789abcdef';

/**
 * A JSON string literal exactly as Go's `encoding/json` (Go ≥ 1.22, HTML escaping on) writes it.
 * The input must be well-formed UTF-16 (no unpaired surrogates).
 */
function goJsonString(s: string): string {
  let out = '"';
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let esc: string | undefined;
    if (c < 0x20) {
      switch (c) {
        case 0x08: esc = '\\b'; break;
        case 0x0c: esc = '\\f'; break;
        case 0x0a: esc = '\\n'; break;
        case 0x0d: esc = '\\r'; break;
        case 0x09: esc = '\\t'; break;
        default: esc = `\\u00${HEX[c >> 4]}${HEX[c & 0xf]}`;
      }
    } else if (c === 0x22) esc = '\\"';
    else if (c === 0x5c) esc = '\\\\';
    else if (c === 0x3c) esc = '\\u003c';
    else if (c === 0x3e) esc = '\\u003e';
    else if (c === 0x26) esc = '\\u0026';
    else if (c === 0x2028) esc = '\\u2028';
    else if (c === 0x2029) esc = '\\u2029';
    if (esc !== undefined) {
      out += s.slice(start, i) + esc;
      start = i + 1;
    }
  }
  return `${out}${s.slice(start)}"`;
}

function checkSize(envelope: string): string {
  const n = utf8.encode(envelope).length;
  if (n > KEY_VAULT_MAX_VALUE_BYTES) {
    throw new FlyteSecretsError(
      'InvalidEnvelope',
      `the envelope is ${n} bytes, but a Key Vault secret value holds at most ${KEY_VAULT_MAX_VALUE_BYTES} bytes (25 KiB); ` +
        'binary values grow by a third in base64, so binary values above 19,179 bytes do not fit',
    );
  }
  return envelope;
}

/**
 * Wrap text in a STRING envelope, byte-identical to Flyte's `StringToAzureSecret`.
 *
 * Throws `InvalidEnvelope` when the text has an unpaired UTF-16 surrogate (it has no UTF-8 form; store such data
 * with {@link encodeBinaryEnvelope}) or when the envelope exceeds {@link KEY_VAULT_MAX_VALUE_BYTES}.
 *
 * @example
 * ```ts
 * encodeStringEnvelope('test-value'); // '{"type":"STRING","value":"test-value"}'
 * encodeStringEnvelope('a<b');        // '{"type":"STRING","value":"a\\u003cb"}'
 * ```
 */
export function encodeStringEnvelope(s: string): string {
  if (LONE_SURROGATE.test(s)) {
    throw new FlyteSecretsError(
      'InvalidEnvelope',
      'the string value contains an unpaired UTF-16 surrogate, which has no UTF-8 form; store it as binary instead',
    );
  }
  return checkSize(`{"type":"STRING","value":${goJsonString(s)}}`);
}

/**
 * Wrap bytes in a BINARY envelope (standard base64 with padding), byte-identical to Flyte's `BinaryToAzureSecret`.
 * Throws `InvalidEnvelope` when the envelope exceeds {@link KEY_VAULT_MAX_VALUE_BYTES}.
 *
 * @example
 * ```ts
 * encodeBinaryEnvelope(new TextEncoder().encode('Hello')); // '{"type":"BINARY","value":"SGVsbG8="}'
 * ```
 */
export function encodeBinaryEnvelope(b: Uint8Array): string {
  return checkSize(`{"type":"BINARY","value":"${Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64')}"}`);
}

// ---------------------------------------------------------------------------------------------------------------
// Decoding

function envelopeError(message: string): FlyteSecretsError {
  return new FlyteSecretsError('InvalidEnvelope', message);
}

/** A JSON syntax problem (internal; always turned into a FlyteSecretsError). Carries an offset, never input text. */
class JsonSyntax extends Error {
  constructor(
    readonly offset: number,
    readonly what: string,
  ) {
    super(what);
  }
}

type JsonKind = 'string' | 'number' | 'bool' | 'null' | 'object' | 'array';

interface Member {
  key: string;
  kind: JsonKind;
  /** The member value's raw JSON text (as Go hands it to `UnmarshalJSON`). */
  raw: string;
}

interface Scanned {
  kind: JsonKind;
  /** Top-level object members in document order (only when `kind === 'object'`). */
  members: Member[];
}

/** Go's `encoding/json` nesting limit. */
const MAX_DEPTH = 10_000;
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

function kindOf(c: string | undefined): JsonKind {
  switch (c) {
    case '"': return 'string';
    case '{': return 'object';
    case '[': return 'array';
    case 't':
    case 'f': return 'bool';
    case 'n': return 'null';
    default: return 'number';
  }
}

/**
 * Validate `text` as one JSON value (RFC 8259, as strict as Go's scanner) without recursion, and collect the members
 * of a top-level object. Throws {@link JsonSyntax}.
 */
function scanJson(text: string): Scanned {
  const n = text.length;
  let i = 0;
  const ws = (): void => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) i++;
      else break;
    }
  };
  const EOF = 'unexpected end of JSON input';
  const end = (what: string): JsonSyntax => new JsonSyntax(i, i >= n ? EOF : what);
  const eof = (): JsonSyntax => new JsonSyntax(n, EOF);
  const scanString = (): void => {
    // text[i] === '"'
    i++;
    for (;;) {
      if (i >= n) throw eof();
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return;
      }
      if (c < 0x20) throw new JsonSyntax(i, 'control character in string literal');
      if (c === 0x5c) {
        const e = text[i + 1];
        if (e === undefined) throw eof();
        if ('"\\/bfnrt'.includes(e)) i += 2;
        else if (e === 'u') {
          const hex = text.slice(i + 2, i + 6);
          if (!/^[0-9a-fA-F]*$/.test(hex)) throw new JsonSyntax(i, 'invalid \\u escape in string literal');
          if (hex.length < 4) throw eof();
          i += 6;
        } else throw new JsonSyntax(i, 'invalid escape in string literal');
      } else i++;
    }
  };
  const literal = (word: string): void => {
    if (text.startsWith(word, i)) {
      i += word.length;
      return;
    }
    // Report the end of input when the text is a truncated literal, else a bad literal.
    if (n - i < word.length && word.startsWith(text.slice(i))) throw eof();
    throw new JsonSyntax(i, 'invalid literal (expected true, false or null)');
  };

  const stack: ('{' | '[')[] = [];
  const members: Member[] = [];
  let pending: { key: string; start: number } | undefined;
  let rootKind: JsonKind | undefined;

  ws();
  // Each iteration parses one value starting at i (after whitespace), then closes containers as far as possible.
  for (;;) {
    const c = text[i];
    if (c === undefined) throw eof();
    rootKind ??= kindOf(c);
    let opened = false;
    if (c === '{' || c === '[') {
      if (stack.length >= MAX_DEPTH) throw new JsonSyntax(i, 'exceeded max depth');
      stack.push(c);
      i++;
      ws();
      const close = c === '{' ? '}' : ']';
      if (text[i] === close) {
        i++;
        stack.pop();
      } else {
        opened = true;
        if (c === '{') readKey();
      }
    } else if (c === '"') scanString();
    else if (c === '-' || (c >= '0' && c <= '9')) {
      NUMBER.lastIndex = i;
      if (!NUMBER.test(text)) throw new JsonSyntax(i, 'invalid number');
      i = NUMBER.lastIndex;
    } else if (c === 't') literal('true');
    else if (c === 'f') literal('false');
    else if (c === 'n') literal('null');
    else throw new JsonSyntax(i, 'expected a JSON value');
    if (opened) continue;

    // A value ended at i. Close containers / move to the next element.
    for (;;) {
      if (stack.length === 1 && pending !== undefined) {
        const raw = text.slice(pending.start, i);
        members.push({ key: pending.key, kind: kindOf(raw[0]), raw });
        pending = undefined;
      }
      ws();
      const top = stack[stack.length - 1];
      if (top === undefined) {
        if (i < n) throw new JsonSyntax(i, 'unexpected data after the top-level value');
        return { kind: rootKind, members };
      }
      const ch = text[i];
      if (ch === ',') {
        i++;
        ws();
        if (top === '{') readKey();
        break;
      }
      if ((top === '{' && ch === '}') || (top === '[' && ch === ']')) {
        i++;
        stack.pop();
        continue;
      }
      throw end(top === '{' ? "expected ',' or '}' after an object member" : "expected ',' or ']' after an array element");
    }
  }

  function readKey(): void {
    if (text[i] !== '"') throw end('expected a string object key');
    const start = i;
    scanString();
    const key = JSON.parse(text.slice(start, i)) as string;
    ws();
    if (text[i] !== ':') throw end("expected ':' after an object key");
    i++;
    ws();
    if (stack.length === 1) pending = { key, start: i };
  }
}

function asciiLower(s: string): string {
  return s.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));
}

/** Go turns invalid UTF-16 escapes (unpaired surrogates) into U+FFFD. */
function goString(raw: string): string {
  return (JSON.parse(raw) as string).replace(LONE_SURROGATE_G, '\uFFFD');
}

const GO_KIND: Record<JsonKind, string> = { string: 'string', number: 'number', bool: 'bool', null: 'null', object: 'object', array: 'array' };

/**
 * What a stored `type` that is not `STRING`/`BINARY` is, without its text: the stored text may be the secret itself
 * (a value written into the wrong field), so only its shape is told — empty, a case variant of a valid type, or its
 * length.
 */
function describeType(s: string): string {
  if (s === '') return 'empty (or null)';
  const upper = s.toUpperCase();
  if (upper === 'STRING' || upper === 'BINARY') return `a differently cased ${upper}`;
  return `a ${[...s].length}-character string that is not shown`;
}

function describeSyntax(e: JsonSyntax): string {
  if (e.what === 'unexpected end of JSON input') return 'invalid JSON: unexpected end of JSON input';
  return `invalid JSON at offset ${e.offset}: ${e.what}`;
}

const B64 = new Int16Array(128).fill(-1);
for (const [i, c] of [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'].entries()) B64[c.charCodeAt(0)] = i;

/**
 * Go's `base64.StdEncoding.DecodeString`: padding required, CR and LF ignored anywhere, nothing after the padding,
 * non-zero trailing bits tolerated. Errors use Go's text «illegal base64 data at input byte <n>».
 */
export function decodeBase64StdGo(s: string): Uint8Array {
  const out = new Uint8Array(Math.floor((s.length / 4) * 3) + 3);
  let o = 0;
  let si = 0;
  const n = s.length;
  const corrupt = (at: number): FlyteSecretsError => envelopeError(`illegal base64 data at input byte ${at}`);
  const isNl = (k: number): boolean => s[k] === '\n' || s[k] === '\r';
  for (;;) {
    const buf = [0, 0, 0, 0];
    let dlen = 4;
    let done = false;
    for (let j = 0; j < 4; j++) {
      if (si === n) {
        if (j === 0) return out.slice(0, o);
        throw corrupt(si - j);
      }
      const code = s.charCodeAt(si);
      si++;
      const v = code < 128 ? (B64[code] ?? -1) : -1;
      if (v >= 0) {
        buf[j] = v;
        continue;
      }
      if (code === 0x0a || code === 0x0d) {
        j--;
        continue;
      }
      if (code !== 0x3d /* = */ || j < 2) throw corrupt(si - 1);
      if (j === 2) {
        while (si < n && isNl(si)) si++;
        if (si === n) throw corrupt(n);
        if (s[si] !== '=') throw corrupt(si - 1);
        si++;
      }
      while (si < n && isNl(si)) si++;
      if (si < n) throw corrupt(si);
      dlen = j;
      done = true;
      break;
    }
    const val = ((buf[0] ?? 0) << 18) | ((buf[1] ?? 0) << 12) | ((buf[2] ?? 0) << 6) | (buf[3] ?? 0);
    const bytes = [(val >> 16) & 0xff, (val >> 8) & 0xff, val & 0xff];
    for (let k = 0; k < dlen - 1; k++) out[o++] = bytes[k] ?? 0;
    if (done) return out.slice(0, o);
  }
}

/**
 * Decode a Flyte envelope with Go's `encoding/json` rules (Flyte's `AzureToUnionSecret`):
 *
 * - the text must be one JSON object (syntax errors first, anywhere in the text);
 * - keys match `type` / `value` case-insensitively, unknown keys are ignored, the last duplicate wins;
 * - `type` missing → STRING; not a string → «azureSecretValueType should be a string, got a JSON <kind>»; a string
 *   other than exactly `STRING`/`BINARY` (or `null`, read as "") → an error that describes it without quoting it;
 * - `value` missing → ""; `null` leaves it unchanged; not a string → error;
 * - BINARY values are standard base64 with padding (CR/LF ignored).
 *
 * Throws `InvalidEnvelope`; messages never contain any of `text` (not the value, not the type, not a key).
 *
 * @example
 * ```ts
 * decodeEnvelope('{"type":"STRING","value":"test-value"}').text(); // 'test-value'
 * decodeEnvelope('{"type":"BINARY","value":"SGVsbG8="}').bytes();  // Uint8Array [72, 101, 108, 108, 111]
 * ```
 */
export function decodeEnvelope(text: string): SecretValue {
  let scanned: Scanned;
  try {
    scanned = scanJson(text);
  } catch (e) {
    if (e instanceof JsonSyntax) throw envelopeError(`the Key Vault value is not a Flyte envelope: ${describeSyntax(e)}`);
    throw e;
  }
  return decodeScanned(scanned);
}

function decodeScanned(scanned: Scanned): SecretValue {
  if (scanned.kind !== 'object') {
    throw envelopeError(
      `the Key Vault value is a JSON ${GO_KIND[scanned.kind]}, not a Flyte envelope object ({"type":"STRING"|"BINARY","value":"…"})`,
    );
  }
  let type: EnvelopeType = 'STRING';
  let value = '';
  let saved: FlyteSecretsError | undefined;
  for (const m of scanned.members) {
    const key = asciiLower(m.key);
    if (key === 'type') {
      let s: string;
      if (m.kind === 'string') s = goString(m.raw);
      else if (m.kind === 'null') s = '';
      else throw envelopeError(`azureSecretValueType should be a string, got a JSON ${GO_KIND[m.kind]}`);
      if (s !== 'STRING' && s !== 'BINARY') throw envelopeError(`the envelope's type is ${describeType(s)}, but must be "STRING" or "BINARY" (azureSecretValueType)`);
      type = s;
    } else if (key === 'value') {
      if (m.kind === 'string') value = goString(m.raw);
      else if (m.kind !== 'null') {
        saved ??= envelopeError(`json: cannot unmarshal ${GO_KIND[m.kind]} into Go struct field azureSecretValue.value of type string`);
      }
    }
  }
  if (saved !== undefined) throw saved;
  if (type === 'BINARY') return SecretValue.fromBytes(decodeBase64StdGo(value));
  return SecretValue.fromString(value);
}

/** How {@link decodeKeyVaultValue} treats a Key Vault value that is not an envelope at all. */
export interface DecodeKeyVaultValueOptions {
  /**
   * `'reject'` (Flyte's behaviour): anything but a valid envelope is an error.
   * `'string'`: a value that is not an envelope (not JSON, JSON that is not an object, or an object with neither a
   * `type` nor a `value` key) is returned as a string value, as it is.
   */
  plainValues: 'string' | 'reject';
}

/** Text that starts like an envelope: `{` then a `"type"` or `"value"` key (any case). */
const LOOKS_LIKE_ENVELOPE = /^[ \t\r\n]*\{[ \t\r\n]*"(?:type|value)"/i;

/**
 * Decode a Key Vault value that is either a Flyte envelope or, when allowed, a plain value.
 *
 * A value that *is* an envelope (an object with a `type` or `value` key, or text that starts like one but is not valid
 * JSON) is decoded with {@link decodeEnvelope}'s rules, and a malformed one is always an error. With
 * `plainValues: 'reject'` this is exactly {@link decodeEnvelope}.
 *
 * @example
 * ```ts
 * decodeKeyVaultValue('hunter2', { plainValues: 'string' }).text();              // 'hunter2'
 * decodeKeyVaultValue('{"user":"u","pass":"p"}', { plainValues: 'string' }).text(); // the JSON text, unchanged
 * decodeKeyVaultValue('hunter2', { plainValues: 'reject' });                     // throws InvalidEnvelope
 * ```
 */
export function decodeKeyVaultValue(text: string, options: DecodeKeyVaultValueOptions): SecretValue {
  if (options.plainValues === 'reject') return decodeEnvelope(text);
  let scanned: Scanned;
  try {
    scanned = scanJson(text);
  } catch (e) {
    if (!(e instanceof JsonSyntax)) throw e;
    if (LOOKS_LIKE_ENVELOPE.test(text)) {
      throw envelopeError(`the Key Vault value looks like a damaged Flyte envelope: ${describeSyntax(e)}`);
    }
    return SecretValue.fromString(text);
  }
  const isEnvelope =
    scanned.kind === 'object' && scanned.members.some((m) => ['type', 'value'].includes(asciiLower(m.key)));
  if (!isEnvelope) return SecretValue.fromString(text);
  return decodeScanned(scanned);
}
