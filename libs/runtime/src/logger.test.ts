import { Writable } from 'node:stream';
import { describe, it, expect } from 'vitest';
import { pino } from 'pino';
import { REDACT_PATHS } from './logger.ts';

/** A logger with the service's redaction that writes into an array. */
function capture(): { log: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { log: pino({ redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, sink), lines };
}

describe('log redaction', () => {
  it.each([
    ['an Authorization header of a request', { req: { headers: { authorization: 'Bearer sk-live-1' } } }, 'sk-live-1'],
    ['an x-api-key header', { headers: { 'x-api-key': 'sk_abc' } }, 'sk_abc'],
    ['an outgoing request headers object', { request: { headers: { authorization: 'Bearer t0k', 'xi-api-key': 'el-key' } } }, 't0k'],
    ['an ElevenLabs key header', { request: { headers: { 'xi-api-key': 'el-key' } } }, 'el-key'],
    ['a top-level apiKey', { apiKey: 'sk-top' }, 'sk-top'],
    ['a nested apiKey', { provider: { apiKey: 'sk-nested' } }, 'sk-nested'],
    ['a Twilio auth token', { twilio: { authToken: 'tw-secret' } }, 'tw-secret'],
    ['a stream token', { start: { token: 'abc.def' } }, 'abc.def'],
    ['an MCP server entry headers', { server: { url: 'http://x', headers: { authorization: 'Bearer mcp' } } }, 'Bearer mcp'],
  ])('redacts %s', (_what, obj, secret) => {
    const { log, lines } = capture();
    log.info(obj, 'line');
    expect(JSON.stringify(lines[0])).not.toContain(secret);
    expect(JSON.stringify(lines[0])).toContain('[redacted]');
  });

  it('keeps ordinary fields', () => {
    const { log, lines } = capture();
    log.info({ call_id: 'call_1', tool: 'lookup' }, 'line');
    expect(lines[0]).toMatchObject({ call_id: 'call_1', tool: 'lookup' });
  });
});
