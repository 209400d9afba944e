import type { DialRecord } from '../calls/call-state.ts';
import type { OutboundCarrier, PlacedCall } from '../handlers/dial.handler.ts';
import type { TwilioRest } from './twilio-rest.ts';

/** The query parameter that names the Switchboard call on webhooks of calls the gateway dialled. */
export const CALL_ID_PARAM = 'callId';

/**
 * Places a dialled call through Twilio: `calls.create` with the voice webhook URL carrying the call's
 * id (the stream token is minted only when the callee answers, so its short lifetime covers the
 * media set-up, not the ringing) and status callbacks for every progress event.
 */
export class TwilioOutbound implements OutboundCarrier {
  constructor(
    private readonly rest: TwilioRest,
    private readonly publicUrl: string,
    private readonly ringTimeoutS: number,
  ) {}

  async dial(record: DialRecord, opts: { maxDurationSec?: number }): Promise<PlacedCall> {
    const url = new URL('/twilio/voice', this.publicUrl);
    url.searchParams.set(CALL_ID_PARAM, record.callId);
    const statusCallback = new URL('/twilio/status', this.publicUrl);
    statusCallback.searchParams.set(CALL_ID_PARAM, record.callId);
    const created = await this.rest.createCall({
      to: record.to,
      from: record.from,
      url: url.toString(),
      statusCallback: statusCallback.toString(),
      statusCallbackEvents: ['initiated', 'ringing', 'answered', 'completed'],
      timeoutS: this.ringTimeoutS,
      ...(opts.maxDurationSec === undefined ? {} : { timeLimitS: opts.maxDurationSec }),
    });
    return { carrierCallId: created.sid, status: 'queued' };
  }
}
