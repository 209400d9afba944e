import { randomUUID, createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import WebSocket from 'ws';
import { UpgradeRejection, delay, startWsServer } from '../ws-server.ts';

/** One scripted utterance of the fake Deepgram. */
export interface FakeDeepgramUtterance {
  /** The final transcript. */
  text: string;
  /** Audio (ms) the fake must receive, counted from the previous utterance, before it transcribes this one. Default 1000. */
  afterAudioMs?: number;
  /** Interim results (growing word prefixes) sent before the final; default 2; none when the client asked `interim_results=false`. */
  interims?: number;
  /** `speech_final` of the final result; default true (the endpointer heard the pause). */
  speechFinal?: boolean;
}

export interface FakeDeepgramOptions {
  host?: string;
  port?: number;
  /** When set, upgrades without `Authorization: Token <apiKey>` get 401 with Deepgram's error body. */
  apiKey?: string;
  /** Script of every connection (each connection starts at its first utterance). Strings take the defaults. */
  utterances?: Array<string | FakeDeepgramUtterance>;
  /** Close with 1011 NET-0001 after this long without audio or any text message; default 10000 ms (Deepgram's). */
  idleTimeoutMs?: number;
  /** Delay before each utterance's results are sent, ms (time to first result); default 0. */
  latencyMs?: number;
}

/** What the fake saw on one connection. */
export interface FakeDeepgramConnection {
  /** Query parameters of the upgrade. */
  params: Record<string, string>;
  /** The Authorization header as sent. */
  authorization: string | undefined;
  /** Binary audio bytes received. */
  audioBytes: number;
  /** Text messages received, parsed, in order (KeepAlive, Finalize, CloseStream, …). */
  controls: Array<{ type?: unknown; [k: string]: unknown }>;
  /** Messages sent to the client, parsed, in order. */
  sent: Array<Record<string, unknown>>;
  /** How the connection ended, once it has. */
  closed?: { code: number; reason: string };
  /** Ends the socket without a close frame (a network drop mid-stream). */
  drop(): void;
  /** Closes with a close frame. */
  closeWith(code: number, reason: string): void;
}

export interface FakeDeepgram {
  /** Base URL including /v1, e.g. ws://127.0.0.1:53211/v1 (the adapter appends /listen). */
  url: string;
  counters: {
    connections: number;
    /** Upgrades refused (bad key, bad parameters, injected failure). */
    rejected: number;
    audioBytes: number;
    keepAlives: number;
    finalizes: number;
    closeStreams: number;
    /** `Results` messages sent (interim and final). */
    results: number;
    /** Connections closed for inactivity (NET-0001). */
    idleTimeouts: number;
  };
  /** Every accepted connection, in order. */
  connections: FakeDeepgramConnection[];
  /** Replaces the script for connections opened from now on. */
  setUtterances(u: Array<string | FakeDeepgramUtterance>): void;
  /** The next `count` (default 1) upgrades are refused with this HTTP status. */
  failNextUpgrade(status: number, count?: number): void;
  /** Drops every open connection without a close frame. */
  dropAll(): void;
  close(): Promise<void>;
}

/** Deepgram's close reason when a stream gets no data for too long. */
export const NET_0001 = 'Deepgram did not receive audio data or a text message within the timeout window. See https://dpgr.am/net0001';

/**
 * A Deepgram live-transcription server (`GET /v1/listen` upgraded to WebSocket) that transcribes by
 * script: once it has received `afterAudioMs` of audio (counted in bytes from `encoding` and
 * `sample_rate`), it sends interim `Results`, a final one, and `UtteranceEnd` when asked for.
 */
export async function startFakeDeepgram(opts: FakeDeepgramOptions = {}): Promise<FakeDeepgram> {
  let script = normalise(opts.utterances ?? []);
  const idleTimeoutMs = opts.idleTimeoutMs ?? 10_000;
  const latencyMs = opts.latencyMs ?? 0;
  const upgradeFailures: number[] = [];
  const counters: FakeDeepgram['counters'] = { connections: 0, rejected: 0, audioBytes: 0, keepAlives: 0, finalizes: 0, closeStreams: 0, results: 0, idleTimeouts: 0 };
  const connections: FakeDeepgramConnection[] = [];

  const accept = (req: IncomingMessage): void => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const reject = (status: number, code: string, message: string): never => {
      counters.rejected++;
      throw new UpgradeRejection(status, { err_code: code, err_msg: message, request_id: randomUUID() }, { 'dg-request-id': randomUUID() });
    };
    if (url.pathname.replace(/\/+$/, '') !== '/v1/listen') reject(404, 'NOT_FOUND', `No such route: ${url.pathname}`);
    if (opts.apiKey !== undefined) {
      const auth = req.headers.authorization ?? '';
      const m = /^(Token|Bearer)\s+(.+)$/i.exec(auth);
      if (!m || m[2] !== opts.apiKey) reject(401, 'INVALID_AUTH', 'Invalid credentials.');
    }
    const injected = upgradeFailures.shift();
    if (injected !== undefined) reject(injected, injected === 429 ? 'TOO_MANY_REQUESTS' : 'INJECTED', `Injected failure with status ${injected} (fake-deepgram).`);
    const encoding = url.searchParams.get('encoding');
    const rate = Number(url.searchParams.get('sample_rate'));
    if (encoding && !['linear16', 'mulaw', 'alaw'].includes(encoding)) reject(400, 'Bad Request', `Unsupported encoding: ${encoding}`);
    if (encoding && !(Number.isInteger(rate) && rate > 0)) reject(400, 'Bad Request', 'sample_rate is required when encoding is set');
    if (!encoding) reject(400, 'Bad Request', 'The fake only accepts raw audio: set encoding and sample_rate');
  };

  const onConnection = (ws: WebSocket, req: IncomingMessage): void => {
    counters.connections++;
    const url = new URL(req.url ?? '/', 'http://fake');
    const params = Object.fromEntries(url.searchParams);
    const bytesPerMs = (Number(params['sample_rate']) / 1000) * (params['encoding'] === 'linear16' ? 2 : 1) * Math.max(1, Number(params['channels'] ?? 1));
    const interimWanted = params['interim_results'] === 'true';
    const requestId = randomUUID();
    const hash = createHash('sha256');
    const utterances = [...script];
    let next = 0;
    let heardMs = 0; // since the previous utterance
    let cursorS = 0; // start of the next utterance, seconds
    let totalMs = 0;
    let chain = Promise.resolve();
    let idle: NodeJS.Timeout | undefined;
    let closeRequested = false;

    const conn: FakeDeepgramConnection = {
      params,
      authorization: req.headers.authorization,
      audioBytes: 0,
      controls: [],
      sent: [],
      drop: () => ws.terminate(),
      closeWith: (code, reason) => ws.close(code, reason),
    };
    connections.push(conn);

    const send = (msg: Record<string, unknown>): void => {
      if (ws.readyState !== WebSocket.OPEN) return;
      conn.sent.push(msg);
      if (msg['type'] === 'Results') counters.results++;
      ws.send(JSON.stringify(msg));
    };
    const results = (text: string, startS: number, durationS: number, flags: { isFinal: boolean; speechFinal: boolean; fromFinalize?: boolean }): Record<string, unknown> => {
      const words = text ? text.split(/\s+/) : [];
      const per = words.length ? durationS / words.length : 0;
      return {
        type: 'Results',
        channel_index: [0, 1],
        duration: round(durationS),
        start: round(startS),
        is_final: flags.isFinal,
        speech_final: flags.speechFinal,
        channel: {
          alternatives: [
            {
              transcript: text,
              confidence: text ? 0.98 : 0,
              words: words.map((w, i) => ({
                word: w.toLowerCase().replace(/[^\p{L}\p{N}'-]/gu, ''),
                start: round(startS + i * per),
                end: round(startS + (i + 1) * per),
                confidence: 0.98,
                punctuated_word: w,
              })),
            },
          ],
        },
        metadata: { request_id: requestId, model_info: { name: params['model'] ?? 'general', version: '2025-01-01.0', arch: 'fake' }, model_uuid: '00000000-0000-4000-8000-000000000000' },
        ...(flags.fromFinalize ? { from_finalize: true } : {}),
      };
    };
    const later = (fn: () => void): void => {
      chain = chain.then(async () => {
        await delay(latencyMs);
        fn();
      });
    };
    const resetIdle = (): void => {
      if (idle) clearTimeout(idle);
      idle = setTimeout(() => {
        counters.idleTimeouts++;
        ws.close(1011, NET_0001);
      }, idleTimeoutMs);
      idle.unref();
    };
    resetIdle();

    const speak = (u: Required<FakeDeepgramUtterance>, durationS: number, fromFinalize: boolean): void => {
      const startS = cursorS;
      cursorS += durationS;
      later(() => {
        const words = u.text.split(/\s+/).filter(Boolean);
        const interims = interimWanted && !fromFinalize ? u.interims : 0;
        for (let i = 1; i <= interims; i++) {
          const k = Math.max(1, Math.ceil((words.length * i) / (interims + 1)));
          send(results(words.slice(0, k).join(' '), startS, (durationS * i) / (interims + 1), { isFinal: false, speechFinal: false }));
        }
        send(results(u.text, startS, durationS, { isFinal: true, speechFinal: fromFinalize ? false : u.speechFinal, fromFinalize }));
        if (params['utterance_end_ms'] && u.text && interimWanted) send({ type: 'UtteranceEnd', channel: [0, 1], last_word_end: round(startS + durationS) });
      });
    };

    ws.on('message', (data: Buffer, isBinary) => {
      resetIdle();
      if (isBinary) {
        conn.audioBytes += data.length;
        counters.audioBytes += data.length;
        hash.update(data);
        const ms = data.length / bytesPerMs;
        heardMs += ms;
        totalMs += ms;
        for (let u = utterances[next]; u && heardMs >= u.afterAudioMs; u = utterances[next]) {
          heardMs -= u.afterAudioMs;
          next++;
          speak(u, u.afterAudioMs / 1000, false);
        }
        return;
      }
      let msg: { type?: unknown; [k: string]: unknown };
      try {
        msg = JSON.parse(data.toString()) as typeof msg;
      } catch {
        msg = { type: undefined, raw: data.toString() };
      }
      conn.controls.push(msg);
      if (msg.type === 'KeepAlive') counters.keepAlives++;
      if (msg.type === 'Finalize') {
        counters.finalizes++;
        const u = heardMs > 0 ? utterances[next] : undefined;
        if (u) next++;
        const durationS = heardMs / 1000;
        heardMs = 0;
        speak(u ?? { text: '', afterAudioMs: 0, interims: 0, speechFinal: false }, durationS, true);
      }
      if (msg.type === 'CloseStream') {
        counters.closeStreams++;
        if (closeRequested) return;
        closeRequested = true;
        later(() => {
          send({
            type: 'Metadata',
            transaction_key: 'deprecated',
            request_id: requestId,
            sha256: hash.digest('hex'),
            created: new Date().toISOString(),
            duration: round(totalMs / 1000),
            channels: 1,
            models: ['00000000-0000-4000-8000-000000000000'],
            model_info: {},
          });
          ws.close(1000, '');
        });
      }
    });
    ws.on('close', (code, reason) => {
      if (idle) clearTimeout(idle);
      conn.closed = { code, reason: reason.toString() };
    });
  };

  const srv = await startWsServer({ host: opts.host, port: opts.port, accept, onConnection });
  return {
    url: `ws://${srv.hostPort}/v1`,
    counters,
    connections,
    setUtterances: (u) => {
      script = normalise(u);
    },
    failNextUpgrade: (status, count = 1) => {
      for (let i = 0; i < count; i++) upgradeFailures.push(status);
    },
    dropAll: () => {
      for (const ws of srv.sockets) ws.terminate();
    },
    close: () => srv.close(),
  };
}

function normalise(list: Array<string | FakeDeepgramUtterance>): Array<Required<FakeDeepgramUtterance>> {
  return list.map((u) => {
    const o = typeof u === 'string' ? { text: u } : u;
    return { text: o.text, afterAudioMs: o.afterAudioMs ?? 1000, interims: o.interims ?? 2, speechFinal: o.speechFinal ?? true };
  });
}

function round(s: number): number {
  return Math.round(s * 1000) / 1000;
}
