import { createHash } from 'node:crypto';
import { Ajv, type ValidateFunction } from 'ajv';
import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import { describeErrors } from '@switchboard/bus';

/** A tool as the broker keeps it: the fields the model and the retry rule need, nothing else. */
export interface CachedTool {
  name: string;
  title?: string;
  description?: string;
  inputSchema: Record<string, unknown>;
  annotations?: Tool['annotations'];
}

export interface RejectedTool {
  name: string;
  reason: string;
}

interface Compiled {
  validate: ValidateFunction | null;
  error: string | undefined;
}

/** Distinct schemas compiled before the compiler is replaced (ajv keeps every compiled schema). */
const MAX_COMPILED = 10_000;

/**
 * Compiles tool input schemas with ajv once per distinct schema (by content hash, so a refreshed
 * list with the same schemas costs nothing) and remembers the validator per tool object.
 */
export class SchemaRegistry {
  private ajv = SchemaRegistry.newAjv();
  private readonly byHash = new Map<string, Compiled>();
  private byTool = new WeakMap<object, Compiled>();

  private static newAjv(): Ajv {
    return new Ajv({ allErrors: true, strict: false, validateFormats: false });
  }

  /** Compiles (or finds) the validator of a schema; `error` says why a schema is not valid JSON Schema. */
  compile(schema: Record<string, unknown>): Compiled {
    const hash = createHash('sha1').update(JSON.stringify(schema)).digest('hex');
    let c = this.byHash.get(hash);
    if (c) return c;
    if (this.byHash.size >= MAX_COMPILED) {
      this.ajv = SchemaRegistry.newAjv();
      this.byHash.clear();
      this.byTool = new WeakMap();
    }
    try {
      c = { validate: this.ajv.compile(schema), error: undefined };
    } catch (err) {
      c = { validate: null, error: (err as Error).message.slice(0, 200) };
    }
    this.byHash.set(hash, c);
    return c;
  }

  /** Problems with `args` for this tool, or undefined when they are valid. */
  check(tool: CachedTool, args: Record<string, unknown>): string[] | undefined {
    let c = this.byTool.get(tool);
    if (!c) {
      c = this.compile(tool.inputSchema);
      this.byTool.set(tool, c);
    }
    if (!c.validate || c.validate(args)) return undefined;
    return describeErrors(c.validate.errors);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Checks every tool of a server's list on its own, so one bad tool never costs the others: a tool
 * without a name, with an input schema that is not an object schema or not valid JSON Schema (a
 * model provider would refuse the whole request over it), or with a duplicate name is left out.
 * A missing `inputSchema` is taken as "no arguments".
 */
export function sanitizeTools(raw: readonly unknown[], schemas: SchemaRegistry): { tools: CachedTool[]; rejected: RejectedTool[] } {
  const tools: CachedTool[] = [];
  const rejected: RejectedTool[] = [];
  const seen = new Set<string>();
  for (const t of raw) {
    if (!isObject(t) || typeof t.name !== 'string' || t.name.length === 0 || t.name.length > 256) {
      rejected.push({ name: isObject(t) && typeof t.name === 'string' ? t.name.slice(0, 80) : '(no name)', reason: 'the tool has no valid name' });
      continue;
    }
    const name = t.name;
    if (seen.has(name)) {
      rejected.push({ name, reason: 'a second tool with this name' });
      continue;
    }
    const schema = t.inputSchema === undefined ? { type: 'object', properties: {} } : t.inputSchema;
    if (!isObject(schema) || schema.type !== 'object') {
      rejected.push({ name, reason: 'inputSchema is not an object schema ({"type":"object",…})' });
      continue;
    }
    const compiled = schemas.compile(schema);
    if (compiled.error) {
      rejected.push({ name, reason: `inputSchema is not valid JSON Schema: ${compiled.error}` });
      continue;
    }
    seen.add(name);
    const tool: CachedTool = { name, inputSchema: schema };
    if (typeof t.title === 'string') tool.title = t.title;
    if (typeof t.description === 'string') tool.description = t.description;
    if (isObject(t.annotations)) tool.annotations = t.annotations as Tool['annotations'];
    tools.push(tool);
  }
  return { tools, rejected };
}

/** Whether a failed call of this tool may be sent again: read-only, or idempotent and not marked destructive. */
export function safeToRepeat(tool: CachedTool | undefined): boolean {
  const a = tool?.annotations;
  if (!a) return false;
  return a.readOnlyHint === true || (a.idempotentHint === true && a.destructiveHint !== true);
}
