import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { contracts, SwitchboardError, type CallStarted } from '@switchboard/contracts';
import type { Bus } from '@switchboard/bus';
import { CallLeg, type CarrierSink } from './call-leg.ts';
import type { CallEvents } from './call-events.ts';
import type { Pacer } from './pacer.ts';
import { CallRecorder } from './recorder.ts';
import type { RawOutbox } from './outbox.ts';

/** What every carrier needs to bring a call's media up inside the gateway. */
export interface LegContext {
  bus: Bus;
  pacer: Pacer;
  /** Live legs of this instance, by call id. */
  legs: Map<string, CallLeg>;
  events: CallEvents;
  /** OUTBOUND_LEAD_MS */
  leadMs: number;
  /** RECORDINGS_DIR; unset: no recording. */
  recordingsDir?: string | undefined;
  /** Batches caller-audio publishes (one per process). */
  outbox?: RawOutbox;
}

/** Asks an orchestrator to claim the call, retrying briefly while none answers. */
export async function claim(bus: Bus, started: CallStarted, log: Logger): Promise<boolean> {
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      const r = await bus.request(contracts.startSession, started, { callId: started.callId, timeoutMs: 3000 });
      log.info({ orchestrator: r.instanceId }, 'call claimed');
      return true;
    } catch (err) {
      const retryable = err instanceof SwitchboardError && err.retryable;
      log.warn({ attempt, code: (err as SwitchboardError).code }, 'no orchestrator claimed the call');
      if (!retryable) return false;
      await new Promise((r) => setTimeout(r, 200 * attempt));
    }
  }
  return false;
}

/**
 * Brings a carrier connection's call up, the same way for every carrier: the leg subscribes its
 * subjects, `evt.call.started` and `evt.call.answered` go out durably, and an orchestrator is asked
 * to claim the call; if none will, the call ends with reason `error`.
 */
export function openLeg(ctx: LegContext, started: CallStarted, sink: CarrierSink, log: Logger): CallLeg {
  const recorder = ctx.recordingsDir ? new CallRecorder(ctx.recordingsDir, started.callId, performance.now()) : undefined;
  const leg = new CallLeg(started, ctx.bus, sink, ctx.pacer, log, ctx.leadMs, (l) => ctx.legs.delete(l.callId), { events: ctx.events, ...(recorder ? { recorder } : {}), ...(ctx.outbox ? { outbox: ctx.outbox } : {}) });
  ctx.legs.set(started.callId, leg);
  leg.attach();
  void ctx.events.started(started);
  void ctx.events.answered({
    callId: started.callId,
    accountId: started.accountId,
    agentId: started.agentId,
    carrier: started.carrier,
    direction: started.direction,
    answeredAt: started.startedAt,
    ...(started.carrierCallId ? { carrierCallId: started.carrierCallId } : {}),
  });
  void claim(ctx.bus, started, log).then((ok) => {
    if (!ok) leg.end('error');
  });
  return leg;
}
