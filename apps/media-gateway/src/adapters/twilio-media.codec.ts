import { MULAW_SILENCE, mulawEncodeInto } from '@switchboard/audio';

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
/** 1 for the 64 characters of standard base64 (A-Z a-z 0-9 + /). */
const BASE64_CHAR = new Uint8Array(128);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/') BASE64_CHAR[c.charCodeAt(0)] = 1;

/**
 * Non-empty standard base64 whose length is a multiple of 4, with `=` padding only at the end (at
 * most two). A table lookup per character: this runs on every media frame.
 */
export function isBase64(s: string): boolean {
  const len = s.length;
  if (len === 0 || len % 4 !== 0) return false;
  const pad = s.charCodeAt(len - 1) === 61 ? (s.charCodeAt(len - 2) === 61 ? 2 : 1) : 0;
  const end = len - pad;
  for (let i = 0; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c > 127 || BASE64_CHAR[c] === 0) return false;
  }
  return true;
}

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
      if (!isStr(m.streamSid) || !isObj(md) || !isStr(md.payload) || !isBase64(md.payload)) return { ok: false, reason: 'media without streamSid or base64 payload' };
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

/**
 * The outbound `media` message of one stream, built for the per-frame hot path: μ-law into a reused
 * buffer, base64, and the JSON by concatenation around a prefix computed once per stream (the same
 * bytes `twilioOut.media` produces). An all-zero frame (padding, silence) reuses one precomputed
 * payload. `mediaFrame` returns the message already framed as an unmasked WebSocket text frame
 * (RFC 6455 §5.2), so it leaves in one socket write.
 */
export class TwilioMediaEncoder {
  private readonly prefix: string;
  private readonly prefixBytes: Buffer;
  private readonly ulaw = Buffer.allocUnsafe(160);
  private silence: { samples: number; payload: string } | undefined;

  constructor(streamSid: string) {
    this.prefix = `{"event":"media","streamSid":${JSON.stringify(streamSid)},"media":{"payload":"`;
    this.prefixBytes = Buffer.from(this.prefix, 'utf8');
  }

  /** The base64 μ-law payload of one frame. */
  payload(frame: Int16Array): string {
    const n = frame.length;
    let zero = true;
    for (let i = 0; i < n; i++) {
      if (frame[i] !== 0) {
        zero = false;
        break;
      }
    }
    if (zero) {
      if (this.silence?.samples !== n) this.silence = { samples: n, payload: Buffer.alloc(n, MULAW_SILENCE).toString('base64') };
      return this.silence.payload;
    }
    const buf = n <= this.ulaw.length ? this.ulaw : Buffer.allocUnsafe(n);
    mulawEncodeInto(frame, buf);
    return buf.toString('base64', 0, n);
  }

  /** The `media` message as JSON text. */
  media(frame: Int16Array): string {
    return `${this.prefix}${this.payload(frame)}"}}`;
  }

  /** The `media` message as a complete server-to-client WebSocket text frame (FIN, opcode 1, unmasked). */
  mediaFrame(frame: Int16Array): Buffer {
    const payload = this.payload(frame);
    const length = this.prefixBytes.length + payload.length + 3;
    const header = length < 126 ? 2 : length < 65536 ? 4 : 10;
    const out = Buffer.allocUnsafe(header + length);
    out[0] = 0x81;
    if (header === 2) out[1] = length;
    else if (header === 4) {
      out[1] = 126;
      out.writeUInt16BE(length, 2);
    } else {
      out[1] = 127;
      out.writeUInt32BE(0, 2);
      out.writeUInt32BE(length, 6);
    }
    this.prefixBytes.copy(out, header);
    // Base64 and the closing characters are ASCII: one byte per character.
    const at = header + this.prefixBytes.length + out.write(payload, header + this.prefixBytes.length, 'latin1');
    out[at] = 0x22; // "
    out[at + 1] = 0x7d; // }
    out[at + 2] = 0x7d; // }
    return out;
  }
}
