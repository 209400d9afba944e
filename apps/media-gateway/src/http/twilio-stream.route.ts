import { context, propagation, ROOT_CONTEXT, type Context } from '@opentelemetry/api';
import type { FastifyInstance } from 'fastify';
import { Writable } from 'node:stream';
import type { WebSocket } from 'ws';
import twilio from 'twilio';
import type { Logger } from 'pino';
import { mulawDecodeInto } from '@switchboard/audio';
import type { CallStarted } from '@switchboard/contracts';
import { parseTwilioFrame, twilioOut, TwilioMediaEncoder } from '../adapters/twilio-media.codec.ts';
import { verifyStreamToken, type StreamClaims } from '../adapters/stream-token.ts';
import type { TwilioRest } from '../adapters/twilio-rest.ts';
import type { CallLeg, CarrierSink } from '../calls/call-leg.ts';
import type { CallState, DialRecord } from '../calls/call-state.ts';
import { openLeg, type LegContext } from '../calls/open-leg.ts';
import type { GatewayConfig } from '../config.ts';

export interface TwilioStreamDeps {
  config: GatewayConfig;
  legs: LegContext;
  state: CallState;
  /** Twilio REST client: hang-up and transfer of live calls. Absent: closing the stream ends the call; no transfer. */
  rest?: TwilioRest | undefined;
  instanceId: string;
  /** Counters for malformed input, read by tests and metrics. */
  stats: { badFrames: number; rejectedStreams: number };
}

/** Most bytes a media payload may decode to (Twilio sends 160 per 20 ms; allow bursts of up to 1 s). */
const MAX_MEDIA_BYTES = 8000;
const MAX_MEDIA_B64 = Math.floor(MAX_MEDIA_BYTES / 3) * 4;

/**
 * The TCP socket under a server WebSocket, when frames may be written to it directly: no extension
 * (permessage-deflate) was negotiated, so ws writes each frame straight through without queueing or
 * transforming it, and a frame written here keeps its place among ws's own sends. Undefined when that
 * does not hold (then every frame goes through `ws.send`).
 */
function rawSocket(ws: WebSocket): Writable | undefined {
  const socket = (ws as unknown as { _socket?: unknown })._socket;
  return ws.extensions === '' && socket instanceof Writable ? socket : undefined;
}

class TwilioSink implements CarrierSink {
  private readonly encoder: TwilioMediaEncoder;
  /** Media frames go out pre-framed in one write each (ws.send would cork, write header and body, uncork: a writev per frame). */
  private readonly raw: Writable | undefined;
  hangup?: () => Promise<void>;
  transfer?: (destination: string) => Promise<void>;

  constructor(
    private readonly socket: WebSocket,
    private readonly streamSid: string,
    rest: TwilioRest | undefined,
    callSid: string,
  ) {
    this.encoder = new TwilioMediaEncoder(streamSid);
    this.raw = rawSocket(socket);
    if (rest) {
      this.hangup = async () => void (await rest.hangup(callSid));
      this.transfer = (destination: string) => rest.transfer(callSid, destination);
    }
  }
  sendAudio(frame: Int16Array): void {
    if (this.socket.readyState !== this.socket.OPEN) return;
    if (this.raw) this.raw.write(this.encoder.mediaFrame(frame));
    else this.socket.send(this.encoder.media(frame));
  }
  sendMark(name: string): void {
    if (this.socket.readyState === this.socket.OPEN) this.socket.send(twilioOut.mark(this.streamSid, name));
  }
  sendClear(): void {
    if (this.socket.readyState === this.socket.OPEN) this.socket.send(twilioOut.clear(this.streamSid));
  }
  close(): void {
    if (this.socket.readyState === this.socket.OPEN) this.socket.close(1000, 'call ended');
  }
}

/** WebSocket `/twilio/stream`: one Twilio Media Stream per connection, strict about every frame. */
export async function twilioStreamRoutes(app: FastifyInstance, deps: TwilioStreamDeps): Promise<void> {
  const { config, state, stats } = deps;

  app.get(
    '/twilio/stream',
    {
      websocket: true,
      // Where Twilio signs the handshake, the signature must verify (URL as called, no params).
      preValidation: async (req, reply) => {
        const sig = req.headers['x-twilio-signature'];
        if (typeof sig !== 'string' || !config.TWILIO_VALIDATE_SIGNATURES || !config.TWILIO_AUTH_TOKEN) return;
        const url = streamUrlWithPath(config.PUBLIC_URL, req.url);
        if (!twilio.validateRequest(config.TWILIO_AUTH_TOKEN, sig, url, {})) {
          stats.rejectedStreams++;
          await reply.status(403).send('Invalid Twilio signature');
        }
      },
    },
    (socket, req) => {
      let leg: CallLeg | undefined;
      let callCtx: Context = ROOT_CONTEXT;
      let streamSid: string | undefined;
      /** Between a valid outbound `start` and the leg: the dial record is being read from Redis. */
      let starting = false;
      /** Twilio sent `stop` while the leg was starting: the call ends as soon as it has started. */
      let stoppedWhileStarting = false;
      let closed = false;
      let bad = 0;
      let log: Logger = req.log as unknown as Logger;
      // Per-stream scratch for decoding: a media frame allocates nothing but its 16 kHz output.
      const ulaw = Buffer.allocUnsafe(MAX_MEDIA_BYTES);
      const pcm = new Int16Array(MAX_MEDIA_BYTES);

      const badFrame = (reason: string) => {
        stats.badFrames++;
        bad++;
        log.warn({ reason, bad }, 'malformed Media Streams frame');
        if (bad >= config.MAX_BAD_FRAMES) {
          log.error('closing stream: too many malformed frames');
          socket.close(1008, 'too many malformed frames');
        }
      };

      const begin = (claims: StreamClaims, p: Record<string, string>, callSid: string, sid: string, dial: DialRecord | undefined) => {
        starting = false;
        if (closed) return;
        const outbound = claims.direction === 'outbound' || (!claims.direction && p.direction === 'outbound');
        const started: CallStarted = {
          callId: claims.callId,
          accountId: claims.accountId,
          agentId: claims.agentId,
          direction: outbound ? 'outbound' : 'inbound',
          carrier: 'twilio',
          from: dial?.from ?? p.from ?? '',
          to: dial?.to ?? p.to ?? '',
          carrierCallId: callSid,
          startedAt: new Date().toISOString(),
          gatewayInstance: deps.instanceId,
          ...(dial && Object.keys(dial.variables).length ? { variables: dial.variables } : {}),
        };
        void Promise.all([state.mark(started.callId, 'streamed'), state.mapCarrierCall(callSid, started.callId)]).catch((err: unknown) => log.warn({ err }, 'could not record the stream in Redis'));
        // The call's spans (evt.call.started, the start-session request) continue the voice webhook's trace.
        if (claims.traceparent) callCtx = propagation.extract(ROOT_CONTEXT, { traceparent: claims.traceparent });
        leg = context.with(callCtx, () => openLeg(deps.legs, started, new TwilioSink(socket, sid, deps.rest, callSid), log));
        if (stoppedWhileStarting) leg.end('caller-hangup');
      };

      const onFrame = (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
        if (isBinary) return badFrame('binary frame');
        const parsed = parseTwilioFrame(data.toString());
        if (!parsed.ok) return badFrame(parsed.reason);
        const msg = parsed.msg;
        if (msg.event === 'connected') return;
        if (msg.event === 'start') {
          if (leg || starting) return badFrame('second start');
          const p = msg.start.customParameters;
          const claims = verifyStreamToken(p.token, config.STREAM_TOKEN_SECRET);
          if (!claims) {
            stats.rejectedStreams++;
            log.warn('stream start without a valid token: closing');
            socket.close(1008, 'invalid stream token');
            return;
          }
          streamSid = msg.start.streamSid;
          log = log.child({ call_id: claims.callId });
          const { callSid } = msg.start;
          const sid = streamSid;
          if (claims.direction !== 'outbound') return begin(claims, p, callSid, sid, undefined);
          // An outbound call: its variables wait in the dial record.
          starting = true;
          void state.getDial(claims.callId).then(
            (dial) => {
              if (!dial) log.warn('no dial record for the outbound call: starting it without its variables');
              begin(claims, p, callSid, sid, dial);
            },
            (err: unknown) => {
              log.error({ err }, 'could not read the dial record: starting the call without its variables');
              begin(claims, p, callSid, sid, undefined);
            },
          );
          return;
        }
        if (msg.streamSid !== streamSid || (!leg && !starting)) return badFrame(leg || starting ? 'wrong streamSid' : `${msg.event} before start`);
        // Frames during the one Redis read of an outbound start are dropped (a few ms of line noise).
        if (!leg) {
          if (msg.event === 'stop') stoppedWhileStarting = true;
          return;
        }
        switch (msg.event) {
          case 'media': {
            // The codec has checked the payload is base64; its decoded size is known from its length.
            if (msg.media.payload.length > MAX_MEDIA_B64) return badFrame('media payload over 1 s');
            const n = ulaw.write(msg.media.payload, 'base64');
            mulawDecodeInto(ulaw.subarray(0, n), pcm);
            leg.onCallerAudio(pcm.subarray(0, n));
            return;
          }
          case 'mark':
            leg.onMarkPlayed(msg.mark.name);
            return;
          case 'dtmf':
            leg.onDtmf(msg.dtmf.digit);
            return;
          case 'stop':
            leg.end('caller-hangup');
            return;
        }
      };
      // Frames are handled in the call's trace context (the socket's own is the connection's): evt.call.*,
      // media events and the leg's bus requests join the voice webhook's trace.
      socket.on('message', (data, isBinary) => context.with(callCtx, () => onFrame(data, isBinary)));
      socket.on('close', () =>
        context.with(callCtx, () => {
          closed = true;
          leg?.end('stream-closed');
        }),
      );
      socket.on('error', (err) => log.warn({ err }, 'stream socket error'));
    },
  );
}

function streamUrlWithPath(publicUrl: string, path: string): string {
  const u = new URL(path, publicUrl);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  return u.toString();
}
