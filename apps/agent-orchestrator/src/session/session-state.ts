import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { AgentDefinition, CallStarted, TurnMetrics } from '@switchboard/contracts';
import type { ChatMessage } from '@switchboard/providers';

const sessionKey = (callId: string) => `sb:session:${callId}`;
const toolsKey = (callId: string) => `sb:session:${callId}:tools`;
const turnsKey = (callId: string) => `sb:session:${callId}:turns`;
/** Recent turn figures of an agent, newest first, for its p50/p95. */
const agentTurnsKey = (agentId: string) => `sb:agent:${agentId}:turns`;
/** How many recent turns per agent the percentiles cover. */
export const AGENT_TURNS_KEPT = 1000;
/** Live sessions expire after this as a safety net (an orchestrator that died mid-call). */
const LIVE_TTL_S = 6 * 3600;

/** Where the conversation stands, for monitors and for another instance to continue the call. */
export interface TurnState {
  state: 'greeting' | 'listening' | 'thinking' | 'tool' | 'speaking' | 'ended';
  /** Caller turns so far. */
  turn: number;
  updatedAt: string;
}

export interface PendingTool {
  invocationId: string;
  server: string;
  name: string;
  arguments: unknown;
  startedAt: string;
}

/** Everything stored about a session. */
export interface SessionSnapshot {
  agent?: AgentDefinition;
  started?: CallStarted;
  messages?: ChatMessage[];
  turn?: TurnState;
  summary?: string;
  vad?: string;
  pendingTools: PendingTool[];
  turns: TurnMetrics[];
}

/**
 * A call's session state in Redis, written as the call progresses: the agent snapshot the call runs
 * on, the model history, the turn state, tool calls in flight and per-turn metrics. Writes are queued
 * in order and never block the audio path; a failed write is logged, the call goes on.
 */
export class SessionState {
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly redis: Redis,
    readonly callId: string,
    private readonly log: Logger,
  ) {}

  private write(what: string, op: (r: Redis) => Promise<unknown>): void {
    this.chain = this.chain.then(() => op(this.redis)).catch((err: unknown) => this.log.warn({ err: (err as Error).message, what }, 'session state write failed'));
  }

  /** Resolves when every queued write has been tried. */
  flush(): Promise<unknown> {
    return this.chain;
  }

  init(agent: AgentDefinition, started: CallStarted, vad: string): void {
    this.write('init', (r) =>
      r
        .multi()
        .del(sessionKey(this.callId), toolsKey(this.callId), turnsKey(this.callId))
        .hset(sessionKey(this.callId), { agent: JSON.stringify(agent), started: JSON.stringify(started), vad })
        .expire(sessionKey(this.callId), LIVE_TTL_S)
        .exec(),
    );
  }

  messages(messages: readonly ChatMessage[]): void {
    const json = JSON.stringify(messages);
    this.write('messages', (r) => r.hset(sessionKey(this.callId), 'messages', json));
  }

  turn(state: TurnState['state'], turn: number): void {
    const json = JSON.stringify({ state, turn, updatedAt: new Date().toISOString() } satisfies TurnState);
    this.write('turn', (r) => r.hset(sessionKey(this.callId), 'turn', json));
  }

  toolStarted(t: PendingTool): void {
    this.write('tool', (r) => r.multi().hset(toolsKey(this.callId), t.invocationId, JSON.stringify(t)).expire(toolsKey(this.callId), LIVE_TTL_S).exec());
  }

  toolDone(invocationId: string): void {
    this.write('tool', (r) => r.hdel(toolsKey(this.callId), invocationId));
  }

  turnMetrics(agentId: string, m: TurnMetrics): void {
    const json = JSON.stringify(m);
    this.write('metrics', (r) =>
      r
        .multi()
        .rpush(turnsKey(this.callId), json)
        .expire(turnsKey(this.callId), LIVE_TTL_S)
        .lpush(agentTurnsKey(agentId), json)
        .ltrim(agentTurnsKey(agentId), 0, AGENT_TURNS_KEPT - 1)
        .exec(),
    );
  }

  summary(text: string): void {
    this.write('summary', (r) => r.hset(sessionKey(this.callId), 'summary', text));
  }

  /** The call ended: keep everything for `retentionS`. */
  end(retentionS: number): void {
    this.write('end', (r) =>
      r
        .multi()
        .hset(sessionKey(this.callId), 'turn', JSON.stringify({ state: 'ended', turn: -1, updatedAt: new Date().toISOString() }))
        .expire(sessionKey(this.callId), retentionS)
        .expire(toolsKey(this.callId), retentionS)
        .expire(turnsKey(this.callId), retentionS)
        .exec(),
    );
  }

  /** Reads a session back (GET /v1/calls/:id, another instance taking over). */
  static async read(redis: Redis, callId: string): Promise<SessionSnapshot> {
    const [[, hash], [, tools], [, turns]] = (await redis.multi().hgetall(sessionKey(callId)).hgetall(toolsKey(callId)).lrange(turnsKey(callId), 0, -1).exec()) as [
      [unknown, Record<string, string>],
      [unknown, Record<string, string>],
      [unknown, string[]],
    ];
    const parse = <T>(s: string | undefined): T | undefined => (s ? (JSON.parse(s) as T) : undefined);
    const snap: SessionSnapshot = { pendingTools: Object.values(tools ?? {}).map((s) => JSON.parse(s) as PendingTool), turns: (turns ?? []).map((s) => JSON.parse(s) as TurnMetrics) };
    const agent = parse<AgentDefinition>(hash?.agent);
    if (agent) snap.agent = agent;
    const started = parse<CallStarted>(hash?.started);
    if (started) snap.started = started;
    const messages = parse<ChatMessage[]>(hash?.messages);
    if (messages) snap.messages = messages;
    const turn = parse<TurnState>(hash?.turn);
    if (turn) snap.turn = turn;
    if (hash?.summary) snap.summary = hash.summary;
    if (hash?.vad) snap.vad = hash.vad;
    return snap;
  }

  /** The recent turn figures of an agent, newest first. */
  static async agentTurns(redis: Redis, agentId: string): Promise<TurnMetrics[]> {
    return (await redis.lrange(agentTurnsKey(agentId), 0, AGENT_TURNS_KEPT - 1)).map((s) => JSON.parse(s) as TurnMetrics);
  }
}
