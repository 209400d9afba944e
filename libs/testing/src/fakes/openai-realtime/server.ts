import type { IncomingMessage } from 'node:http';
import WebSocket from 'ws';
import { alawDecode, alawEncode, mulawDecode, mulawEncode, rmsDbfs } from '@switchboard/audio';
import { synthesizeVoice } from '../../fake-openai/audio.ts';
import { isRecord, randomId, renderTemplate, splitArguments, tokenize } from '../../fake-openai/chat.ts';
import { UpgradeRejection, delay, startWsServer } from '../ws-server.ts';

/** One scripted model response. */
export type FakeRealtimeTurn =
  /** Speak `say` (audio deltas with transcript deltas). `{{output}}` / `{{output.a.b}}` render the last function output. */
  | { say: string }
  /** Call a function, then wait for `function_call_output` and `response.create`. */
  | { functionCall: { name: string; arguments: Record<string, unknown> } };

export interface FakeRealtimeOptions {
  host?: string;
  port?: number;
  /** When set, upgrades without `Authorization: Bearer <apiKey>` get 401 with OpenAI's error body. */
  apiKey?: string;
  /** Responses of every session, in order (each session starts at the first). Exhausted → `fallbackReply`. */
  turns?: FakeRealtimeTurn[];
  /** Default "Sorry, I did not catch that.". */
  fallbackReply?: string;
  /** Transcripts of the caller's committed turns, in order, when the session asked for input transcription. */
  userTranscripts?: string[];
  /** Energy threshold of the server VAD, dBFS; default -45. */
  vadThresholdDbfs?: number;
  /** `silence_duration_ms` of the default session: silence that ends a caller turn unless session.update sets it; default 500 ms. */
  vadSilenceMs?: number;
  /** Speech per character of a reply, default 60 ms. */
  msPerChar?: number;
  /** Audio per `response.output_audio.delta`, default 100 ms. */
  chunkMs?: number;
  /** Pause between audio deltas, default 2 ms (OpenAI sends faster than real time). */
  chunkDelayMs?: number;
  /** Delay from the start of a response to its first event, default 0. */
  ttfbMs?: number;
}

export type FakeRealtimeFailure =
  /** The next response ends the socket without a close frame after its first audio delta. */
  | 'drop'
  /** The next response fails: an `error` event (`server_error`), then `response.done` with status `failed`. */
  | 'error-event';

/** What the fake saw on one session, and handles to drive it. */
export interface FakeRealtimeSession {
  /** The `model` query parameter. */
  model: string | undefined;
  authorization: string | undefined;
  /** The session as configured so far (session.update merged into the defaults). */
  session: Record<string, unknown>;
  /** Client events in order, except `input_audio_buffer.append` (counted in `audioBytes`). */
  events: Array<Record<string, unknown>>;
  /** Decoded input audio bytes received. */
  audioBytes: number;
  /** Truncations received: `{item_id, content_index, audio_end_ms}`. */
  truncates: Array<{ item_id: unknown; content_index: unknown; audio_end_ms: unknown }>;
  /** `function_call_output` items received. */
  functionOutputs: Array<{ call_id: string; output: string }>;
  /** Status of each finished response, in order (`completed`, `cancelled`, `failed`). */
  responses: string[];
  /** Simulates a caller turn without audio: speech_started, speech_stopped, commit, transcription and (server VAD) a response. */
  userTurn(transcript?: string): void;
  /** Sends a raw server event. */
  send(event: Record<string, unknown>): void;
  /** Ends the socket without a close frame. */
  drop(): void;
  closed?: { code: number; reason: string };
}

export interface FakeRealtime {
  /** Realtime URL without the model parameter, e.g. ws://127.0.0.1:53211/v1/realtime. */
  url: string;
  counters: {
    connections: number;
    rejected: number;
    sessionUpdates: number;
    audioAppends: number;
    speechStarted: number;
    responses: number;
    cancelled: number;
    functionCalls: number;
    functionOutputs: number;
    truncates: number;
    outputClears: number;
    errors: number;
  };
  sessions: FakeRealtimeSession[];
  /** The next `count` (default 1) responses fail this way. */
  failNext(how: FakeRealtimeFailure, count?: number): void;
  /** The next `count` (default 1) upgrades are refused with this HTTP status. */
  failNextUpgrade(status: number, count?: number): void;
  close(): Promise<void>;
}

const FORMATS: Record<string, { rate: number; bytesPerSample: number }> = {
  'audio/pcm': { rate: 24000, bytesPerSample: 2 },
  'audio/pcmu': { rate: 8000, bytesPerSample: 1 },
  'audio/pcma': { rate: 8000, bytesPerSample: 1 },
};
const FRAME_MS = 20;

/**
 * The OpenAI Realtime API (GA event names) over WebSocket: `session.created` on connect,
 * `session.update` → `session.updated`, input audio buffered and run through an energy VAD
 * (`speech_started`/`speech_stopped`/`committed`, barge-in cancels the response), scripted responses
 * of audio plus transcript deltas or of a function call that waits for `function_call_output` and
 * `response.create`; `response.cancel`, `conversation.item.truncate` and `output_audio_buffer.clear`
 * are honoured and recorded.
 */
export async function startFakeRealtime(opts: FakeRealtimeOptions = {}): Promise<FakeRealtime> {
  const counters: FakeRealtime['counters'] = {
    connections: 0,
    rejected: 0,
    sessionUpdates: 0,
    audioAppends: 0,
    speechStarted: 0,
    responses: 0,
    cancelled: 0,
    functionCalls: 0,
    functionOutputs: 0,
    truncates: 0,
    outputClears: 0,
    errors: 0,
  };
  const sessions: FakeRealtimeSession[] = [];
  const failures: FakeRealtimeFailure[] = [];
  const upgradeFailures: number[] = [];
  const msPerChar = opts.msPerChar ?? 60;
  const chunkMs = opts.chunkMs ?? 100;

  const accept = (req: IncomingMessage): void => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const reject = (status: number, message: string, code: string | null): never => {
      counters.rejected++;
      throw new UpgradeRejection(status, { error: { message, type: 'invalid_request_error', code, param: null } });
    };
    if (url.pathname.replace(/\/+$/, '') !== '/v1/realtime') reject(404, `Invalid URL (GET ${url.pathname})`, null);
    if (opts.apiKey !== undefined) {
      const auth = req.headers.authorization ?? '';
      if (!auth.startsWith('Bearer ')) reject(401, "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth.", null);
      const key = auth.slice(7);
      if (key !== opts.apiKey) reject(401, `Incorrect API key provided: ${key.slice(0, 3)}***${key.slice(-4)}. You can find your API key at https://platform.openai.com/account/api-keys.`, 'invalid_api_key');
    }
    if (!url.searchParams.get('model')) reject(400, 'Missing required parameter: model.', 'missing_required_parameter');
    const injected = upgradeFailures.shift();
    if (injected !== undefined) reject(injected, `Injected failure with status ${injected} (fake-realtime).`, null);
  };

  const onConnection = (ws: WebSocket, req: IncomingMessage): void => {
    counters.connections++;
    const url = new URL(req.url ?? '/', 'http://fake');
    const model = url.searchParams.get('model') ?? undefined;
    const turns = [...(opts.turns ?? [])];
    const userTranscripts = [...(opts.userTranscripts ?? [])];
    const session: Record<string, unknown> = {
      type: 'realtime',
      object: 'realtime.session',
      id: `sess_${randomId(20)}`,
      model,
      output_modalities: ['audio'],
      instructions: '',
      tools: [],
      tool_choice: 'auto',
      audio: {
        input: { format: { type: 'audio/pcm', rate: 24000 }, transcription: null, turn_detection: { type: 'server_vad', threshold: 0.5, prefix_padding_ms: 300, silence_duration_ms: opts.vadSilenceMs ?? 500, create_response: true, interrupt_response: true } },
        output: { format: { type: 'audio/pcm', rate: 24000 }, voice: 'alloy', speed: 1 },
      },
    };
    let seq = 0;
    const send = (event: Record<string, unknown>): void => {
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ event_id: `event_${++seq}${randomId(8)}`, ...event }));
    };
    const error = (message: string, code: string | null, eventId: unknown, type = 'invalid_request_error'): void => {
      counters.errors++;
      send({ type: 'error', error: { type, code, message, param: null, event_id: typeof eventId === 'string' ? eventId : null } });
    };

    // Conversation items: id → audio duration (ms) of assistant audio, or the item kind.
    const items = new Map<string, { role: string; audioMs: number; callId?: string }>();
    let lastItemId: string | null = null;
    const addItem = (id: string, meta: { role: string; audioMs: number; callId?: string }): string | null => {
      const prev = lastItemId;
      items.set(id, meta);
      lastItemId = id;
      return prev;
    };
    let lastOutput: string | undefined;
    let active: { id: string; cancel: (reason: string) => void } | undefined;

    const handle: FakeRealtimeSession = {
      model,
      authorization: req.headers.authorization,
      session,
      events: [],
      audioBytes: 0,
      truncates: [],
      functionOutputs: [],
      responses: [],
      userTurn: (transcript) => {
        const itemId = `item_${randomId(20)}`;
        speechStart(itemId);
        speechStop(itemId, transcript);
      },
      send,
      drop: () => ws.terminate(),
    };
    sessions.push(handle);

    const input = (): Record<string, unknown> => (isRecord(session['audio']) && isRecord(session['audio']['input']) ? session['audio']['input'] : {});
    const output = (): Record<string, unknown> => (isRecord(session['audio']) && isRecord(session['audio']['output']) ? session['audio']['output'] : {});
    const formatOf = (side: Record<string, unknown>): string => (isRecord(side['format']) && typeof side['format']['type'] === 'string' ? side['format']['type'] : 'audio/pcm');
    const turnDetection = (): Record<string, unknown> | null => (isRecord(input()['turn_detection']) ? (input()['turn_detection'] as Record<string, unknown>) : null);

    const runResponse = (): void => {
      if (active) {
        error('Conversation already has an active response in progress.', 'conversation_already_has_active_response', undefined);
        return;
      }
      counters.responses++;
      const responseId = `resp_${randomId(20)}`;
      const failure = failures.shift();
      let cancelled: string | undefined;
      active = { id: responseId, cancel: (reason) => void (cancelled ??= reason) };
      const turn = turns.shift() ?? { say: opts.fallbackReply ?? 'Sorry, I did not catch that.' };
      const response = (status: string, out: unknown[], extra: Record<string, unknown> = {}): Record<string, unknown> => ({
        object: 'realtime.response',
        id: responseId,
        status,
        status_details: null,
        output: out,
        conversation_id: 'conv_fake',
        output_modalities: ['audio'],
        usage: { total_tokens: 120, input_tokens: 80, output_tokens: 40, input_token_details: {}, output_token_details: {} },
        ...extra,
      });
      const finish = (status: string, out: unknown[], extra: Record<string, unknown> = {}): void => {
        active = undefined;
        handle.responses.push(status);
        if (status === 'cancelled') counters.cancelled++;
        send({ type: 'response.done', response: response(status, out, extra) });
      };
      void (async () => {
        await delay(opts.ttfbMs ?? 0);
        send({ type: 'response.created', response: response('in_progress', [], { usage: null }) });
        if (failure === 'error-event') {
          error('The server had an error while processing your request. Sorry about that!', null, undefined, 'server_error');
          finish('failed', [], { status_details: { type: 'failed', error: { type: 'server_error', code: null } } });
          return;
        }
        const itemId = `item_${randomId(20)}`;
        if ('functionCall' in turn) {
          counters.functionCalls++;
          const callId = `call_${randomId(16)}`;
          const args = JSON.stringify(turn.functionCall.arguments);
          const item = { id: itemId, object: 'realtime.item', type: 'function_call', status: 'in_progress', call_id: callId, name: turn.functionCall.name, arguments: '' };
          const previous = addItem(itemId, { role: 'assistant', audioMs: 0, callId });
          send({ type: 'response.output_item.added', response_id: responseId, output_index: 0, item });
          send({ type: 'conversation.item.added', previous_item_id: previous, item });
          for (const fragment of splitArguments(args)) {
            send({ type: 'response.function_call_arguments.delta', response_id: responseId, item_id: itemId, output_index: 0, call_id: callId, delta: fragment });
            await delay(1);
          }
          send({ type: 'response.function_call_arguments.done', response_id: responseId, item_id: itemId, output_index: 0, call_id: callId, name: turn.functionCall.name, arguments: args });
          const done = { ...item, status: 'completed', arguments: args };
          send({ type: 'response.output_item.done', response_id: responseId, output_index: 0, item: done });
          send({ type: 'conversation.item.done', previous_item_id: previous, item: done });
          finish('completed', [done]);
          return;
        }
        const text = turn.say.replace(/\{\{\s*output((?:\.[^.{}\s]+)*)\s*\}\}/g, (_m, path: string) => renderTemplate(`{{tool${path}}}`, lastOutput));
        const fmt = formatOf(output());
        const { rate, bytesPerSample } = FORMATS[fmt] ?? { rate: 24000, bytesPerSample: 2 };
        const pcm = synthesizeVoice(text.length * msPerChar, rate);
        const samples = new Int16Array(pcm.buffer, pcm.byteOffset, pcm.length / 2);
        const audio = fmt === 'audio/pcmu' ? Buffer.from(mulawEncode(samples)) : fmt === 'audio/pcma' ? Buffer.from(alawEncode(samples)) : pcm;
        const chunkBytes = Math.max(bytesPerSample, Math.round((rate * chunkMs) / 1000) * bytesPerSample);
        const tokens = tokenize(text);
        const item = { id: itemId, object: 'realtime.item', type: 'message', status: 'in_progress', role: 'assistant', content: [] as unknown[] };
        const meta = { role: 'assistant', audioMs: 0 };
        const previous = addItem(itemId, meta);
        send({ type: 'response.output_item.added', response_id: responseId, output_index: 0, item });
        send({ type: 'conversation.item.added', previous_item_id: previous, item });
        send({ type: 'response.content_part.added', response_id: responseId, item_id: itemId, output_index: 0, content_index: 0, part: { type: 'audio', transcript: '' } });
        const chunks = Math.max(1, Math.ceil(audio.length / chunkBytes));
        let sentTokens = 0;
        let spoken = '';
        for (let i = 0; i < chunks; i++) {
          if (cancelled || ws.readyState !== WebSocket.OPEN) break;
          const piece = audio.subarray(i * chunkBytes, (i + 1) * chunkBytes);
          meta.audioMs += (piece.length / bytesPerSample / rate) * 1000;
          send({ type: 'response.output_audio.delta', response_id: responseId, item_id: itemId, output_index: 0, content_index: 0, delta: piece.toString('base64') });
          if (failure === 'drop') {
            counters.errors++;
            ws.terminate();
            return;
          }
          const upTo = Math.ceil((tokens.length * (i + 1)) / chunks);
          for (; sentTokens < upTo; sentTokens++) {
            spoken += tokens[sentTokens];
            send({ type: 'response.output_audio_transcript.delta', response_id: responseId, item_id: itemId, output_index: 0, content_index: 0, delta: tokens[sentTokens] });
          }
          await delay(opts.chunkDelayMs ?? 2);
        }
        if (cancelled) {
          const done = { ...item, status: 'incomplete', content: [{ type: 'output_audio', transcript: spoken }] };
          send({ type: 'response.output_item.done', response_id: responseId, output_index: 0, item: done });
          finish('cancelled', [done], { status_details: { type: 'cancelled', reason: cancelled } });
          return;
        }
        send({ type: 'response.output_audio.done', response_id: responseId, item_id: itemId, output_index: 0, content_index: 0 });
        send({ type: 'response.output_audio_transcript.done', response_id: responseId, item_id: itemId, output_index: 0, content_index: 0, transcript: text });
        send({ type: 'response.content_part.done', response_id: responseId, item_id: itemId, output_index: 0, content_index: 0, part: { type: 'audio', transcript: text } });
        const done = { ...item, status: 'completed', content: [{ type: 'output_audio', transcript: text }] };
        send({ type: 'response.output_item.done', response_id: responseId, output_index: 0, item: done });
        send({ type: 'conversation.item.done', previous_item_id: previous, item: done });
        finish('completed', [done]);
      })();
    };

    // Server VAD over the input audio.
    let vad: { itemId: string; silenceMs: number } | undefined;
    let audioMs = 0;
    let frame = Buffer.alloc(0);
    const speechStart = (itemId: string): void => {
      counters.speechStarted++;
      const td = turnDetection();
      const prefix = typeof td?.['prefix_padding_ms'] === 'number' ? td['prefix_padding_ms'] : 300;
      send({ type: 'input_audio_buffer.speech_started', audio_start_ms: Math.max(0, Math.round(audioMs - prefix)), item_id: itemId });
      if (active && td?.['interrupt_response'] !== false) active.cancel('turn_detected');
    };
    const speechStop = (itemId: string, transcript?: string): void => {
      send({ type: 'input_audio_buffer.speech_stopped', audio_end_ms: Math.round(audioMs), item_id: itemId });
      const previous = addItem(itemId, { role: 'user', audioMs: 0 });
      send({ type: 'input_audio_buffer.committed', previous_item_id: previous, item_id: itemId });
      const item = { id: itemId, object: 'realtime.item', type: 'message', status: 'completed', role: 'user', content: [{ type: 'input_audio', transcript: null }] };
      send({ type: 'conversation.item.added', previous_item_id: previous, item });
      send({ type: 'conversation.item.done', previous_item_id: previous, item });
      if (isRecord(input()['transcription'])) {
        const said = transcript ?? userTranscripts.shift() ?? '';
        send({ type: 'conversation.item.input_audio_transcription.completed', item_id: itemId, content_index: 0, transcript: said, usage: { type: 'duration', seconds: 1 } });
      }
      const td = turnDetection();
      if (td && td['create_response'] !== false) runResponse();
    };
    const onAudio = (bytes: Buffer): void => {
      const fmt = formatOf(input());
      const { rate, bytesPerSample } = FORMATS[fmt] ?? { rate: 24000, bytesPerSample: 2 };
      const frameBytes = (rate * FRAME_MS * bytesPerSample) / 1000;
      frame = Buffer.concat([frame, bytes]);
      while (frame.length >= frameBytes) {
        const f = frame.subarray(0, frameBytes);
        frame = frame.subarray(frameBytes);
        audioMs += FRAME_MS;
        if (!turnDetection()) continue;
        const pcm = fmt === 'audio/pcmu' ? mulawDecode(f) : fmt === 'audio/pcma' ? alawDecode(f) : new Int16Array(Uint8Array.from(f).buffer);
        const loud = rmsDbfs(pcm) > (opts.vadThresholdDbfs ?? -45);
        if (!vad && loud) {
          vad = { itemId: `item_${randomId(20)}`, silenceMs: 0 };
          speechStart(vad.itemId);
        } else if (vad) {
          vad.silenceMs = loud ? 0 : vad.silenceMs + FRAME_MS;
          const td = turnDetection();
          const needed = typeof td?.['silence_duration_ms'] === 'number' ? td['silence_duration_ms'] : (opts.vadSilenceMs ?? 500);
          if (vad.silenceMs >= needed) {
            const id = vad.itemId;
            vad = undefined;
            speechStop(id);
          }
        }
      }
    };

    send({ type: 'session.created', session });

    ws.on('message', (data: Buffer, isBinary) => {
      let ev: Record<string, unknown>;
      try {
        ev = JSON.parse(data.toString()) as Record<string, unknown>;
        if (isBinary || !isRecord(ev)) throw new Error('not an object');
      } catch {
        error('Invalid JSON: the event must be a JSON object.', 'invalid_json', undefined);
        return;
      }
      const type = ev['type'];
      if (type === 'input_audio_buffer.append') {
        counters.audioAppends++;
        if (typeof ev['audio'] !== 'string') return error("Missing required parameter: 'audio'.", 'missing_required_parameter', ev['event_id']);
        const bytes = Buffer.from(ev['audio'], 'base64');
        handle.audioBytes += bytes.length;
        onAudio(bytes);
        return;
      }
      handle.events.push(ev);
      switch (type) {
        case 'session.update': {
          counters.sessionUpdates++;
          const s = ev['session'];
          if (!isRecord(s) || s['type'] !== 'realtime') return error("Missing required parameter: 'session.type'.", 'missing_required_parameter', ev['event_id']);
          for (const side of ['input', 'output'] as const) {
            const a = isRecord(s['audio']) ? s['audio'][side] : undefined;
            const f = isRecord(a) && isRecord(a['format']) ? a['format']['type'] : undefined;
            if (f !== undefined && (typeof f !== 'string' || !(f in FORMATS))) return error(`Invalid value: '${String(f)}'. Supported values are: 'audio/pcm', 'audio/pcmu', and 'audio/pcma'.`, 'invalid_value', ev['event_id']);
          }
          merge(session, s);
          send({ type: 'session.updated', session });
          return;
        }
        case 'input_audio_buffer.clear':
          frame = Buffer.alloc(0);
          vad = undefined;
          send({ type: 'input_audio_buffer.cleared' });
          return;
        case 'input_audio_buffer.commit': {
          const itemId = `item_${randomId(20)}`;
          const previous = addItem(itemId, { role: 'user', audioMs: 0 });
          send({ type: 'input_audio_buffer.committed', previous_item_id: previous, item_id: itemId });
          return;
        }
        case 'conversation.item.create': {
          const item = ev['item'];
          if (!isRecord(item)) return error("Missing required parameter: 'item'.", 'missing_required_parameter', ev['event_id']);
          if (item['type'] === 'function_call_output') {
            const known = [...items.values()].some((m) => m.callId === item['call_id']);
            if (!known || typeof item['output'] !== 'string') return error(`Tool call ID '${String(item['call_id'])}' not found in conversation.`, 'invalid_value', ev['event_id']);
            counters.functionOutputs++;
            handle.functionOutputs.push({ call_id: item['call_id'] as string, output: item['output'] });
            lastOutput = item['output'];
          }
          const id = typeof item['id'] === 'string' ? item['id'] : `item_${randomId(20)}`;
          const previous = addItem(id, { role: String(item['role'] ?? 'tool'), audioMs: 0 });
          const full = { ...item, id, object: 'realtime.item', status: 'completed' };
          send({ type: 'conversation.item.added', previous_item_id: previous, item: full });
          send({ type: 'conversation.item.done', previous_item_id: previous, item: full });
          return;
        }
        case 'response.create':
          // Per-response overrides (instructions) are recorded in `events`; the script decides what is said.
          runResponse();
          return;
        case 'response.cancel':
          if (!active) return error('Cancellation failed: no active response found', 'response_cancel_not_active', ev['event_id']);
          active.cancel('client_cancelled');
          return;
        case 'conversation.item.truncate': {
          counters.truncates++;
          const itemId = ev['item_id'];
          const item = typeof itemId === 'string' ? items.get(itemId) : undefined;
          if (!item || item.role !== 'assistant') return error(`Item with item_id not found: ${String(itemId)}`, 'item_not_found', ev['event_id']);
          const end = ev['audio_end_ms'];
          if (typeof end !== 'number' || end < 0 || end > Math.ceil(item.audioMs)) {
            return error(`Audio content of ${Math.round(item.audioMs)}ms is shorter than ${String(end)}ms`, 'invalid_value', ev['event_id']);
          }
          handle.truncates.push({ item_id: itemId, content_index: ev['content_index'], audio_end_ms: end });
          send({ type: 'conversation.item.truncated', item_id: itemId, content_index: ev['content_index'] ?? 0, audio_end_ms: end });
          return;
        }
        case 'output_audio_buffer.clear':
          counters.outputClears++;
          send({ type: 'output_audio_buffer.cleared', response_id: active?.id ?? null });
          return;
        default:
          error(`Invalid value: '${String(type)}'. Supported values are: 'session.update', 'input_audio_buffer.append', 'input_audio_buffer.commit', 'input_audio_buffer.clear', 'conversation.item.create', 'conversation.item.truncate', 'conversation.item.delete', 'response.create', 'response.cancel' and 'output_audio_buffer.clear'.`, 'invalid_value', ev['event_id']);
      }
    });
    ws.on('close', (code, reason) => {
      active?.cancel('disconnected');
      handle.closed = { code, reason: reason.toString() };
    });
  };

  const srv = await startWsServer({ host: opts.host, port: opts.port, accept, onConnection });
  return {
    url: `ws://${srv.hostPort}/v1/realtime`,
    counters,
    sessions,
    failNext: (how, count = 1) => {
      for (let i = 0; i < count; i++) failures.push(how);
    },
    failNextUpgrade: (status, count = 1) => {
      for (let i = 0; i < count; i++) upgradeFailures.push(status);
    },
    close: () => srv.close(),
  };
}

/** Deep-merges plain objects (session.update semantics); arrays and scalars replace. */
function merge(target: Record<string, unknown>, patch: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(patch)) {
    const t = target[k];
    if (isRecord(v) && isRecord(t)) merge(t, v);
    else target[k] = v;
  }
}
