import { describe, expect, it } from 'vitest';
import { decodeEnvelope } from '../azure/secret-value.js';
import { isFlyteSecretsError } from '../errors.js';
import { valueFreeError } from './fetcher.js';

function decodeError(text: string): unknown {
  try {
    decodeEnvelope(text);
  } catch (err) {
    return err;
  }
  throw new Error(`${text} decoded`);
}

describe('valueFreeError', () => {
  it.each([
    ['a type that is the secret', '{"type":"hunter2","value":"x"}'],
    ['a long type', '{"type":"correct-horse-battery-staple","value":"x"}'],
    ['a differently cased key', '{"TYPE":"abc"}'],
  ])('replaces a message quoting the value: %s', (_name, text) => {
    const err = valueFreeError(decodeError(text), text);
    expect(isFlyteSecretsError(err, 'InvalidEnvelope')).toBe(true);
    expect(err.message).toBe('the Key Vault value is not Flyte\'s {"type","value"} JSON envelope');
  });

  it.each([
    ['{"type":"STRING","value":"hunter2', /^the Key Vault value is not a Flyte envelope: invalid JSON/],
    ['{"type":"BINARY","value":"!!"}', /^illegal base64 data at input byte 0$/],
    ['{"type":1,"value":"x"}', /^azureSecretValueType should be a string, got 1$/],
    ['{"type":"STRING","value":["a"]}', /azureSecretValue\.value of type string$/],
  ])('keeps a message that does not quote the value: %s', (text, message) => {
    const original = decodeError(text);
    const err = valueFreeError(original, text);
    expect(err).toBe(original);
    expect(err.message).toMatch(message);
  });
});
