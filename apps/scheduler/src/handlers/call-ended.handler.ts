import type { Subscription } from '@nats-io/nats-core';
import { contracts } from '@switchboard/contracts';
import type { Bus } from '@switchboard/bus';
import type { OutboundGate } from '../adapters/outbound-gate.ts';

/** `evt.call.ended`: a call a scheduled run placed frees its account's outbound slot. Every instance hears it; freeing twice is harmless. */
export function handleCallEnded(bus: Bus, gate: OutboundGate): Subscription {
  return bus.subscribe(contracts.callEnded, async (evt, ctx) => {
    if (await gate.callEnded(evt.callId)) ctx.log.debug({ callId: evt.callId }, 'outbound slot freed');
  }, { queue: false });
}
