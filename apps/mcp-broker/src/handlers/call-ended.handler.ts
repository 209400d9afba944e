import type { CallEnded } from '@switchboard/contracts';
import type { Broker } from '../mcp/broker.ts';

/** `evt.call.ended` (every instance): close the call's call-scoped connections, cancel its tools still running after the grace. */
export function callEndedHandler(broker: Broker): (evt: CallEnded) => void {
  return (evt) => broker.callEnded(evt.callId);
}
