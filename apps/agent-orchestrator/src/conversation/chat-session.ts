import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { ErrorCodes, SwitchboardError, type AgentDefinition, type CallStarted, type ChatReply, type ChatRequest } from '@switchboard/contracts';
import type { Bus } from '@switchboard/bus';
import type { AccountStore } from '@switchboard/session-store';
import type { ChatMessage, LanguageModel } from '@switchboard/providers';
import type { WebhookOptions } from '../adapters/webhook-tool.ts';
import { renderPrompt } from '../agents/prompt.ts';
import { FALLBACK_LINE, LIMIT_LINE } from './lines.ts';
import { runAgentLoop } from './agent-loop.ts';
import { ToolSet } from './tool-set.ts';

const chatKey = (agentId: string, sessionId: string) => `sb:chat:${agentId}:${sessionId}`;

/** A chat conversation as stored between messages. */
interface StoredChat {
  messages: ChatMessage[];
  started: CallStarted;
  ended: boolean;
}

export interface ChatDeps {
  bus: Bus;
  redis: Redis;
  log: Logger;
  accounts: AccountStore;
  llmFor: (agent: AgentDefinition) => LanguageModel;
  discoveryBudgetMs: number;
  fillerAfterMs: number;
  webhook: WebhookOptions;
  ttlS: number;
}

/** Requests of one session run one at a time in this process (a second waits for the first). */
const locks = new Map<string, Promise<unknown>>();

/**
 * The text test channel (the Plati seed's test chat): one user message in, the agent's reply and the
 * tool calls it made out, with the same prompt rendering, tools (webhook, the broker's MCP tools for a
 * synthetic call context `chat_<sessionId>`, call control) and model loop as a phone call. Hang-up and
 * transfer are simulated: they end the chat session. Sessions live in Redis for CHAT_SESSION_TTL_S.
 */
export async function chatTurn(agent: AgentDefinition, req: ChatRequest, deps: ChatDeps): Promise<ChatReply> {
  const key = chatKey(agent.id, req.sessionId);
  const previous = locks.get(key) ?? Promise.resolve();
  const run = previous.catch(() => undefined).then(() => chatTurnLocked(agent, req, deps, key));
  locks.set(key, run);
  try {
    return await run;
  } finally {
    if (locks.get(key) === run) locks.delete(key);
  }
}

async function chatTurnLocked(agent: AgentDefinition, req: ChatRequest, deps: ChatDeps, key: string): Promise<ChatReply> {
  const { redis, log } = deps;
  const raw = await redis.get(key);
  let stored: StoredChat;
  let greeting: string | undefined;
  const callId = `chat_${req.sessionId}`;
  const settings = await deps.accounts.get(agent.accountId ?? 'default');
  if (raw) {
    stored = JSON.parse(raw) as StoredChat;
    if (stored.ended) throw new SwitchboardError(ErrorCodes.REQUEST_INVALID, `chat session ${req.sessionId} has ended; start another sessionId`);
  } else {
    const started: CallStarted = {
      callId,
      accountId: agent.accountId ?? 'default',
      agentId: agent.id,
      direction: 'inbound',
      carrier: 'sip',
      from: 'chat',
      to: agent.phoneNumbers?.[0] ?? 'chat',
      startedAt: new Date().toISOString(),
      ...(req.variables ? { variables: req.variables } : {}),
    };
    stored = { messages: [], started, ended: false };
    if (agent.firstMessage) greeting = renderPrompt(agent.firstMessage, started, { timeZone: settings.timeZone, defaults: agent.variables });
  }
  const chatLog = log.child({ chat_session: req.sessionId, agent_id: agent.id });
  let ended = false;
  const tools = new ToolSet({
    bus: deps.bus,
    log: chatLog,
    agent,
    context: { callId, agentId: agent.id, accountId: stored.started.accountId, from: stored.started.from, to: stored.started.to },
    discoveryBudgetMs: deps.discoveryBudgetMs,
    fillerAfterMs: deps.fillerAfterMs,
    webhook: deps.webhook,
    simulateCallControl: true,
    control: {
      hangup: async () => {
        ended = true;
        return 'Call ended';
      },
      transfer: async (destination) => {
        ended = true;
        return `Call transferred to ${destination}`;
      },
    },
  });
  await tools.discover();
  tools.close();
  const system = renderPrompt(agent.systemPrompt, stored.started, { timeZone: settings.timeZone, defaults: agent.variables, toolNames: tools.names() });
  if (stored.messages.length === 0) {
    stored.messages.push({ role: 'system', content: system });
    if (greeting) stored.messages.push({ role: 'assistant', content: greeting });
  } else {
    stored.messages[0] = { role: 'system', content: system };
  }
  stored.messages.push({ role: 'user', content: req.text });
  await tools.beginTurn(stored.messages.filter((m) => m.role === 'user' || m.role === 'assistant').map((m) => (typeof m.content === 'string' ? m.content : '')));

  const result = await runAgentLoop({
    llm: deps.llmFor(agent),
    messages: stored.messages,
    tools,
    maxIterations: agent.maxToolIterations ?? 10,
    signal: new AbortController().signal,
    invocationId: (c) => `${callId}:${c.id}`,
    hooks: {},
    log: chatLog,
  });
  let reply = result.text.trim();
  if (result.failed) {
    reply = [reply, FALLBACK_LINE].filter(Boolean).join(' ');
    stored.messages.push({ role: 'assistant', content: FALLBACK_LINE });
  } else if (result.hitLimit) {
    reply = [reply, LIMIT_LINE].filter(Boolean).join(' ');
    stored.messages.push({ role: 'assistant', content: LIMIT_LINE });
  }
  stored.ended = ended || result.endsCall;
  await redis.set(key, JSON.stringify(stored), 'EX', deps.ttlS);
  return {
    sessionId: req.sessionId,
    reply,
    toolCalls: result.outcomes.map((o) => ({ server: o.server, name: o.name, arguments: o.arguments, result: o.text, isError: o.isError, latencyMs: o.latencyMs })),
    ...(greeting ? { greeting } : {}),
    ...(stored.ended ? { ended: true } : {}),
  };
}
