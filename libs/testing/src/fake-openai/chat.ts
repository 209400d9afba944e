import { randomBytes } from 'node:crypto';
import type { ScriptRule, ScriptedToolCall } from './server.ts';

/** The fields of a chat message the fake reads; the rest of the message is passed through untouched. */
export interface ChatMessage {
  role: string;
  content?: unknown;
  tool_calls?: unknown;
  tool_call_id?: unknown;
}

/** What the scripted model answers to one request. */
export interface ScriptedReply {
  /** Rendered reply text; '' when the rule only calls tools. */
  text: string;
  toolCalls: ScriptedToolCall[];
}

interface CompiledRule {
  rule: ScriptRule;
  matchUser: ((text: string) => boolean) | undefined;
  used: number;
}

/**
 * The rule list of one fake server: first matching rule wins, `times` is counted per rule from the
 * moment the rules were set.
 */
export class ChatScript {
  #rules: CompiledRule[] = [];

  constructor(
    rules: ScriptRule[],
    private readonly fallbackReply: string,
  ) {
    this.setRules(rules);
  }

  /** Replaces the rules and resets their `times` counts. Throws SyntaxError on a bad /regex/. */
  setRules(rules: ScriptRule[]): void {
    this.#rules = rules.map((rule) => {
      if (rule.times !== undefined && (!Number.isInteger(rule.times) || rule.times < 0)) {
        throw new RangeError(`ScriptRule.times must be a non-negative integer, got ${rule.times}`);
      }
      return { rule, matchUser: rule.whenUser === undefined ? undefined : userMatcher(rule.whenUser), used: 0 };
    });
  }

  /** Picks the reply for a (validated) message list and counts the use of the matching rule. */
  reply(messages: ChatMessage[]): ScriptedReply {
    const userText = lastUserText(messages);
    const toolResults = trailingToolResults(messages);
    for (const entry of this.#rules) {
      const { rule } = entry;
      if (rule.times !== undefined && entry.used >= rule.times) continue;
      if (entry.matchUser && (userText === undefined || !entry.matchUser(userText))) continue;
      let toolContent = lastToolContent(messages);
      if (rule.afterTool !== undefined) {
        const result = toolResults.findLast((r) => r.name === rule.afterTool);
        if (!result) continue;
        toolContent = result.content;
      }
      entry.used++;
      return {
        text: rule.say === undefined ? '' : renderTemplate(rule.say, toolContent),
        toolCalls: rule.toolCalls ?? [],
      };
    }
    return { text: this.fallbackReply, toolCalls: [] };
  }
}

/** `/source/flags` compiles to a case-insensitive regex test; anything else is a case-insensitive substring. */
function userMatcher(pattern: string): (text: string) => boolean {
  const re = /^\/(.+)\/([a-z]*)$/s.exec(pattern);
  if (re) {
    // g and y make RegExp.test stateful across calls; i keeps both forms case-insensitive.
    const flags = new Set((re[2] ?? '').replace(/[gy]/g, ''));
    flags.add('i');
    const regex = new RegExp(re[1] ?? '', [...flags].join(''));
    return (text) => regex.test(text);
  }
  const needle = pattern.toLowerCase();
  return (text) => text.toLowerCase().includes(needle);
}

/** Text of a message content: a string, or the `text` parts of a content-part array. */
export function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((part: unknown) => (isRecord(part) && typeof part.text === 'string' ? part.text : ''))
    .join('');
}

function lastUserText(messages: ChatMessage[]): string | undefined {
  const m = messages.findLast((msg) => msg.role === 'user');
  return m === undefined ? undefined : contentText(m.content);
}

function lastToolContent(messages: ChatMessage[]): string | undefined {
  const m = messages.findLast((msg) => msg.role === 'tool');
  return m === undefined ? undefined : contentText(m.content);
}

/** The run of tool messages that ends the conversation, each resolved to the tool name it answers. */
function trailingToolResults(messages: ChatMessage[]): Array<{ name: string | undefined; content: string }> {
  const names = new Map<string, string>();
  for (const m of messages) {
    if (m.role !== 'assistant' || !Array.isArray(m.tool_calls)) continue;
    for (const call of m.tool_calls as unknown[]) {
      if (isRecord(call) && typeof call.id === 'string' && isRecord(call.function) && typeof call.function.name === 'string') {
        names.set(call.id, call.function.name);
      }
    }
  }
  const results: Array<{ name: string | undefined; content: string }> = [];
  for (let i = messages.length - 1; i >= 0 && messages[i]?.role === 'tool'; i--) {
    const m = messages[i];
    const id = typeof m?.tool_call_id === 'string' ? m.tool_call_id : '';
    results.unshift({ name: names.get(id), content: contentText(m?.content) });
  }
  return results;
}

/**
 * Renders `{{tool}}` as the tool content and `{{tool.a.b.0}}` as a path into that content parsed as
 * JSON. Missing values, null, unparsable content and an absent tool message all render as ''.
 * Objects and arrays render as JSON.
 */
export function renderTemplate(template: string, toolContent: string | undefined): string {
  let parsed: unknown;
  let parsedOnce = false;
  return template.replace(/\{\{\s*tool((?:\.[^.{}\s]+)*)\s*\}\}/g, (_match, path: string) => {
    if (toolContent === undefined) return '';
    if (path === '') return toolContent;
    if (!parsedOnce) {
      parsedOnce = true;
      try {
        parsed = JSON.parse(toolContent);
      } catch {
        parsed = undefined;
      }
    }
    let value: unknown = parsed;
    for (const key of path.slice(1).split('.')) {
      if (value === null || typeof value !== 'object' || !Object.hasOwn(value, key)) return '';
      value = (value as Record<string, unknown>)[key];
    }
    if (value === null || value === undefined) return '';
    return typeof value === 'object' ? JSON.stringify(value) : String(value);
  });
}

/**
 * Splits text into word-ish tokens the way a model streams them: each token carries its leading
 * whitespace, punctuation runs are their own tokens. Joining the tokens gives back the text.
 */
export function tokenize(text: string): string[] {
  return text.match(/\s*[\p{L}\p{N}\p{M}'’_-]+|\s*[^\p{L}\p{N}\p{M}'’_\s-]+|\s+/gu) ?? [];
}

/** Splits a JSON argument string into 2 or 3 fragments (fewer only when it is shorter than that). */
export function splitArguments(json: string): string[] {
  const pieces = Math.min(json.length, json.length < 12 ? 2 : 3);
  if (pieces <= 1) return [json];
  const out: string[] = [];
  for (let i = 0; i < pieces; i++) {
    out.push(json.slice(Math.floor((json.length * i) / pieces), Math.floor((json.length * (i + 1)) / pieces)));
  }
  return out;
}

/** One assistant reply prepared for the wire: ids, serialized arguments and the delta sequence. */
export interface PlannedReply {
  text: string;
  toolCalls: Array<{ id: string; name: string; arguments: string }>;
  finishReason: 'stop' | 'tool_calls';
  /** Deltas after the role delta, one chunk each; every one after the first is `chatTokenMs` apart. */
  deltas: Array<Record<string, unknown>>;
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}

/** Turns a scripted reply into what both the streaming and the plain response send. */
export function planReply(reply: ScriptedReply, messages: ChatMessage[]): PlannedReply {
  const tokens = tokenize(reply.text);
  const toolCalls = reply.toolCalls.map((call) => ({
    id: `call_${randomId(24)}`,
    name: call.name,
    arguments: JSON.stringify(call.arguments ?? {}),
  }));
  const deltas: Array<Record<string, unknown>> = tokens.map((content) => ({ content }));
  toolCalls.forEach((call, index) => {
    deltas.push({ tool_calls: [{ index, id: call.id, type: 'function', function: { name: call.name, arguments: '' } }] });
    for (const fragment of splitArguments(call.arguments)) {
      deltas.push({ tool_calls: [{ index, function: { arguments: fragment } }] });
    }
  });
  const promptTokens = messages.reduce((n, m) => n + 4 + Math.ceil(contentText(m.content).length / 4), 3);
  const completionTokens = tokens.length + toolCalls.reduce((n, c) => n + 8 + Math.ceil(c.arguments.length / 4), 0);
  return {
    text: reply.text,
    toolCalls,
    finishReason: toolCalls.length > 0 ? 'tool_calls' : 'stop',
    deltas,
    usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
  };
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** Random base-62 id of the shape OpenAI uses for `chatcmpl-…` and `call_…`. */
export function randomId(length: number): string {
  const bytes = randomBytes(length);
  let id = '';
  for (const b of bytes) id += ALPHABET[b % ALPHABET.length];
  return id;
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
