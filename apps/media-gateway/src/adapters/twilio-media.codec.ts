/**
 * Twilio Media Streams messages (see shared/reference/protocols.md §2), parsed strictly: a frame that
 * does not have the documented shape is rejected with a reason, never half-used.
 */
export type TwilioInbound =
  | { event: 'connected'; protocol?: string; version?: string }
  | {
      event: 'start';
      streamSid: string;
      start: { streamSid: string; accountSid: string; callSid: string; customParameters: Record<string, string>; mediaFormat: { encoding: string; sampleRate: number; channels: number } };
    }
  | { event: 'media'; streamSid: string; media: { track?: string; chunk?: string; timestamp?: string; payload: string } }
  | { event: 'dtmf'; streamSid: string; dtmf: { track?: string; digit: string } }
  | { event: 'mark'; streamSid: string; mark: { name: string } }
  | { event: 'stop'; streamSid: string; stop?: { accountSid?: string; callSid?: string } };

export type ParseResult = { ok: true; msg: TwilioInbound } | { ok: false; reason: string };

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStr = (v: unknown): v is string => typeof v === 'string';
/** Non-empty standard base64 whose length is a multiple of 4. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})$/;

export function parseTwilioFrame(data: string): ParseResult {
  let m: unknown;
  try {
    m = JSON.parse(data);
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  if (!isObj(m) || !isStr(m.event)) return { ok: false, reason: 'missing event' };
  switch (m.event) {
    case 'connected':
      return { ok: true, msg: { event: 'connected', ...(isStr(m.protocol) ? { protocol: m.protocol } : {}), ...(isStr(m.version) ? { version: m.version } : {}) } };
    case 'start': {
      const s = m.start;
      if (!isObj(s) || !isStr(s.callSid) || !isStr(s.streamSid) || !isStr(s.accountSid)) return { ok: false, reason: 'start without callSid/streamSid/accountSid' };
      const mf = isObj(s.mediaFormat) ? s.mediaFormat : {};
      const params: Record<string, string> = {};
      if (isObj(s.customParameters)) for (const [k, v] of Object.entries(s.customParameters)) if (isStr(v)) params[k] = v;
      return {
        ok: true,
        msg: {
          event: 'start',
          streamSid: isStr(m.streamSid) ? m.streamSid : s.streamSid,
          start: {
            streamSid: s.streamSid,
            accountSid: s.accountSid,
            callSid: s.callSid,
            customParameters: params,
            mediaFormat: { encoding: isStr(mf.encoding) ? mf.encoding : 'audio/x-mulaw', sampleRate: typeof mf.sampleRate === 'number' ? mf.sampleRate : 8000, channels: typeof mf.channels === 'number' ? mf.channels : 1 },
          },
        },
      };
    }
    case 'media': {
      const md = m.media;
      if (!isStr(m.streamSid) || !isObj(md) || !isStr(md.payload) || !BASE64.test(md.payload)) return { ok: false, reason: 'media without streamSid or base64 payload' };
      return { ok: true, msg: { event: 'media', streamSid: m.streamSid, media: { payload: md.payload, ...(isStr(md.track) ? { track: md.track } : {}), ...(isStr(md.chunk) ? { chunk: md.chunk } : {}), ...(isStr(md.timestamp) ? { timestamp: md.timestamp } : {}) } } };
    }
    case 'dtmf': {
      const d = m.dtmf;
      if (!isStr(m.streamSid) || !isObj(d) || !isStr(d.digit) || !/^[0-9A-D*#]$/.test(d.digit)) return { ok: false, reason: 'dtmf without a digit' };
      return { ok: true, msg: { event: 'dtmf', streamSid: m.streamSid, dtmf: { digit: d.digit, ...(isStr(d.track) ? { track: d.track } : {}) } } };
    }
    case 'mark': {
      const mk = m.mark;
      if (!isStr(m.streamSid) || !isObj(mk) || !isStr(mk.name)) return { ok: false, reason: 'mark without a name' };
      return { ok: true, msg: { event: 'mark', streamSid: m.streamSid, mark: { name: mk.name } } };
    }
    case 'stop':
      if (!isStr(m.streamSid)) return { ok: false, reason: 'stop without streamSid' };
      return { ok: true, msg: { event: 'stop', streamSid: m.streamSid, ...(isObj(m.stop) ? { stop: { ...(isStr(m.stop.accountSid) ? { accountSid: m.stop.accountSid } : {}), ...(isStr(m.stop.callSid) ? { callSid: m.stop.callSid } : {}) } } : {}) } };
    default:
      return { ok: false, reason: `unknown event ${JSON.stringify(m.event).slice(0, 40)}` };
  }
}

/** Outbound messages, exactly as Twilio's sample server writes them. */
export const twilioOut = {
  media: (streamSid: string, mulaw: Uint8Array) => JSON.stringify({ event: 'media', streamSid, media: { payload: Buffer.from(mulaw.buffer, mulaw.byteOffset, mulaw.byteLength).toString('base64') } }),
  mark: (streamSid: string, name: string) => JSON.stringify({ event: 'mark', streamSid, mark: { name } }),
  clear: (streamSid: string) => JSON.stringify({ event: 'clear', streamSid }),
};
