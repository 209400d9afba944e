import { describe, expect, it } from 'vitest';
import type { WorkflowDefinition } from '@switchboard/contracts';
import { MAX_EXECUTED_STEPS, render, runWorkflow, type StepRunner } from './workflow-engine.ts';

/** A runner that records what it was asked and answers listen from a script. */
function scripted(heard: string[], toolResults: Record<string, { ok: boolean; text: string }> = {}) {
  const log: string[] = [];
  const runner: StepRunner = {
    speak: async (t) => (log.push(`speak:${t}`), { ok: true, text: t }),
    listen: async (ms) => {
      log.push(`listen:${ms}`);
      const next = heard.shift();
      return next === undefined ? { ok: true, text: '' } : { ok: true, text: next };
    },
    tool: async (s) => (log.push(`tool:${s.server ?? 'local'}/${s.name}:${JSON.stringify(s.arguments)}`), toolResults[s.name] ?? { ok: true, text: 'done' }),
  };
  return { runner, log };
}

const qualify: WorkflowDefinition = {
  name: 'qualify',
  steps: [
    { id: 'ask', speak: 'Are you calling about {{input.topic}}?' },
    { id: 'answer', listen: { timeoutMs: 5000 } },
    { id: 'route', branch: { value: '{{steps.answer.text}}', cases: [{ contains: 'yes', goto: 'lead' }, { matches: '^no\\b', goto: 'bye' }], default: 'ask' } },
    { id: 'lead', tool: { name: 'create_lead', arguments: { name: 'Caller', intent: '{{input.topic}}', notes: 'said: {{steps.answer.text}}' } } },
    { id: 'bye', speak: 'Goodbye from {{persona.id}} on {{call.id}}.' },
  ],
};

const ctx = { call: { id: 'call_1' }, persona: { id: 'demo' } };

describe('runWorkflow', () => {
  it('runs steps in order and branches on what was heard', async () => {
    const { runner, log } = scripted(['Yes, that is right']);
    const run = await runWorkflow(qualify, { topic: 'returns' }, runner, ctx);
    expect(run.status).toBe('completed');
    expect(log).toEqual([
      'speak:Are you calling about returns?',
      'listen:5000',
      'tool:local/create_lead:{"name":"Caller","intent":"returns","notes":"said: Yes, that is right"}',
      'speak:Goodbye from demo on call_1.',
    ]);
    expect(run.steps.map((s) => `${s.id}:${s.type}:${s.ok}`)).toEqual(['ask:speak:true', 'answer:listen:true', 'route:branch:true', 'lead:tool:true', 'bye:speak:true']);
  });

  it('jumps over steps on a matching case', async () => {
    const { runner, log } = scripted(['no thanks']);
    const run = await runWorkflow(qualify, { topic: 'x' }, runner, ctx);
    expect(run.status).toBe('completed');
    expect(log.filter((l) => l.startsWith('tool:'))).toEqual([]);
    expect(run.steps.find((s) => s.id === 'route')?.text).toBe('bye');
  });

  it('loops back by default and is stopped by the step bound', async () => {
    const { runner } = scripted([]);
    const run = await runWorkflow(qualify, { topic: 'x' }, runner, ctx);
    expect(run.status).toBe('failed');
    expect(run.error).toMatch(/stopped after 200 steps/);
    expect(run.steps).toHaveLength(MAX_EXECUTED_STEPS);
  });

  it('stops at a failed step unless it continues on error', async () => {
    const wf: WorkflowDefinition = {
      name: 'f',
      steps: [
        { id: 'a', tool: { name: 'lookup_contact', arguments: {} }, continueOnError: true },
        { id: 'b', branch: { value: '{{steps.a.ok}}', cases: [{ equals: 'false', goto: 'c' }], default: 'end' } },
        { id: 'c', tool: { name: 'create_lead', arguments: {} } },
        { id: 'd', speak: 'never' },
      ],
    };
    const { runner, log } = scripted([], { lookup_contact: { ok: false, text: 'bad number' }, create_lead: { ok: false, text: 'nope' } });
    const run = await runWorkflow(wf, {}, runner, ctx);
    expect(run).toMatchObject({ status: 'failed', error: 'step c failed: nope' });
    expect(log).toHaveLength(2);
  });

  it('turns a thrown step into a failed step', async () => {
    const runner: StepRunner = { speak: () => Promise.reject(new Error('The agent orchestrator is not reachable')), listen: () => Promise.reject(new Error('x')), tool: () => Promise.reject(new Error('x')) };
    const run = await runWorkflow({ name: 'x', steps: [{ id: 's', speak: 'hi' }] }, {}, runner, ctx);
    expect(run).toEqual({ status: 'failed', steps: [{ id: 's', type: 'speak', ok: false, text: 'The agent orchestrator is not reachable' }], error: 'step s failed: The agent orchestrator is not reachable' });
  });
});

describe('render', () => {
  it.each([
    ['{{input.a}}-{{ input.b }}', { input: { a: 1, b: 'x' } }, '1-x'],
    ['{{missing.path}}', {}, ''],
    ['{{input.obj}}', { input: { obj: { k: 1 } } }, '{"k":1}'],
    ['{{steps.s-1.text}}', { steps: { 's-1': { text: 'hi' } } }, 'hi'],
  ])('%s', (t, scope, out) => {
    expect(render(t, scope)).toBe(out);
  });
});
