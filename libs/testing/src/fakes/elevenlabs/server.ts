import type { IncomingMessage } from 'node:http';
import WebSocket from 'ws';
import { synthesizeVoice } from '../../fake-openai/audio.ts';
import { UpgradeRejection, delay, startWsServer } from '../ws-server.ts';

export interface FakeElevenLabsOptions {
  host?: string;
  port?: number;
  /** When set, a wrong `xi-api-key` header is refused with 401 on the upgrade; no header and no `xi_api_key` in the init message closes with 1008. */
  apiKey?: string;
  /** Field naming of server messages: `camel` (`isFinal`, `normalizedAlignment`, what production sends) or `snake` (`is_final`, `normalized_alignment`, the published schema). Default camel. */
  casing?: 'camel' | 'snake';
  /** Close the socket after the final message (default true, like ElevenLabs). */
  closeAfterFinal?: boolean;
  /** Speech duration per character, default 45 ms. */
  msPerChar?: number;
  /** Delay before the first audio of each generation, ms; default 0. */
  ttfbMs?: number;
  /** Audio per message, default 250 ms. */
  chunkMs?: number;
  /** Close with 1008 after this long without a text message; default 20000 ms (ElevenLabs' inactivity_timeout). */
  inactivityTimeoutMs?: number;
}

/** What the fake saw on one connection. */
export interface FakeElevenLabsConnection {
  voiceId: string;
  params: Record<string, string>;
  /** The `xi-api-key` header as sent. */
  apiKey: string | undefined;
  /** Client messages, parsed, in order (init first). */
  messages: Array<Record<string, unknown>>;
  /** Text of every generation, in order (what was spoken). */
  generations: string[];
  /** PCM bytes sent. */
  audioBytes: number;
  closed?: { code: number; reason: string };
}

export type FakeElevenLabsFailure =
  /** Ends the socket without a close frame after the first audio message. */
  | 'drop'
  /** Sends an error message and closes with 1011 instead of the first audio. */
  | 'error';

export interface FakeElevenLabs {
  /** Base URL including /v1, e.g. ws://127.0.0.1:53211/v1. */
  url: string;
  counters: { connections: number; rejected: number; textMessages: number; characters: number; audioMessages: number; finals: number; errors: number };
  connections: FakeElevenLabsConnection[];
  /** The next `count` (default 1) connections fail this way. */
  failNext(how: FakeElevenLabsFailure, count?: number): void;
  /** The next `count` (default 1) upgrades are refused with this HTTP status. */
  failNextUpgrade(status: number, count?: number): void;
  close(): Promise<void>;
}

const PATH = /^\/v1\/text-to-speech\/([^/]+)\/stream-input\/?$/;

/**
 * An ElevenLabs `stream-input` server: init message `{"text":" "}`, text chunks buffered until a
 * sentence ends, `flush`, `try_trigger_generation` with enough text, or end of input `{"text":""}`;
 * each generation is sent as base64 PCM16 at the `output_format` rate with character alignment; then
 * the final message and a normal close.
 */
export async function startFakeElevenLabs(opts: FakeElevenLabsOptions = {}): Promise<FakeElevenLabs> {
  const casing = opts.casing ?? 'camel';
  const msPerChar = opts.msPerChar ?? 45;
  const chunkMs = opts.chunkMs ?? 250;
  const counters: FakeElevenLabs['counters'] = { connections: 0, rejected: 0, textMessages: 0, characters: 0, audioMessages: 0, finals: 0, errors: 0 };
  const connections: FakeElevenLabsConnection[] = [];
  const failures: FakeElevenLabsFailure[] = [];
  const upgradeFailures: number[] = [];

  const accept = (req: IncomingMessage): void => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const reject = (status: number, message: string, code: string): never => {
      counters.rejected++;
      throw new UpgradeRejection(status, { detail: { status: code, message } });
    };
    if (!PATH.test(url.pathname)) reject(404, `No such route: ${url.pathname}`, 'not_found');
    const key = req.headers['xi-api-key'];
    if (opts.apiKey !== undefined && key !== undefined && key !== opts.apiKey) reject(401, 'Invalid API key', 'invalid_api_key');
    const injected = upgradeFailures.shift();
    if (injected !== undefined) reject(injected, `Injected failure with status ${injected} (fake-elevenlabs).`, 'injected');
    const format = url.searchParams.get('output_format') ?? 'mp3_44100_128';
    if (!/^pcm_(8000|16000|22050|24000|44100|48000)$/.test(format)) reject(400, `The fake only produces pcm_<rate> output, got ${format}`, 'invalid_output_format');
  };

  const onConnection = (ws: WebSocket, req: IncomingMessage): void => {
    counters.connections++;
    const url = new URL(req.url ?? '/', 'http://fake');
    const rate = Number(/^pcm_(\d+)$/.exec(url.searchParams.get('output_format') ?? '')?.[1]);
    const conn: FakeElevenLabsConnection = {
      voiceId: decodeURIComponent(PATH.exec(url.pathname)?.[1] ?? ''),
      params: Object.fromEntries(url.searchParams),
      apiKey: typeof req.headers['xi-api-key'] === 'string' ? req.headers['xi-api-key'] : undefined,
      messages: [],
      generations: [],
      audioBytes: 0,
    };
    connections.push(conn);
    const failure = failures.shift();
    let buffer = '';
    let initialised = false;
    let ended = false;
    let chain = Promise.resolve();
    let inactivity: NodeJS.Timeout | undefined;
    const resetInactivity = (): void => {
      if (inactivity) clearTimeout(inactivity);
      inactivity = setTimeout(() => ws.close(1008, `Have not received a new text message in the last ${Math.round((opts.inactivityTimeoutMs ?? 20_000) / 1000)} seconds`), opts.inactivityTimeoutMs ?? 20_000);
      inactivity.unref();
    };
    resetInactivity();

    const sendJson = (msg: Record<string, unknown>): void => {
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
    };
    const generate = (text: string): void => {
      if (!text.trim()) return;
      conn.generations.push(text);
      chain = chain.then(async () => {
        await delay(opts.ttfbMs ?? 0);
        if (ws.readyState !== WebSocket.OPEN) return;
        if (failure === 'error') {
          counters.errors++;
          sendJson({ message: 'An internal server error occurred (injected by fake-elevenlabs).', error: 'internal_error', code: 1011 });
          ws.close(1011, 'internal_error');
          return;
        }
        const pcm = synthesizeVoice(text.length * msPerChar, rate);
        const chunkBytes = Math.max(2, Math.round((rate * chunkMs) / 1000) * 2);
        const chars = [...text];
        const alignment = {
          chars,
          charStartTimesMs: chars.map((_, i) => i * msPerChar),
          charDurationsMs: chars.map(() => msPerChar),
        };
        for (let offset = 0, first = true; offset < pcm.length; offset += chunkBytes, first = false) {
          const piece = pcm.subarray(offset, offset + chunkBytes);
          counters.audioMessages++;
          conn.audioBytes += piece.length;
          sendJson({
            audio: piece.toString('base64'),
            ...(casing === 'camel'
              ? { isFinal: null, normalizedAlignment: first ? alignment : null, alignment: first ? alignment : null }
              : { is_final: null, normalized_alignment: first ? snakeAlignment(alignment) : null, alignment: first ? snakeAlignment(alignment) : null }),
          });
          if (failure === 'drop') {
            counters.errors++;
            ws.terminate();
            return;
          }
          await delay(1);
        }
      });
    };
    const finish = (): void => {
      chain = chain.then(() => {
        if (ws.readyState !== WebSocket.OPEN) return;
        counters.finals++;
        sendJson(casing === 'camel' ? { isFinal: true } : { is_final: true });
        if (opts.closeAfterFinal ?? true) ws.close(1000);
      });
    };

    ws.on('message', (data: Buffer, isBinary) => {
      resetInactivity();
      let msg: Record<string, unknown>;
      try {
        msg = isBinary ? {} : (JSON.parse(data.toString()) as Record<string, unknown>);
      } catch {
        msg = {};
      }
      conn.messages.push(msg);
      if (typeof msg['text'] !== 'string') {
        ws.close(1008, 'Invalid message: text is required');
        return;
      }
      const text = msg['text'];
      if (!initialised) {
        initialised = true;
        if (opts.apiKey !== undefined && conn.apiKey === undefined && msg['xi_api_key'] !== opts.apiKey) {
          ws.close(1008, 'Invalid API key');
          return;
        }
        if (text !== ' ') ws.close(1008, 'The first message must be the initial message with text " "');
        return;
      }
      if (ended) return;
      if (text === '') {
        ended = true;
        generate(buffer);
        buffer = '';
        finish();
        return;
      }
      counters.textMessages++;
      counters.characters += text.length;
      buffer += text;
      // Generate up to the last sentence end; with flush, or a trigger and enough text, everything.
      const sentenceEnd = Math.max(buffer.lastIndexOf('. '), buffer.lastIndexOf('! '), buffer.lastIndexOf('? '));
      if (msg['flush'] === true || (msg['try_trigger_generation'] === true && buffer.length >= 50)) {
        generate(buffer);
        buffer = '';
      } else if (sentenceEnd >= 0) {
        generate(buffer.slice(0, sentenceEnd + 2));
        buffer = buffer.slice(sentenceEnd + 2);
      }
    });
    ws.on('close', (code, reason) => {
      if (inactivity) clearTimeout(inactivity);
      conn.closed = { code, reason: reason.toString() };
    });
  };

  const srv = await startWsServer({ host: opts.host, port: opts.port, accept, onConnection });
  return {
    url: `ws://${srv.hostPort}/v1`,
    counters,
    connections,
    failNext: (how, count = 1) => {
      for (let i = 0; i < count; i++) failures.push(how);
    },
    failNextUpgrade: (status, count = 1) => {
      for (let i = 0; i < count; i++) upgradeFailures.push(status);
    },
    close: () => srv.close(),
  };
}

function snakeAlignment(a: { chars: string[]; charStartTimesMs: number[]; charDurationsMs: number[] }): Record<string, unknown> {
  return { chars: a.chars, char_start_times_ms: a.charStartTimesMs, char_durations_ms: a.charDurationsMs };
}
