import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createDevLogger, formatLogLine } from './log.js';

describe('formatLogLine', () => {
  it('lays out a pino line as time, level, message and fields', () => {
    const line = JSON.stringify({ level: 30, time: '2025-01-01T10:00:00.000Z', pid: 1, hostname: 'h', name: 'flyte-secrets', event: 'admission', pod: 'p', managers: ['Azure', 'Embedded'], durationMs: 1.5, message: 'two words', msg: 'admission' });
    expect(formatLogLine(line)).toBe('10:00:00 info  admission pod=p managers=Azure,Embedded durationMs=1.5 message="two words"');
  });

  it('marks warnings and passes through text that is not JSON', () => {
    expect(formatLogLine('{"level":40,"time":"2025-01-01T10:00:01.000Z","msg":"admission denied","outcome":"denied"}')).toBe('10:00:01 WARN  admission denied outcome=denied');
    expect(formatLogLine('plain text\n')).toBe('plain text');
  });
});

describe('createDevLogger', () => {
  it('writes readable lines to the given stream, at the given level', () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    });
    const logger = createDevLogger({ stream, level: 'info' });
    logger.debug({ event: 'x' }, 'hidden');
    logger.info({ event: 'started', port: 9443 }, 'listening');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\d\d:\d\d:\d\d info {2}listening port=9443\n$/);
  });
});
