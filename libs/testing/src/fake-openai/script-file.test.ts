import { describe, expect, it, test } from 'vitest';
import { ScriptFileError, parseScriptFile } from './script-file.ts';

describe('parseScriptFile', () => {
  it('reads rules (regex written as a string), transcripts, latency and fallbackReply', () => {
    const script = parseScriptFile(
      JSON.stringify({
        rules: [
          { afterTool: 'lookup', say: 'Found {{tool.name}}.' },
          { whenUser: '/^book/', toolCalls: [{ name: 'lookup', arguments: { q: 1 } }], times: 2 },
        ],
        transcripts: ['hello'],
        latency: { chatTtftMs: 200, ttsTtfbMs: 80 },
        fallbackReply: 'Pardon?',
      }),
    );
    expect(script).toEqual({
      rules: [
        { afterTool: 'lookup', say: 'Found {{tool.name}}.' },
        { whenUser: '/^book/', toolCalls: [{ name: 'lookup', arguments: { q: 1 } }], times: 2 },
      ],
      transcripts: ['hello'],
      latency: { chatTtftMs: 200, ttsTtfbMs: 80 },
      fallbackReply: 'Pardon?',
    });
  });

  test.each([
    ['not JSON', '{', /not valid JSON/],
    ['a misspelt rule key', '{"rules":[{"whenuser":"x"}]}', /\$\.rules\[0\]\.whenuser is not one of/],
    ['an unknown top-level key', '{"apiKey":"x"}', /\$\.apiKey/],
    ['a non-string say', '{"rules":[{"say":3}]}', /\$\.rules\[0\]\.say must be a string/],
    ['a tool call without name', '{"rules":[{"toolCalls":[{"arguments":{}}]}]}', /toolCalls\[0\]\.name/],
    ['negative latency', '{"latency":{"sttMs":-1}}', /\$\.latency\.sttMs/],
    ['non-string transcripts', '{"transcripts":[1]}', /\$\.transcripts/],
  ])('rejects %s', (_name, json, message) => {
    expect(() => parseScriptFile(json, 'x.json')).toThrow(ScriptFileError);
    expect(() => parseScriptFile(json, 'x.json')).toThrow(message);
  });
});
