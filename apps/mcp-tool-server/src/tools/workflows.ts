import { randomBytes } from 'node:crypto';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { Ajv, type ValidateFunction } from 'ajv';
import { z } from 'zod';
import { contracts, ErrorCodes, normalizeMcpServers, SwitchboardError, type WorkflowDefinition } from '@switchboard/contracts';
import { requireCall, type ToolContext, type ToolServices } from './context.ts';
import { ask, asResult, data } from './result.ts';
import { listenOnCall, speakOnCall } from './voice.ts';
import { runWorkflow, type StepOutcome, type StepRunner } from './workflow-engine.ts';

const ajv = new Ajv({ allErrors: true, strict: false });
const inputValidators = new WeakMap<WorkflowDefinition, ValidateFunction>();

function validatorOf(wf: WorkflowDefinition): ValidateFunction | undefined {
  if (!wf.input) return undefined;
  let v = inputValidators.get(wf);
  if (!v) {
    v = ajv.compile(wf.input);
    inputValidators.set(wf, v);
  }
  return v;
}

const resultText = (r: CallToolResult) => r.content.map((c) => (c.type === 'text' ? c.text : `[${c.type}]`)).join('\n');

/**
 * Steps of a run: speak and listen on the request's call, Switchboard's own tools in-process (a
 * second server for the same key and context, over an in-memory MCP connection, so scopes and input
 * validation apply), other MCP servers of the persona through the broker.
 */
function runnerFor(ctx: ToolContext, svc: ToolServices, localServer: () => McpServer, runId: string): { runner: StepRunner; close: () => Promise<void> } {
  let local: Promise<Client> | undefined;
  const connectLocal = async () => {
    const server = localServer();
    const [a, b] = InMemoryTransport.createLinkedPair();
    await server.connect(a);
    const client = new Client({ name: 'switchboard-workflow', version: '0.1.0' });
    await client.connect(b);
    return client;
  };
  const runner: StepRunner = {
    speak: async (t) => {
      const { callId } = await requireCall(ctx, svc.calls);
      const r = await speakOnCall(svc, callId, t);
      return { ok: r.ok, text: t };
    },
    listen: async (ms) => {
      const { callId } = await requireCall(ctx, svc.calls);
      const r = await listenOnCall(svc, callId, ms);
      return { ok: true, text: r.text ?? '' };
    },
    tool: async (step): Promise<StepOutcome> => {
      if (!step.server) {
        if (step.name.startsWith('workflow.')) return { ok: false, text: 'A workflow step cannot run workflow tools' };
        local ??= connectLocal();
        const r = (await (await local).callTool({ name: step.name, arguments: step.arguments }, undefined, step.timeoutMs ? { timeout: step.timeoutMs } : undefined)) as CallToolResult;
        return { ok: r.isError !== true, text: resultText(r) };
      }
      const server = normalizeMcpServers(ctx.persona.mcpServers ?? []).find((s) => s.name === step.server);
      if (!server) return { ok: false, text: `Persona ${ctx.personaId} has no MCP server named ${step.server}` };
      const reply = await ask('mcp-broker', () =>
        svc.bus.request(
          contracts.callTool,
          {
            context: { callId: ctx.callId ?? `workflow-${runId}`, agentId: ctx.personaId, accountId: ctx.accountId },
            server,
            tool: step.name,
            arguments: step.arguments,
            invocationId: `${runId}-${step.name}-${randomBytes(3).toString('hex')}`,
            ...(step.timeoutMs ? { timeoutMs: step.timeoutMs } : {}),
          },
          { timeoutMs: (step.timeoutMs ?? 10000) + 2000 },
        ),
      );
      return { ok: !reply.isError, text: reply.text };
    },
  };
  return { runner, close: async () => void (local ? await (await local).close() : undefined) };
}

const stepOutput = z.object({ id: z.string(), type: z.enum(['speak', 'listen', 'tool', 'branch']), ok: z.boolean(), text: z.string() });

const workflowListOutput = {
  workflows: z.array(z.object({ name: z.string(), description: z.string().optional(), steps: z.number().int(), input: z.record(z.unknown()).optional() })),
};

const workflowRunInput = { name: z.string().min(1).max(64), input: z.record(z.unknown()).optional().describe("The workflow's input (see its input schema)") };

const workflowRunOutput = { workflow: z.string(), status: z.enum(['completed', 'failed']), steps: z.array(stepOutput), error: z.string().optional() };

/** agtOS `workflow.list` and `workflow.run`: named, ordered steps from the workflow files. */
export function registerWorkflowTools(server: McpServer, ctx: ToolContext, svc: ToolServices, localServer: () => McpServer): void {
  server.registerTool(
    'workflow.list',
    {
      title: 'List workflows',
      description: 'The named workflows this account can run, with what each does and the input it takes.',
      inputSchema: {},
      outputSchema: workflowListOutput,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    () =>
      asResult(svc.log, 'workflow.list', async () => {
        const workflows = svc.workflows.forAccount(ctx.accountId).map((w) => ({ name: w.name, ...(w.description ? { description: w.description } : {}), steps: w.steps.length, ...(w.input ? { input: w.input } : {}) }));
        return data(workflows.length ? workflows.map((w) => `${w.name}: ${w.description ?? ''} (${w.steps} steps)`).join('\n') : 'No workflows', { workflows });
      }),
  );

  server.registerTool(
    'workflow.run',
    {
      title: 'Run a workflow',
      description: 'Runs a named workflow (see workflow.list) to the end: speak, listen, call tools and branch on results. Speak and listen steps need the call_id header.',
      inputSchema: workflowRunInput,
      outputSchema: workflowRunOutput,
      // Its steps may call any tool, hang-ups and transfers included.
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true },
    },
    ({ name, input }, extra) =>
      asResult(svc.log, 'workflow.run', async () => {
        const wf = svc.workflows.get(ctx.accountId, name);
        if (!wf) throw new SwitchboardError(ErrorCodes.REQUEST_INVALID, `No workflow ${name} in this account (see workflow.list)`);
        const validate = validatorOf(wf);
        if (validate && !validate(input ?? {})) {
          const problems = (validate.errors ?? []).map((e) => `${e.instancePath || 'input'} ${e.message ?? 'is invalid'}`);
          throw new SwitchboardError(ErrorCodes.TOOL_INVALID_ARGUMENTS, `Invalid input for workflow ${name}: ${problems.join('; ')}`);
        }
        const runId = randomBytes(6).toString('hex');
        const { runner, close } = runnerFor(ctx, svc, localServer, runId);
        try {
          if (extra.signal.aborted) throw new SwitchboardError(ErrorCodes.TOOL_CANCELLED, 'The workflow run was cancelled');
          const run = await runWorkflow(wf, input ?? {}, runner, { call: { ...(ctx.callId ? { id: ctx.callId } : {}) }, persona: { id: ctx.personaId } });
          const lines = run.steps.map((s) => `${s.id} (${s.type}) ${s.ok ? 'ok' : 'FAILED'}: ${s.text}`);
          const structured = { workflow: name, status: run.status, steps: run.steps, ...(run.error ? { error: run.error } : {}) };
          const head = run.status === 'completed' ? `Workflow ${name} completed` : `Workflow ${name} failed: ${run.error}`;
          return { ...data(`${head}\n${lines.join('\n')}`, structured), ...(run.status === 'failed' ? { isError: true } : {}) };
        } finally {
          await close();
        }
      }),
  );
}
