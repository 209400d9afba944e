import { describe, expect, it } from 'vitest';
import { Ajv } from 'ajv';
import {
  ErrorCodes,
  SwitchboardError,
  audioSubjects,
  contracts,
  isRetryableStatus,
  normalizeMcpServers,
  subjectToken,
  toEnvelope,
} from './index.ts';
import type { McpServerEntry } from './index.ts';

/** Every schema a contract carries, named for the test title. */
const schemas: Array<[string, unknown]> = Object.values(contracts).flatMap((c): Array<[string, unknown]> =>
  c.kind === 'event' ? [[`${c.name} payload`, c.schema]] : [[`${c.name} request`, c.request], [`${c.name} reply`, c.reply]],
);

describe('contracts', () => {
  it('has at least one event and one command, each named after its key', () => {
    const entries = Object.entries(contracts);
    expect(entries.some(([, c]) => c.kind === 'event')).toBe(true);
    expect(entries.some(([, c]) => c.kind === 'command')).toBe(true);
    for (const [key, c] of entries) expect(c.name).toBe(key);
  });

  // strict: an unknown keyword or a malformed schema is a compile error, not a silent pass.
  it.each(schemas)('%s schema compiles with ajv in strict mode', (_name, schema) => {
    const ajv = new Ajv({ strict: true, allErrors: true, strictTypes: false });
    expect(() => ajv.compile(schema as object)).not.toThrow();
  });

  it.each([
    ['callStarted', 'evt.call.started'],
    ['callEnded', 'evt.call.ended'],
    ['transcriptAppended', 'evt.transcript.appended'],
    ['startSession', 'cmd.agent-orchestrator.start-session'],
    ['listTools', 'cmd.mcp-broker.list-tools'],
    ['callTool', 'cmd.mcp-broker.call-tool'],
  ] as const)('fixed contract %s has subject %s and ignores any parameter', (key, subject) => {
    expect(contracts[key].param).toBe('none');
    expect(contracts[key].subject()).toBe(subject);
    expect(contracts[key].subject('anything')).toBe(subject);
  });

  it.each([
    ['hangup', 'CA123_abc-9', 'cmd.media-gateway.hangup.CA123_abc-9'],
    ['transfer', 'CA123_abc-9', 'cmd.media-gateway.transfer.CA123_abc-9'],
    ['mediaEvents', 'call-1', 'media.call-1.evt'],
    ['mediaControl', 'call-1', 'media.call-1.ctl'],
    ['health', 'mcp-broker', 'cmd.mcp-broker.health'],
  ] as const)('parameterised contract %s builds its subject from %s', (key, token, subject) => {
    expect(contracts[key].subject(token)).toBe(subject);
  });

  it.each([['hangup'], ['transfer'], ['mediaEvents'], ['mediaControl'], ['health']] as const)(
    'parameterised contract %s refuses a missing or wildcard token',
    (key) => {
      expect(() => contracts[key].subject()).toThrow(/invalid/);
      expect(() => contracts[key].subject('*')).toThrow(/invalid/);
      expect(() => contracts[key].subject('a.>')).toThrow(/invalid/);
    },
  );

  it('audio subjects are per call, in and out', () => {
    expect(audioSubjects.mediaIn('call-42')).toBe('media.call-42.in');
    expect(audioSubjects.mediaOut('call-42')).toBe('media.call-42.out');
    expect(() => audioSubjects.mediaIn('x.y')).toThrow(/invalid callId/);
    expect(() => audioSubjects.mediaOut('>')).toThrow(/invalid callId/);
  });

  it('command queue groups: load-balanced commands have one, instance-pinned ones do not', () => {
    expect(contracts.startSession.queue).toBe('agent-orchestrator');
    expect(contracts.listTools.queue).toBe('mcp-broker');
    expect(contracts.callTool.queue).toBe('mcp-broker');
    expect(contracts.hangup.queue).toBeUndefined();
    expect(contracts.transfer.queue).toBeUndefined();
    expect(contracts.health.queue).toBeUndefined();
  });
});

describe('subjectToken', () => {
  it.each([
    ['a dot', 'a.b'],
    ['a leading dot', '.abc'],
    ['a star', '*'],
    ['a star inside', 'ab*c'],
    ['a full wildcard', '>'],
    ['a trailing wildcard', 'abc.>'],
    ['a space', 'a b'],
    ['a tab', 'a\tb'],
    ['a newline', 'abc\n'],
    ['the empty string', ''],
    ['65 characters', 'a'.repeat(65)],
    ['a non-ASCII letter', 'café'],
    ['a slash', 'a/b'],
  ])('rejects %s', (_what, value) => {
    expect(() => subjectToken(value, 'callId')).toThrow(`invalid callId for a subject token: ${JSON.stringify(value)}`);
  });

  it('rejects undefined', () => {
    expect(() => subjectToken(undefined, 'service')).toThrow('invalid service for a subject token: undefined');
  });

  it.each([['a'], ['CA0123456789abcdef'], ['call_1-2'], ['a'.repeat(64)], ['MZ-_-_']])('accepts %s unchanged', (value) => {
    expect(subjectToken(value, 'callId')).toBe(value);
  });
});

describe('isRetryableStatus', () => {
  it.each([
    [400, false],
    [401, false],
    [403, false],
    [404, false],
    [408, true],
    [409, false],
    [413, false],
    [422, false],
    [429, true],
    [499, false],
    [500, true],
    [502, true],
    [503, true],
    [504, true],
    [599, true],
  ])('HTTP %i → retryable %s', (status, retryable) => {
    expect(isRetryableStatus(status)).toBe(retryable);
  });
});

describe('toEnvelope', () => {
  it.each([
    ['a plain Error', new Error('password=hunter2 at db.internal:5432')],
    ['a TypeError', new TypeError("Cannot read properties of undefined (reading 'secret')")],
    ['a string', 'raw internal string'],
    ['an object with code and message', { code: 'TOOL_TIMEOUT', message: 'pretends to be ours', retryable: true }],
    ['undefined', undefined],
    ['null', null],
  ])('maps %s to INTERNAL_ERROR with a generic message', (_what, thrown) => {
    const env = toEnvelope(thrown);
    expect(env).toEqual({ code: ErrorCodes.INTERNAL_ERROR, message: 'Internal error', retryable: false });
    expect(JSON.stringify(env)).not.toMatch(/hunter2|secret|raw internal|pretends/);
  });

  it('passes a SwitchboardError through with its code, message, retryability and details', () => {
    const err = new SwitchboardError(ErrorCodes.TOOL_INVALID_ARGUMENTS, 'orderId must be a string', { details: { field: 'orderId' } });
    expect(toEnvelope(err)).toEqual({
      code: 'TOOL_INVALID_ARGUMENTS',
      message: 'orderId must be a string',
      retryable: false,
      details: { field: 'orderId' },
    });
  });

  it.each([
    [ErrorCodes.BUS_TIMEOUT, true],
    [ErrorCodes.PROVIDER_FAILED, true],
    [ErrorCodes.RATE_LIMITED, true],
    [ErrorCodes.AGENT_NOT_FOUND, false],
    [ErrorCodes.INTERNAL_ERROR, false],
  ])('SwitchboardError %s defaults retryable to %s', (code, retryable) => {
    expect(toEnvelope(new SwitchboardError(code, 'x')).retryable).toBe(retryable);
  });

  it('an explicit retryable overrides the code default, and survives the envelope round trip', () => {
    const err = new SwitchboardError(ErrorCodes.PROVIDER_FAILED, 'HTTP 400', { retryable: false, details: { status: 400 } });
    const back = SwitchboardError.fromEnvelope(JSON.parse(JSON.stringify(err.toEnvelope())));
    expect(back).toBeInstanceOf(SwitchboardError);
    expect([back.code, back.message, back.retryable, back.details]).toEqual(['PROVIDER_FAILED', 'HTTP 400', false, { status: 400 }]);
  });
});

describe('normalizeMcpServers', () => {
  it.each<[string, McpServerEntry[], ReturnType<typeof normalizeMcpServers>]>([
    [
      'expands URL shorthand with default name and transport',
      ['http://127.0.0.1:3901/mcp'],
      [{ url: 'http://127.0.0.1:3901/mcp', name: 'mcp[0]', transport: 'streamable-http', headers: {} }],
    ],
    [
      'names unnamed entries by their own index',
      [{ url: 'http://a/mcp', name: 'orders' }, 'http://b/mcp', { url: 'http://c/mcp' }],
      [
        { url: 'http://a/mcp', name: 'orders', transport: 'streamable-http', headers: {} },
        { url: 'http://b/mcp', name: 'mcp[1]', transport: 'streamable-http', headers: {} },
        { url: 'http://c/mcp', name: 'mcp[2]', transport: 'streamable-http', headers: {} },
      ],
    ],
    [
      'keeps an explicit transport, headers and other fields',
      [{ command: 'node', args: ['server.js'], transport: 'stdio', headers: { 'X-Key': 'k' }, prefix: 'crm', allowedTools: ['lookup'] }],
      [{ command: 'node', args: ['server.js'], transport: 'stdio', headers: { 'X-Key': 'k' }, prefix: 'crm', allowedTools: ['lookup'], name: 'mcp[0]' }],
    ],
    ['returns nothing for no entries', [], []],
  ])('%s', (_what, input, expected) => {
    expect(normalizeMcpServers(input)).toEqual(expected);
  });

  it('does not mutate its input', () => {
    const entry = { url: 'http://a/mcp' };
    normalizeMcpServers([entry]);
    expect(entry).toEqual({ url: 'http://a/mcp' });
  });
});
