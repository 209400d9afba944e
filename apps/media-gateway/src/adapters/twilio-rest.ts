import twilio from 'twilio';
import { ErrorCodes, SwitchboardError, isRetryableStatus } from '@switchboard/contracts';

/**
 * Twilio's REST API for calls, through the official `twilio` client: create outbound calls, hang up
 * (`Status=completed`) and transfer (new TwiML with `<Dial>`) live ones. The base URL is configurable
 * (the client's `api` domain), so tests and staging point it at a fake speaking the same wire format.
 */

export interface TwilioRestOptions {
  /** `AC…` */
  accountSid: string;
  authToken: string;
  /** Default `https://api.twilio.com`. */
  baseUrl?: string;
  /** Per-request timeout (ms); default 10000. */
  timeoutMs?: number;
}

export interface CreateCallParams {
  to: string;
  from: string;
  /** Voice webhook Twilio fetches TwiML from when the callee answers. One of `url` and `twiml`. */
  url?: string;
  /** Inline TwiML (at most 4000 characters). */
  twiml?: string;
  statusCallback?: string;
  /** Twilio's StatusCallbackEvent names: initiated, ringing, answered, completed. */
  statusCallbackEvents?: Array<'initiated' | 'ringing' | 'answered' | 'completed'>;
  /** Seconds to let it ring before giving up (Twilio `Timeout`). */
  timeoutS?: number;
  /** Longest the call may last once answered (Twilio `TimeLimit`, s). */
  timeLimitS?: number;
}

export interface CreatedCall {
  /** `CA…` */
  sid: string;
  /** Twilio's status at creation, normally `queued`. */
  status: string;
}

/** The parts of twilio's RestException the adapter reads. */
interface RestError {
  status?: number;
  code?: number;
  message?: string;
}

/** Twilio's "resource not found": the call is unknown or no longer updatable. */
const NOT_FOUND_CODE = 20404;
/** Twilio's "Call is not in-progress. Cannot redirect.": new TwiML for a call that has ended. */
const NOT_IN_PROGRESS_CODE = 21220;

function carrierError(op: string, err: unknown): SwitchboardError {
  const e = err as RestError;
  if (typeof e?.status === 'number') {
    return new SwitchboardError(ErrorCodes.CARRIER_FAILED, `Twilio ${op} failed: HTTP ${e.status}${e.code ? ` (code ${e.code})` : ''}: ${e.message ?? ''}`.trim(), {
      retryable: isRetryableStatus(e.status),
      details: { status: e.status, ...(e.code ? { twilioCode: e.code } : {}) },
      cause: err,
    });
  }
  // No HTTP answer at all (refused, reset, timed out): worth retrying.
  return new SwitchboardError(ErrorCodes.CARRIER_FAILED, `Twilio ${op} failed: ${(err as Error)?.message ?? String(err)}`, { retryable: true, cause: err });
}

function isNotFound(err: unknown): boolean {
  const e = err as RestError;
  return e?.status === 404 || e?.code === NOT_FOUND_CODE;
}

export class TwilioRest {
  private readonly client: twilio.Twilio;

  constructor(opts: TwilioRestOptions) {
    this.client = twilio(opts.accountSid, opts.authToken, { timeout: opts.timeoutMs ?? 10_000 });
    // Every REST resource of the client resolves against its `api` domain's base URL.
    if (opts.baseUrl) this.client.api.baseUrl = opts.baseUrl.replace(/\/+$/, '');
  }

  async createCall(p: CreateCallParams): Promise<CreatedCall> {
    if ((p.url === undefined) === (p.twiml === undefined)) throw new SwitchboardError(ErrorCodes.REQUEST_INVALID, 'createCall needs exactly one of url and twiml');
    try {
      const call = await this.client.calls.create({
        to: p.to,
        from: p.from,
        ...(p.url === undefined ? {} : { url: p.url, method: 'POST' }),
        ...(p.twiml === undefined ? {} : { twiml: p.twiml }),
        ...(p.statusCallback === undefined ? {} : { statusCallback: p.statusCallback, statusCallbackMethod: 'POST', statusCallbackEvent: p.statusCallbackEvents ?? ['completed'] }),
        ...(p.timeoutS === undefined ? {} : { timeout: p.timeoutS }),
        ...(p.timeLimitS === undefined ? {} : { timeLimit: p.timeLimitS }),
      });
      return { sid: call.sid, status: call.status };
    } catch (err) {
      throw carrierError('create call', err);
    }
  }

  /** Ends a live call (`Status=completed`). An unknown or already ended call is not an error: `alreadyEnded`. */
  async hangup(callSid: string): Promise<{ alreadyEnded: boolean }> {
    try {
      await this.client.calls(callSid).update({ status: 'completed' });
      return { alreadyEnded: false };
    } catch (err) {
      if (isNotFound(err)) return { alreadyEnded: true };
      throw carrierError('hang-up', err);
    }
  }

  /** Transfers a live call: its running TwiML (`<Connect><Stream>`) is replaced by `<Dial>destination</Dial>`. */
  async transfer(callSid: string, destination: string): Promise<void> {
    const response = new twilio.twiml.VoiceResponse();
    response.dial(destination);
    try {
      await this.client.calls(callSid).update({ twiml: response.toString() });
    } catch (err) {
      if (isNotFound(err) || (err as RestError)?.code === NOT_IN_PROGRESS_CODE) throw new SwitchboardError(ErrorCodes.CALL_ALREADY_ENDED, 'the call ended before it could be transferred', { cause: err });
      throw carrierError('transfer', err);
    }
  }
}
