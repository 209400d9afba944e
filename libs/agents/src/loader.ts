import { readdir, readFile } from 'node:fs/promises';
import { join, basename } from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { Ajv, type ErrorObject } from 'ajv';
import { agentDefinitionSchema, ErrorCodes, SwitchboardError, type AgentDefinition } from '@switchboard/contracts';

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false });
const validateAgent = ajv.compile(agentDefinitionSchema as object);

/** `${NAME}` and `${NAME:-default}`; `$${` escapes a literal `${`. Call context `{{…}}` is left for call time. */
const ENV_REF = /\$?\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

export function interpolateEnv(value: unknown, env: Record<string, string | undefined>, path = ''): unknown {
  if (typeof value === 'string') {
    return value.replace(ENV_REF, (match, name: string, fallback: string | undefined) => {
      if (match.startsWith('$$')) return match.slice(1);
      const v = env[name];
      if (v !== undefined && v !== '') return v;
      if (fallback !== undefined) return fallback;
      throw new SwitchboardError(ErrorCodes.AGENT_INVALID, `${path || '/'}: environment variable ${name} is not set`);
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolateEnv(v, env, `${path}/${i}`));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolateEnv(v, env, `${path}/${k}`)]));
  }
  return value;
}

function describe(e: ErrorObject): string {
  const field = e.instancePath || '/';
  if (e.keyword === 'additionalProperties') return `${field}: unknown field "${String((e.params as { additionalProperty: string }).additionalProperty)}"`;
  if (e.keyword === 'required') return `${field}: missing required field "${String((e.params as { missingProperty: string }).missingProperty)}"`;
  if (e.keyword === 'enum') return `${field}: ${e.message ?? 'invalid'} (${((e.params as { allowedValues: unknown[] }).allowedValues ?? []).join(', ')})`;
  return `${field}: ${e.message ?? 'is invalid'}`;
}

/** Rules the schema cannot say: unique tool names. */
function crossCheck(agent: AgentDefinition): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const [i, t] of (agent.tools ?? []).entries()) {
    if (seen.has(t.name)) problems.push(`/tools/${i}/name: duplicate tool name "${t.name}"`);
    seen.add(t.name);
  }
  return problems;
}

/**
 * Validates one parsed agent object. Throws AGENT_INVALID whose message names the source, the field
 * and the reason, e.g. `config/agents/demo.yaml: /llm/provider: must be equal to one of the allowed values (openai)`.
 */
export function validateAgentDefinition(raw: unknown, source: string, env: Record<string, string | undefined> = process.env): AgentDefinition {
  let value: unknown;
  try {
    value = interpolateEnv(raw, env);
  } catch (err) {
    throw new SwitchboardError(ErrorCodes.AGENT_INVALID, `${source}: ${(err as Error).message}`);
  }
  if (!validateAgent(value)) {
    // For `string | object` unions ajv reports every branch plus the anyOf itself; the branches say more.
    const problems = (validateAgent.errors ?? []).filter((e) => e.keyword !== 'anyOf').map(describe);
    throw new SwitchboardError(ErrorCodes.AGENT_INVALID, `${source}: ${problems.join('; ')}`, { details: { source, problems } });
  }
  const agent = value as AgentDefinition;
  const cross = crossCheck(agent);
  if (cross.length) throw new SwitchboardError(ErrorCodes.AGENT_INVALID, `${source}: ${cross.join('; ')}`, { details: { source, problems: cross } });
  return agent;
}

/** Loads every `*.yaml`/`*.yml` in `dir`. Any bad file fails the whole load (refused at boot). */
export async function loadAgents(dir: string, env: Record<string, string | undefined> = process.env): Promise<AgentDefinition[]> {
  let files: string[];
  try {
    files = (await readdir(dir)).filter((f) => /\.ya?ml$/.test(f)).sort();
  } catch (err) {
    throw new SwitchboardError(ErrorCodes.CONFIG_INVALID, `agents directory ${dir} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const agents: AgentDefinition[] = [];
  const ids = new Map<string, string>();
  const numbers = new Map<string, string>();
  for (const f of files) {
    const path = join(dir, f);
    let raw: unknown;
    try {
      raw = parseYaml(await readFile(path, 'utf8'));
    } catch (err) {
      const msg = err instanceof YAMLParseError ? err.message.split('\n')[0] : (err as Error).message;
      throw new SwitchboardError(ErrorCodes.AGENT_INVALID, `${path}: not valid YAML (${msg})`);
    }
    const agent = validateAgentDefinition(raw, path, env);
    const dupe = ids.get(agent.id);
    if (dupe) throw new SwitchboardError(ErrorCodes.AGENT_INVALID, `${path}: /id: agent id "${agent.id}" is already defined in ${basename(dupe)}`);
    ids.set(agent.id, path);
    for (const n of agent.phoneNumbers ?? []) {
      const other = numbers.get(n);
      if (other) throw new SwitchboardError(ErrorCodes.AGENT_INVALID, `${path}: /phoneNumbers: ${n} is already routed to agent "${other}"`);
      numbers.set(n, agent.id);
    }
    agents.push(agent);
  }
  return agents;
}

/** Lookup by id and by dialled number. */
export class AgentRegistry {
  private readonly byId = new Map<string, AgentDefinition>();
  private readonly byNumber = new Map<string, AgentDefinition>();

  constructor(agents: readonly AgentDefinition[]) {
    for (const a of agents) {
      this.byId.set(a.id, a);
      for (const n of a.phoneNumbers ?? []) this.byNumber.set(n, a);
    }
  }

  get(id: string): AgentDefinition | undefined {
    return this.byId.get(id);
  }

  forNumber(number: string): AgentDefinition | undefined {
    return this.byNumber.get(number.trim());
  }

  list(): AgentDefinition[] {
    return [...this.byId.values()];
  }
}
