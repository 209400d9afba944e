import type { Redis } from 'ioredis';

/**
 * The gateway's own per-call facts in Redis, shared by every gateway instance: a Twilio status
 * callback may land on an instance other than the one holding the media stream.
 *
 * - the pending-dial record of an outbound call (who, to whom, with which variables) from the dial
 *   request until its stream starts, read by the voice webhook and the stream;
 * - idempotency of dial requests (`requestId` → callId);
 * - CallSid → callId, for status callbacks that carry no callId;
 * - once-only claims (`answered`, `ended`) so a lifecycle event is published once per call whichever
 *   instance and path (stream, status callback) sees it first, and `streamed` so a status callback
 *   knows the stream already owns the call's end.
 */

/** An outbound call from the dial request until it ends. */
export interface DialRecord {
  callId: string;
  accountId: string;
  agentId: string;
  /** Callee (E.164). */
  to: string;
  /** Caller id used. */
  from: string;
  carrier: 'twilio' | 'sip';
  /** What reaches `evt.call.started`'s `variables`: the request's variables plus the reserved `sb.*` ones. */
  variables: Record<string, string>;
  requestId?: string;
  /** The carrier's id once the carrier accepted the call. */
  carrierCallId?: string;
  /** The voice webhook could not route the call (agent gone): its end is `rejected`. */
  refused?: boolean;
  createdAt: string;
}

/** How long gateway call facts live: longer than any call. */
const TTL_S = 24 * 3600;

const dialKey = (callId: string) => `gw:dial:${callId}`;
const requestKey = (accountId: string, requestId: string) => `gw:dial-request:${accountId}:${requestId}`;
const sidKey = (sid: string) => `gw:carrier-call:${sid}`;
const markKey = (callId: string, mark: CallMark) => `gw:call:${callId}:${mark}`;

/** Once-only facts about a call. */
export type CallMark = 'streamed' | 'answered' | 'ended';

export class CallState {
  constructor(private readonly redis: Redis) {}

  async putDial(record: DialRecord): Promise<void> {
    await this.redis.set(dialKey(record.callId), JSON.stringify(record), 'EX', TTL_S);
  }

  async getDial(callId: string): Promise<DialRecord | undefined> {
    const raw = await this.redis.get(dialKey(callId));
    return raw ? (JSON.parse(raw) as DialRecord) : undefined;
  }

  async updateDial(callId: string, patch: Partial<DialRecord>): Promise<DialRecord | undefined> {
    const current = await this.getDial(callId);
    if (!current) return undefined;
    const next = { ...current, ...patch };
    await this.redis.set(dialKey(callId), JSON.stringify(next), 'KEEPTTL');
    return next;
  }

  async deleteDial(callId: string): Promise<void> {
    await this.redis.del(dialKey(callId));
  }

  /**
   * Claims `requestId` for `callId`. Returns undefined when this request is the first with that id,
   * else the callId of the earlier request.
   */
  async claimRequest(accountId: string, requestId: string, callId: string): Promise<string | undefined> {
    const key = requestKey(accountId, requestId);
    const ok = await this.redis.set(key, callId, 'EX', TTL_S, 'NX');
    if (ok === 'OK') return undefined;
    return (await this.redis.get(key)) ?? undefined;
  }

  /** Forgets a request id whose dial failed, so a retry dials again. */
  async releaseRequest(accountId: string, requestId: string): Promise<void> {
    await this.redis.del(requestKey(accountId, requestId));
  }

  async mapCarrierCall(carrierCallId: string, callId: string): Promise<void> {
    await this.redis.set(sidKey(carrierCallId), callId, 'EX', TTL_S);
  }

  async callIdFor(carrierCallId: string): Promise<string | undefined> {
    return (await this.redis.get(sidKey(carrierCallId))) ?? undefined;
  }

  /** Sets `mark` for the call; true when this was the first time. */
  async mark(callId: string, mark: CallMark): Promise<boolean> {
    return (await this.redis.set(markKey(callId, mark), '1', 'EX', TTL_S, 'NX')) === 'OK';
  }

  async has(callId: string, mark: CallMark): Promise<boolean> {
    return (await this.redis.exists(markKey(callId, mark))) === 1;
  }
}
