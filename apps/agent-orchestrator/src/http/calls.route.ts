import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { ErrorCodes, SwitchboardError } from '@switchboard/contracts';
import type { CallStore } from '@switchboard/session-store';
import { SessionState } from '../session/session-state.ts';
import { summarizeTurns } from '../session/metrics.ts';
import { accountOf } from './auth.ts';

export interface CallRoutesDeps {
  store: CallStore;
  redis: Redis;
}

/**
 * `GET /v1/calls/:id`: a call of the caller's account as stored in Redis (live or within retention):
 * its record and state, transcript, tool calls, tools still running, per-turn metrics with p50/p95
 * (interrupted turns excluded) and the summary.
 */
export async function callRoutes(app: FastifyInstance, deps: CallRoutesDeps): Promise<void> {
  app.get<{ Params: { id: string } }>('/v1/calls/:id', async (req) => {
    const call = await deps.store.get(req.params.id);
    if (!call || call.accountId !== accountOf(req)) throw new SwitchboardError(ErrorCodes.CALL_NOT_FOUND, `no call ${req.params.id}`);
    const [transcript, session] = await Promise.all([deps.store.transcript(req.params.id), SessionState.read(deps.redis, req.params.id)]);
    return {
      ...call,
      turnState: session.turn,
      vad: session.vad,
      transcript,
      toolCalls: transcript.filter((t) => t.tool).map((t) => t.tool),
      pendingTools: session.pendingTools,
      metrics: { turns: session.turns, percentiles: summarizeTurns(session.turns) },
      ...(session.summary ? { summary: session.summary } : {}),
    };
  });
}
