import type { FastifyInstance } from 'fastify';
import type { WebSocket } from 'ws';
import twilio from 'twilio';
import type { Logger } from 'pino';
import { mulawDecode, mulawEncode } from '@switchboard/audio';
import { contracts, SwitchboardError, type CallStarted } from '@switchboard/contracts';
import type { Bus } from '@switchboard/bus';
import { parseTwilioFrame, twilioOut } from '../adapters/twilio-media.codec.ts';
import { verifyStreamToken } from '../adapters/stream-token.ts';
import { CallLeg, type CarrierSink } from '../calls/call-leg.ts';
import type { Pacer } from '../calls/pacer.ts';
import type { GatewayConfig } from '../config.ts';

export interface TwilioStreamDeps {
  config: GatewayConfig;
  bus: Bus;
  pacer: Pacer;
  legs: Map<string, CallLeg>;
  instanceId: string;
  /** Counters for malformed input, read by tests and metrics. */
  stats: { badFrames: number; rejectedStreams: number };
}

class TwilioSink implements CarrierSink {
  constructor(
    private readonly socket: WebSocket,
    private readonly streamSid: string,
  ) {}
  sendAudio(frame: Int16Array): void {
    if (this.socket.readyState === this.socket.OPEN) this.socket.send(twilioOut.media(this.streamSid, mulawEncode(frame)));
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

/** Asks an orchestrator to claim the call, retrying briefly while none answers. */
async function claim(bus: Bus, started: CallStarted, log: Logger): Promise<boolean> {
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

/** WebSocket `/twilio/stream`: one Twilio Media Stream per connection, strict about every frame. */
export async function twilioStreamRoutes(app: FastifyInstance, deps: TwilioStreamDeps): Promise<void> {
  const { config, bus, pacer, legs, stats } = deps;

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
      let streamSid: string | undefined;
      let bad = 0;
      let log: Logger = req.log as unknown as Logger;

      const badFrame = (reason: string) => {
        stats.badFrames++;
        bad++;
        log.warn({ reason, bad }, 'malformed Media Streams frame');
        if (bad >= config.MAX_BAD_FRAMES) {
          log.error('closing stream: too many malformed frames');
          socket.close(1008, 'too many malformed frames');
        }
      };

      socket.on('message', (data, isBinary) => {
        if (isBinary) return badFrame('binary frame');
        const parsed = parseTwilioFrame(data.toString());
        if (!parsed.ok) return badFrame(parsed.reason);
        const msg = parsed.msg;
        if (msg.event === 'connected') return;
        if (msg.event === 'start') {
          if (leg) return badFrame('second start');
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
          const started: CallStarted = {
            callId: claims.callId,
            accountId: claims.accountId,
            agentId: claims.agentId,
            direction: p.direction === 'outbound' ? 'outbound' : 'inbound',
            carrier: 'twilio',
            from: p.from ?? '',
            to: p.to ?? '',
            carrierCallId: msg.start.callSid,
            startedAt: new Date().toISOString(),
            gatewayInstance: deps.instanceId,
          };
          const current = new CallLeg(started, bus, new TwilioSink(socket, streamSid), pacer, log, config.OUTBOUND_LEAD_MS, (l) => legs.delete(l.callId));
          leg = current;
          legs.set(started.callId, current);
          current.attach();
          bus.publish(contracts.callStarted, started, { callId: started.callId });
          void claim(bus, started, log).then((ok) => {
            if (!ok) current.end('error');
          });
          return;
        }
        if (!leg || msg.streamSid !== streamSid) return badFrame(leg ? 'wrong streamSid' : `${msg.event} before start`);
        switch (msg.event) {
          case 'media':
            leg.onCallerAudio(mulawDecode(Buffer.from(msg.media.payload, 'base64')));
            return;
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
      });
      socket.on('close', () => leg?.end('stream-closed'));
      socket.on('error', (err) => log.warn({ err }, 'stream socket error'));
    },
  );
}

function streamUrlWithPath(publicUrl: string, path: string): string {
  const u = new URL(path, publicUrl);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  return u.toString();
}
