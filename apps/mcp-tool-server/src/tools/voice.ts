import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { contracts, type ListenReply, type SpeakReply } from '@switchboard/contracts';
import { requireCall, type ToolContext, type ToolServices } from './context.ts';
import { ask, asResult, data } from './result.ts';

/** Say something on the call (agtOS `voice.speak`): the orchestrator running the call speaks it. */
export async function speakOnCall(svc: ToolServices, callId: string, textToSay: string, interrupt = false): Promise<SpeakReply> {
  return ask('agent-orchestrator', () => svc.bus.request(contracts.speak, { text: textToSay, ...(interrupt ? { interrupt } : {}) }, { param: callId, timeoutMs: 60000 }), `for call ${callId}`);
}

/** Wait for the caller's next utterance (agtOS `voice.listen`). */
export async function listenOnCall(svc: ToolServices, callId: string, timeoutMs: number): Promise<ListenReply> {
  return ask('agent-orchestrator', () => svc.bus.request(contracts.listen, { timeoutMs }, { param: callId, timeoutMs: timeoutMs + 3000 }), `for call ${callId}`);
}

const voiceSpeakInput = {
  text: z.string().min(1).max(4000).describe('What to say'),
  interrupt: z.boolean().optional().describe('Stop what the agent is saying first (default: queue after it)'),
};

const voiceSpeakOutput = { ok: z.boolean(), durationMs: z.number().optional().describe('Length of the synthesized audio') };

const voiceListenInput = { timeout_ms: z.number().int().min(100).max(120000).describe('How long to wait for the caller to say something') };

const voiceListenOutput = { text: z.string().optional().describe('What the caller said'), timedOut: z.boolean() };

/** agtOS voice tools on a live call, through the orchestrator that runs it. */
export function registerVoiceTools(server: McpServer, ctx: ToolContext, svc: ToolServices): void {
  server.registerTool(
    'voice.speak',
    {
      title: 'Speak',
      description: 'Says the text on the live call (the call_id header), in the agent voice. Resolves once it is synthesized and queued.',
      inputSchema: voiceSpeakInput,
      outputSchema: voiceSpeakOutput,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
    },
    ({ text, interrupt }) =>
      asResult(svc.log, 'voice.speak', async () => {
        const { callId } = await requireCall(ctx, svc.calls);
        const r = await speakOnCall(svc, callId, text, interrupt);
        return data(r.ok ? `Said it on call ${callId}${r.durationMs !== undefined ? ` (${(r.durationMs / 1000).toFixed(1)} s of audio)` : ''}` : `Could not say it on call ${callId}`, { ok: r.ok, ...(r.durationMs !== undefined ? { durationMs: r.durationMs } : {}) });
      }),
  );

  server.registerTool(
    'voice.listen',
    {
      title: 'Listen',
      description: "Waits for the caller's next utterance on the live call (the call_id header) and returns its transcript.",
      inputSchema: voiceListenInput,
      outputSchema: voiceListenOutput,
      // Not read-only: it consumes the utterance, so a blind retry could lose what the caller said.
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
    },
    ({ timeout_ms }) =>
      asResult(svc.log, 'voice.listen', async () => {
        const { callId } = await requireCall(ctx, svc.calls);
        const r = await listenOnCall(svc, callId, timeout_ms);
        if (r.timedOut || r.text === undefined) return data(`The caller said nothing within ${timeout_ms} ms`, { timedOut: true });
        return data(r.text, { text: r.text, timedOut: false });
      }),
  );
}
