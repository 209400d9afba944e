import type { WorkflowDefinition, WorkflowStep } from '@switchboard/contracts';

/** What one step produced: whether it worked and its text (what was said, heard or returned). */
export interface StepOutcome {
  ok: boolean;
  text: string;
}

/** How each kind of step is carried out; the engine itself does no I/O. */
export interface StepRunner {
  speak(text: string): Promise<StepOutcome>;
  listen(timeoutMs: number): Promise<StepOutcome>;
  tool(step: { server?: string; name: string; arguments: Record<string, unknown>; timeoutMs?: number }): Promise<StepOutcome>;
}

export interface StepRecord extends StepOutcome {
  id: string;
  type: 'speak' | 'listen' | 'tool' | 'branch';
}

export interface WorkflowRun {
  status: 'completed' | 'failed';
  steps: StepRecord[];
  /** Why a failed run stopped. */
  error?: string;
}

/** Steps one run may execute at most: a branch that loops back ends here instead of running forever. */
export const MAX_EXECUTED_STEPS = 200;

type Scope = Record<string, unknown>;

function lookup(scope: Scope, path: string): unknown {
  let v: unknown = scope;
  for (const part of path.split('.')) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

/** Fills `{{a.b.c}}` from the run's scope; objects become JSON, missing values empty. */
export function render(template: string, scope: Scope): string {
  return template.replace(/\{\{\s*([a-zA-Z_][a-zA-Z0-9_.-]*)\s*\}\}/g, (_m, path: string) => {
    const v = lookup(scope, path);
    if (v === undefined || v === null) return '';
    return typeof v === 'object' ? JSON.stringify(v) : String(v);
  });
}

function renderDeep(value: unknown, scope: Scope): unknown {
  if (typeof value === 'string') return render(value, scope);
  if (Array.isArray(value)) return value.map((v) => renderDeep(v, scope));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, renderDeep(v, scope)]));
  return value;
}

type BranchStep = Extract<WorkflowStep, { branch: unknown }>;

function pick(branch: BranchStep['branch'], value: string): string | undefined {
  const v = value.trim().toLowerCase();
  for (const c of branch.cases) {
    if (c.equals !== undefined && v !== c.equals.trim().toLowerCase()) continue;
    if (c.contains !== undefined && !v.includes(c.contains.toLowerCase())) continue;
    if (c.matches !== undefined && !new RegExp(c.matches, 'i').test(value)) continue;
    return c.goto;
  }
  return branch.default;
}

/**
 * Runs a workflow's steps in order (agtOS `workflow.run`): speak, listen, tool, branch. A branch
 * jumps to a step id or `end`; a failed step stops the run unless it has `continueOnError`. Every
 * string is rendered against `{input, steps, call, persona}` first.
 */
export async function runWorkflow(wf: WorkflowDefinition, input: Record<string, unknown>, runner: StepRunner, context: { call: { id?: string }; persona: { id: string } }): Promise<WorkflowRun> {
  const index = new Map(wf.steps.map((s, i) => [s.id, i]));
  const results: Record<string, StepOutcome> = {};
  const steps: StepRecord[] = [];
  const scope = (): Scope => ({ input, steps: results, call: context.call, persona: context.persona });
  let i = 0;
  while (i < wf.steps.length) {
    if (steps.length >= MAX_EXECUTED_STEPS) return { status: 'failed', steps, error: `stopped after ${MAX_EXECUTED_STEPS} steps (does a branch loop?)` };
    const step = wf.steps[i]!;
    let outcome: StepOutcome;
    let type: StepRecord['type'];
    let next = i + 1;
    try {
      if ('speak' in step) {
        type = 'speak';
        outcome = await runner.speak(render(step.speak, scope()));
      } else if ('listen' in step) {
        type = 'listen';
        outcome = await runner.listen(step.listen.timeoutMs);
      } else if ('tool' in step) {
        type = 'tool';
        const args = renderDeep(step.tool.arguments ?? {}, scope()) as Record<string, unknown>;
        outcome = await runner.tool({ ...(step.tool.server ? { server: step.tool.server } : {}), name: step.tool.name, arguments: args, ...(step.tool.timeoutMs ? { timeoutMs: step.tool.timeoutMs } : {}) });
      } else {
        type = 'branch';
        const value = render(step.branch.value, scope());
        const target = pick(step.branch, value);
        outcome = { ok: true, text: target ?? 'next' };
        if (target === 'end') next = wf.steps.length;
        else if (target !== undefined) next = index.get(target) ?? wf.steps.length;
      }
    } catch (err) {
      type = 'speak' in step ? 'speak' : 'listen' in step ? 'listen' : 'tool' in step ? 'tool' : 'branch';
      outcome = { ok: false, text: (err as Error).message };
    }
    results[step.id] = outcome;
    steps.push({ id: step.id, type, ...outcome });
    if (!outcome.ok && !step.continueOnError) return { status: 'failed', steps, error: `step ${step.id} failed: ${outcome.text}` };
    i = next;
  }
  return { status: 'completed', steps };
}
