/**
 * {@link SecretValue}: a secret's value, opaque in memory. It prints as `[REDACTED]` in `toString`, `toJSON`,
 * `util.inspect` and template literals, so it cannot reach a log line or an error message by accident.
 * Reading the value is an explicit call: `text()`, `bytes()` or `unsafeString()`.
 *
 * @module
 */
import { inspect } from 'node:util';

const REDACTED = '[REDACTED]';
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/** Whether the backend stored text or bytes (Flyte's `{StringValue, BinaryValue}` pair, Flyte's `secret/azure_utils.go`). */
export type SecretValueKind = 'string' | 'binary';

/**
 * A secret value, either text or bytes. Never printed.
 *
 * @example
 * ```ts
 * const v = SecretValue.fromString('s3cr3t');
 * console.log(`${v}`); // [REDACTED]
 * v.text();            // 's3cr3t'
 * ```
 */
export class SecretValue {
  readonly #kind: SecretValueKind;
  readonly #text: string | undefined;
  readonly #bytes: Uint8Array | undefined;

  private constructor(kind: SecretValueKind, text: string | undefined, bytes: Uint8Array | undefined) {
    this.#kind = kind;
    this.#text = text;
    this.#bytes = bytes;
  }

  /** A text value. */
  static fromString(value: string): SecretValue {
    return new SecretValue('string', value, undefined);
  }

  /** A binary value (copied). */
  static fromBytes(value: Uint8Array): SecretValue {
    return new SecretValue('binary', undefined, Uint8Array.from(value));
  }

  /** `string` or `binary`, as the backend stored it. */
  get kind(): SecretValueKind {
    return this.#kind;
  }

  /** True when the value has no bytes. */
  get isEmpty(): boolean {
    return this.#kind === 'string' ? this.#text === '' : (this.#bytes?.length ?? 0) === 0;
  }

  /** The value's bytes: UTF-8 of a text value, or the binary value (a copy). */
  bytes(): Uint8Array {
    if (this.#kind === 'string') return new TextEncoder().encode(this.#text ?? '');
    return Uint8Array.from(this.#bytes ?? new Uint8Array());
  }

  /**
   * The value as text: a text value as is; a binary value decoded as strict UTF-8.
   * Returns undefined for binary values that are not valid UTF-8 (Flyte refuses those as env vars).
   */
  text(): string | undefined {
    if (this.#kind === 'string') return this.#text ?? '';
    try {
      return utf8Strict.decode(this.#bytes ?? new Uint8Array());
    } catch {
      return undefined;
    }
  }

  /** Same value, same kind. */
  equals(other: SecretValue): boolean {
    if (this.#kind !== other.#kind) return false;
    const a = this.bytes();
    const b = other.bytes();
    return a.length === b.length && a.every((x, i) => x === b[i]);
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return `SecretValue(${this.#kind}, ${REDACTED})`;
  }

  [Symbol.toPrimitive](): string {
    return REDACTED;
  }
}
