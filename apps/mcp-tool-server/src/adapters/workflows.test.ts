import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { loadWorkflows, WorkflowRegistry } from './workflows.ts';

const dirs: string[] = [];
function dirWith(files: Record<string, string>): string {
  const d = mkdtempSync(join(tmpdir(), 'sb-workflows-'));
  dirs.push(d);
  for (const [name, body] of Object.entries(files)) writeFileSync(join(d, name), body);
  return d;
}

afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('loadWorkflows', () => {
  it('loads the example workflows of config/workflows', async () => {
    const wfs = await loadWorkflows(fileURLToPath(new URL('../../../../config/workflows', import.meta.url)));
    expect(wfs.map((w) => w.name)).toContain('take-message');
  });

  it('treats a missing directory as no workflows', async () => {
    expect(await loadWorkflows('/nonexistent/sb-workflows')).toEqual([]);
  });

  it.each([
    ['not YAML', 'name: [', /not valid YAML/],
    ['no steps', 'name: x\nsteps: []', /\/steps: must NOT have fewer than 1 items/],
    ['a step of no known kind', 'name: x\nsteps: [{ id: a, dance: yes }]', /\/steps\/0/],
    ['a duplicate step id', 'name: x\nsteps: [{ id: a, speak: hi }, { id: a, speak: ho }]', /duplicate step id "a"/],
    ['a jump to no step', 'name: x\nsteps: [{ id: a, branch: { value: "", cases: [{ equals: "", goto: nowhere }] } }]', /goto "nowhere" names no step/],
    ['a bad regular expression', 'name: x\nsteps: [{ id: a, branch: { value: "", cases: [{ matches: "(", goto: end }] } }]', /not a valid regular expression/],
    ['an input schema that does not compile', 'name: x\ninput: { type: 12 }\nsteps: [{ id: a, speak: hi }]', /\/input: not a valid JSON Schema/],
  ])('refuses %s, naming the file', async (_n, body, message) => {
    const d = dirWith({ 'bad.yaml': body });
    await expect(loadWorkflows(d)).rejects.toThrow(new RegExp(`${join(d, 'bad.yaml').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: .*${message.source}`));
  });

  it('refuses the same name twice in one scope, allows it in two', async () => {
    await expect(loadWorkflows(dirWith({ 'a.yaml': 'name: x\nsteps: [{ id: a, speak: hi }]', 'b.yaml': 'name: x\nsteps: [{ id: a, speak: hi }]' }))).rejects.toThrow(/workflow "x" is already defined/);
    expect(await loadWorkflows(dirWith({ 'a.yaml': 'name: x\nsteps: [{ id: a, speak: hi }]', 'b.yaml': 'name: x\naccountId: acme\nsteps: [{ id: a, speak: hi }]' }))).toHaveLength(2);
  });
});

describe('WorkflowRegistry', () => {
  it("gives an account its own and the shared workflows, its own winning a name clash, never another's", () => {
    const step = [{ id: 'a', speak: 'hi' }] as const;
    const reg = new WorkflowRegistry([
      { name: 'shared', steps: [...step] },
      { name: 'clash', description: 'shared one', steps: [...step] },
      { name: 'clash', description: 'acme one', accountId: 'acme', steps: [...step] },
      { name: 'theirs', accountId: 'other', steps: [...step] },
    ]);
    expect(reg.forAccount('acme').map((w) => `${w.name}:${w.description ?? ''}`)).toEqual(['clash:acme one', 'shared:']);
    expect(reg.get('acme', 'theirs')).toBeUndefined();
    expect(reg.get('other', 'theirs')?.name).toBe('theirs');
  });
});
