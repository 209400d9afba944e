import { isRecord } from './chat.ts';
import type { FakeOpenAIOptions, ScriptRule, ScriptedToolCall } from './server.ts';

/** What a FAKE_OPENAI_SCRIPT file may set. Regex rules are written as "/source/flags" strings. */
export type FakeOpenAIScript = Pick<FakeOpenAIOptions, 'rules' | 'transcripts' | 'latency' | 'fallbackReply'>;

/** A script file that does not have the documented shape; the message names the offending path. */
export class ScriptFileError extends Error {
  override name = 'ScriptFileError';
}

const SCRIPT_KEYS = ['rules', 'transcripts', 'latency', 'fallbackReply'];
const RULE_KEYS = ['whenUser', 'afterTool', 'say', 'toolCalls', 'times'];
const LATENCY_KEYS = ['chatTtftMs', 'chatTokenMs', 'sttMs', 'ttsTtfbMs'];

/**
 * Parses and checks the JSON of a script file. Unknown keys are rejected so a misspelt field fails
 * at start-up instead of silently leaving a rule unconditional.
 */
export function parseScriptFile(json: string, source = 'script'): FakeOpenAIScript {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch (err) {
    throw new ScriptFileError(`${source}: not valid JSON (${(err as Error).message})`);
  }
  const fail = (path: string, what: string): never => {
    throw new ScriptFileError(`${source}: ${path} ${what}`);
  };
  const checkKeys = (obj: Record<string, unknown>, allowed: string[], path: string): void => {
    for (const key of Object.keys(obj)) if (!allowed.includes(key)) fail(`${path}.${key}`, `is not one of ${allowed.join(', ')}`);
  };
  const optionalString = (v: unknown, path: string): string | undefined => {
    if (v !== undefined && typeof v !== 'string') fail(path, 'must be a string');
    return v as string | undefined;
  };

  if (!isRecord(doc)) return fail('$', 'must be an object');
  checkKeys(doc, SCRIPT_KEYS, '$');
  const script: FakeOpenAIScript = {};

  if (doc.rules !== undefined) {
    if (!Array.isArray(doc.rules)) fail('$.rules', 'must be an array');
    script.rules = (doc.rules as unknown[]).map((r, i): ScriptRule => {
      const path = `$.rules[${i}]`;
      if (!isRecord(r)) return fail(path, 'must be an object');
      checkKeys(r, RULE_KEYS, path);
      const rule: ScriptRule = {};
      const whenUser = optionalString(r.whenUser, `${path}.whenUser`);
      if (whenUser !== undefined) rule.whenUser = whenUser;
      const afterTool = optionalString(r.afterTool, `${path}.afterTool`);
      if (afterTool !== undefined) rule.afterTool = afterTool;
      const say = optionalString(r.say, `${path}.say`);
      if (say !== undefined) rule.say = say;
      if (r.times !== undefined) {
        if (typeof r.times !== 'number' || !Number.isInteger(r.times) || r.times < 0) fail(`${path}.times`, 'must be a non-negative integer');
        rule.times = r.times as number;
      }
      if (r.toolCalls !== undefined) {
        if (!Array.isArray(r.toolCalls)) fail(`${path}.toolCalls`, 'must be an array');
        rule.toolCalls = (r.toolCalls as unknown[]).map((c, j): ScriptedToolCall => {
          const callPath = `${path}.toolCalls[${j}]`;
          if (!isRecord(c)) return fail(callPath, 'must be an object');
          checkKeys(c, ['name', 'arguments'], callPath);
          if (typeof c.name !== 'string' || c.name === '') fail(`${callPath}.name`, 'must be a non-empty string');
          if (c.arguments !== undefined && !isRecord(c.arguments)) fail(`${callPath}.arguments`, 'must be an object');
          return { name: c.name as string, arguments: isRecord(c.arguments) ? c.arguments : {} };
        });
      }
      return rule;
    });
  }

  if (doc.transcripts !== undefined) {
    if (!Array.isArray(doc.transcripts) || !doc.transcripts.every((t) => typeof t === 'string')) {
      fail('$.transcripts', 'must be an array of strings');
    }
    script.transcripts = doc.transcripts as string[];
  }

  if (doc.latency !== undefined) {
    if (!isRecord(doc.latency)) return fail('$.latency', 'must be an object');
    checkKeys(doc.latency, LATENCY_KEYS, '$.latency');
    for (const [key, v] of Object.entries(doc.latency)) {
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) fail(`$.latency.${key}`, 'must be a non-negative number');
    }
    script.latency = doc.latency as FakeOpenAIScript['latency'];
  }

  const fallbackReply = optionalString(doc.fallbackReply, '$.fallbackReply');
  if (fallbackReply !== undefined) script.fallbackReply = fallbackReply;
  return script;
}
