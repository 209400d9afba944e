import type { Logger } from 'pino';
import { contracts, type CallAnswered, type CallDtmfReceived, type CallEnded, type CallRinging, type CallStarted, type EventContract } from '@switchboard/contracts';
import type { Bus } from '@switchboard/bus';
import type { CallState } from './call-state.ts';

/**
 * Publishes call lifecycle events (`evt.call.*`) through JetStream, so a consumer that restarts
 * misses none. `answered` and `ended` are published once per call across all gateway instances
 * (a Redis claim, backed by the stream's duplicate window through the message id). Publishing
 * never throws into a call: without Redis the event goes out unclaimed, without a JetStream ack it
 * falls back to a core publish so live subscribers still see it.
 */
export class CallEvents {
  /** Per call, the last event in flight: a call's events reach the stream in the order they happened. */
  private readonly chains = new Map<string, Promise<unknown>>();

  constructor(
    private readonly bus: Bus,
    private readonly state: CallState | undefined,
    private readonly log: Logger,
  ) {}

  started(evt: CallStarted): Promise<void> {
    return this.inOrder(evt.callId, () => this.publish(contracts.callStarted, evt, evt.callId, `started-${evt.callId}`));
  }

  ringing(evt: CallRinging): Promise<void> {
    return this.inOrder(evt.callId, () => this.publish(contracts.callRinging, evt, evt.callId, `ringing-${evt.callId}`));
  }

  /** Publishes the call's answer unless some path already did; resolves true when this one did. */
  answered(evt: CallAnswered): Promise<boolean> {
    return this.inOrder(evt.callId, async () => {
      if (!(await this.claim(evt.callId, 'answered'))) return false;
      await this.publish(contracts.callAnswered, evt, evt.callId, `answered-${evt.callId}`);
      return true;
    });
  }

  /** Publishes the call's end unless some path already did; resolves true when this one did. */
  ended(evt: CallEnded): Promise<boolean> {
    return this.inOrder(evt.callId, async () => {
      if (!(await this.claim(evt.callId, 'ended'))) return false;
      await this.publish(contracts.callEnded, evt, evt.callId, `ended-${evt.callId}`);
      return true;
    });
  }

  dtmf(evt: CallDtmfReceived): Promise<void> {
    return this.inOrder(evt.callId, () => this.publish(contracts.callDtmfReceived, evt, evt.callId));
  }

  /** Runs `task` after the call's previous event has been published (whatever its outcome). */
  private inOrder<R>(callId: string, task: () => Promise<R>): Promise<R> {
    const previous = this.chains.get(callId) ?? Promise.resolve();
    const next = previous.then(task, task);
    this.chains.set(callId, next);
    // Nothing newer queued behind it: the call has no event in flight, forget it.
    const forget = () => {
      if (this.chains.get(callId) === next) this.chains.delete(callId);
    };
    next.then(forget, forget);
    return next;
  }

  private async claim(callId: string, mark: 'answered' | 'ended'): Promise<boolean> {
    if (!this.state) return true;
    try {
      return await this.state.mark(callId, mark);
    } catch (err) {
      // A duplicate event is better than a lost one.
      this.log.warn({ err, call_id: callId, mark }, 'could not claim the lifecycle event in Redis; publishing anyway');
      return true;
    }
  }

  private async publish<T>(contract: EventContract<T>, payload: T, callId: string, msgId?: string): Promise<void> {
    try {
      await this.bus.publishDurable(contract, payload, { callId, ...(msgId ? { msgId } : {}) });
    } catch (err) {
      this.log.error({ err, call_id: callId, event: contract.name }, 'JetStream did not store the call event; published on core NATS only');
      try {
        this.bus.publish(contract, payload, { callId });
      } catch (e) {
        this.log.error({ err: e, call_id: callId, event: contract.name }, 'call event not published');
      }
    }
  }
}
