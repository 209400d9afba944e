import type { SwitchboardError } from '@switchboard/contracts';

/** A message in the model conversation (OpenAI chat shape, the lingua franca of adapters). */
export type ChatMessage =
  | { role: 'system'; content: string }
  | { role: 'user'; content: string }
  | { role: 'assistant'; content: string | null; tool_calls?: ToolCallRequest[] }
  | { role: 'tool'; tool_call_id: string; content: string };

export interface ToolCallRequest {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

/** A tool as offered to the model. */
export interface LlmTool {
  name: string;
  description: string;
  parameters: Record<string, unknown>;
}

export type LlmEvent =
  | { type: 'text'; delta: string }
  | { type: 'tool-calls'; calls: ToolCallRequest[] }
  | { type: 'done'; finishReason: string; usage?: { promptTokens: number; completionTokens: number } };

export interface LanguageModel {
  readonly name: string;
  /** Streams one model turn. Text deltas as they come; tool calls once complete; then done. */
  stream(req: { messages: ChatMessage[]; tools: LlmTool[]; signal?: AbortSignal }): AsyncIterable<LlmEvent>;
}

export interface SpeechToText {
  readonly name: string;
  /** Transcribes one utterance (PCM16 mono). */
  transcribe(audio: Int16Array, sampleRate: number, signal?: AbortSignal): Promise<string>;
}

export interface TextToSpeech {
  readonly name: string;
  /** Sample rate of the PCM16 mono chunks `synthesize` yields. */
  readonly sampleRate: number;
  synthesize(text: string, signal?: AbortSignal): AsyncIterable<Int16Array>;
}

// ---------------------------------------------------------------------------------------------------
// Streaming providers (issue 6). Events are delivered through `on`/`off`/`once` (a typed Node
// EventEmitter underneath). Unlike a bare EventEmitter, an `error` event with no listener is dropped,
// never thrown: a provider failure inside a live call must not crash the process. Every fatal failure
// is an `error` event followed by exactly one `closed` event.
// ---------------------------------------------------------------------------------------------------

/** The subscription surface of a provider session; `Events` maps an event name to its listener arguments. */
export interface ProviderEvents<Events extends Record<string, unknown[]>> {
  on<E extends keyof Events & string>(event: E, listener: (...args: Events[E]) => void): this;
  once<E extends keyof Events & string>(event: E, listener: (...args: Events[E]) => void): this;
  off<E extends keyof Events & string>(event: E, listener: (...args: Events[E]) => void): this;
}

/** Why a provider session ended. */
export interface ProviderClosed {
  /** WebSocket close code (1000 normal; 1011 provider error; 1006 dropped without a close frame). */
  code: number;
  /** Close reason as the provider sent it (Deepgram: `NET-0001` on idle). */
  reason: string;
  /** True when `close()` was called by us; false when the provider or the network ended it. */
  byClient: boolean;
}

/** One streaming transcript result. */
export interface SttTranscript {
  /** The transcript of this segment (may be empty for a final that heard nothing). */
  text: string;
  /** False for interim (will be revised), true once the segment is settled. */
  isFinal: boolean;
  /** True when the provider's endpointing decided the speaker paused: the utterance is complete. */
  speechFinal: boolean;
  /** True when this final result was forced by `finalize()`. */
  fromFinalize?: boolean;
  /** Provider confidence 0..1 of the best alternative, when given. */
  confidence?: number;
  /** Segment start, seconds from the start of the stream. */
  start?: number;
  /** Segment duration, seconds. */
  duration?: number;
}

export interface SttStreamEvents extends Record<string, unknown[]> {
  /** An interim or final result. */
  transcript: [SttTranscript];
  /** The provider saw a gap after the last word (Deepgram `UtteranceEnd`); `lastWordEnd` in seconds. */
  utteranceEnd: [{ lastWordEnd: number }];
  /** A provider failure (PROVIDER_FAILED; `retryable` says whether reopening may help). */
  error: [SwitchboardError];
  /** The stream ended; always the last event, exactly once. */
  closed: [ProviderClosed];
}

/** One live recognition stream (a WebSocket per call leg). Subscribe with `on(...)`. */
export interface SttStream extends ProviderEvents<SttStreamEvents> {
  /** Sends raw audio in the encoding and rate given to `open` (mulaw bytes or PCM16 LE bytes). Dropped once closed. */
  send(audio: Uint8Array): void;
  /** Asks the provider to flush what it has heard as a final result now (`fromFinalize: true`). */
  finalize(): void;
  /** Flushes, waits for the provider to finish (final results, metadata) and closes. Idempotent. */
  close(): Promise<void>;
}

export interface StreamingSpeechToText {
  readonly name: string;
  /** Opens a live stream; rejects with PROVIDER_FAILED (401 → not retryable) when the handshake fails. */
  open(opts: { sampleRate: number; encoding: 'linear16' | 'mulaw'; language?: string }): Promise<SttStream>;
}

/** Token-by-token text in, PCM16 chunks out: one utterance of incremental TTS. */
export interface TtsInputStream extends AsyncIterable<Int16Array> {
  /** Appends text (an LLM delta); the provider decides when it has enough to speak. */
  push(text: string): void;
  /** Asks the provider to speak everything pushed so far without waiting for more text. */
  flush(): void;
  /** No more text: the audio iterator ends after the last chunk. */
  end(): void;
  /** Stops now (barge-in): closes the socket, the audio iterator ends without error. */
  cancel(): void;
  /**
   * Character timings of the audio received so far, in ms from the start of this stream, when the
   * provider sends alignment (ElevenLabs does): what had been said after N ms of playback.
   */
  readonly alignment?: TtsAlignment;
}

/** Per-character timing of synthesized speech. */
export interface TtsAlignment {
  chars: string[];
  /** Start of each character, ms from the start of the stream's audio. */
  startMs: number[];
  /** Duration of each character, ms. */
  durationMs: number[];
}

/** A TextToSpeech that can also take its text incrementally. */
export interface StreamingTextToSpeech extends TextToSpeech {
  /**
   * Opens one utterance for incremental text. Audio is iterated from the returned stream (once); a
   * provider failure is thrown from the iterator as PROVIDER_FAILED. Aborting `signal` cancels and the
   * iterator throws the abort reason, like `synthesize`. Leaving the loop early cancels too.
   */
  open(signal?: AbortSignal): TtsInputStream;
}

export interface S2sAudio {
  /** μ-law 8 kHz bytes (`audio/pcmu`), straight from the provider. */
  pcmu: Uint8Array;
  /** The assistant item being spoken; pass it to `truncate` on barge-in. */
  itemId: string;
  /** The response this audio belongs to. */
  responseId: string;
}

export interface S2sTranscript {
  /** `user`: what the caller said (input transcription); `assistant`: what the model is saying. */
  role: 'user' | 'assistant';
  /** A delta when `final` is false; the whole text of the item when `final` is true. */
  text: string;
  final: boolean;
  itemId: string;
}

export interface S2sFunctionCall {
  /** Pass back to `sendFunctionResult`. */
  callId: string;
  name: string;
  /** JSON text of the arguments, as the model produced it. */
  arguments: string;
  itemId: string;
}

export interface S2sSessionEvents extends Record<string, unknown[]> {
  audio: [S2sAudio];
  transcript: [S2sTranscript];
  /** The model wants a tool run; answer with `sendFunctionResult(callId, output)`. */
  functionCall: [S2sFunctionCall];
  /** Server VAD heard the caller start speaking: barge-in (stop playback, then `truncate`). */
  speechStarted: [{ audioStartMs: number; itemId: string }];
  /** Server VAD heard the caller stop. */
  speechStopped: [{ audioEndMs: number; itemId: string }];
  /** A response finished; `status` is `completed`, `cancelled`, `failed` or `incomplete`. */
  responseDone: [{ responseId: string; status: string; usage?: { inputTokens: number; outputTokens: number } }];
  /** A provider failure. `error` events from the provider that do not end the session are `retryable: false` and the session stays open. */
  error: [SwitchboardError];
  /** The session ended; always the last event, exactly once. */
  closed: [ProviderClosed];
}

/** One speech-to-speech conversation (a WebSocket per call). Subscribe with `on(...)`. */
export interface S2sSession extends ProviderEvents<S2sSessionEvents> {
  /** Appends caller audio: μ-law 8 kHz bytes, passed through without transcoding. Dropped once closed. */
  sendAudio(pcmu: Uint8Array): void;
  /**
   * Returns a tool result (`conversation.item.create` function_call_output). `response.create` follows
   * once every function call of the response is answered and that response is done, so it may be
   * called as soon as `functionCall` fires.
   */
  sendFunctionResult(callId: string, output: string): void;
  /** Asks the model to respond now (greeting at call start); `instructions` override for this response only. */
  createResponse(opts?: { instructions?: string }): void;
  /** Cancels the response in progress (`response.cancel`). */
  cancelResponse(): void;
  /** Tells the model how much of an assistant item the caller actually heard (`conversation.item.truncate`). */
  truncate(itemId: string, audioEndMs: number): void;
  /** Replaces the session instructions (`session.update`). */
  updateInstructions?(instructions: string): void;
  /** Closes the socket. Idempotent. */
  close(): Promise<void>;
}

export interface SpeechToSpeech {
  readonly name: string;
  /** Connects and configures the session; resolves once the provider confirmed it (`session.updated`). */
  connect(opts: { instructions: string; tools: LlmTool[]; voice?: string; inputFormat: 'pcmu'; outputFormat: 'pcmu' }): Promise<S2sSession>;
}
