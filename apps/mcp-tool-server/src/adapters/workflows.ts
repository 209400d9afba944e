import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { Ajv } from 'ajv';
import { ErrorCodes, SwitchboardError, workflowDefinitionSchema, type WorkflowDefinition } from '@switchboard/contracts';

const ajv = new Ajv({ allErrors: true, strict: false });
const validate = ajv.compile(workflowDefinitionSchema as object);

/** Rules the schema cannot say: unique step ids, jumps to steps that exist, an input schema that compiles. */
function crossCheck(wf: WorkflowDefinition): string[] {
  const problems: string[] = [];
  const ids = new Set<string>();
  wf.steps.forEach((s, i) => {
    if (ids.has(s.id)) problems.push(`/steps/${i}/id: duplicate step id "${s.id}"`);
    ids.add(s.id);
  });
  wf.steps.forEach((s, i) => {
    if (!('branch' in s)) return;
    const targets = [...s.branch.cases.map((c) => c.goto), ...(s.branch.default ? [s.branch.default] : [])];
    for (const t of targets) if (t !== 'end' && !ids.has(t)) problems.push(`/steps/${i}/branch: goto "${t}" names no step`);
    s.branch.cases.forEach((c, j) => {
      if (c.matches === undefined) return;
      try {
        new RegExp(c.matches, 'i');
      } catch {
        problems.push(`/steps/${i}/branch/cases/${j}/matches: not a valid regular expression`);
      }
    });
  });
  if (wf.input) {
    try {
      ajv.compile(wf.input);
    } catch (err) {
      problems.push(`/input: not a valid JSON Schema (${(err as Error).message})`);
    }
  }
  return problems;
}

/**
 * Loads every `*.yaml`/`*.yml` of `dir` as a workflow definition. A missing directory means no
 * workflows; a bad file stops the load with the file, the field and the reason.
 */
export async function loadWorkflows(dir: string): Promise<WorkflowDefinition[]> {
  let files: string[];
  try {
    files = (await readdir(dir)).filter((f) => /\.ya?ml$/.test(f)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new SwitchboardError(ErrorCodes.CONFIG_INVALID, `workflows directory ${dir} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const out: WorkflowDefinition[] = [];
  const seen = new Map<string, string>();
  for (const f of files) {
    const path = join(dir, f);
    let raw: unknown;
    try {
      raw = parseYaml(await readFile(path, 'utf8'));
    } catch (err) {
      throw new SwitchboardError(ErrorCodes.CONFIG_INVALID, `${path}: not valid YAML (${(err as Error).message.split('\n')[0]})`);
    }
    if (!validate(raw)) {
      const problems = (validate.errors ?? []).filter((e) => e.keyword !== 'oneOf').map((e) => `${e.instancePath || '/'}: ${e.message ?? 'is invalid'}`);
      throw new SwitchboardError(ErrorCodes.CONFIG_INVALID, `${path}: ${[...new Set(problems)].join('; ')}`);
    }
    const wf = raw as WorkflowDefinition;
    const problems = crossCheck(wf);
    if (problems.length) throw new SwitchboardError(ErrorCodes.CONFIG_INVALID, `${path}: ${problems.join('; ')}`);
    const scope = `${wf.accountId ?? '*'}/${wf.name}`;
    if (seen.has(scope)) throw new SwitchboardError(ErrorCodes.CONFIG_INVALID, `${path}: workflow "${wf.name}" is already defined in ${seen.get(scope)}`);
    seen.set(scope, path);
    out.push(wf);
  }
  return out;
}

/** Workflows by account: an account sees its own and the shared ones (no `accountId`); its own win on a name clash. */
export class WorkflowRegistry {
  constructor(private readonly all: readonly WorkflowDefinition[]) {}

  forAccount(accountId: string): WorkflowDefinition[] {
    const own = this.all.filter((w) => w.accountId === accountId);
    const names = new Set(own.map((w) => w.name));
    return [...own, ...this.all.filter((w) => w.accountId === undefined && !names.has(w.name))].sort((a, b) => a.name.localeCompare(b.name));
  }

  get(accountId: string, name: string): WorkflowDefinition | undefined {
    return this.forAccount(accountId).find((w) => w.name === name);
  }
}
