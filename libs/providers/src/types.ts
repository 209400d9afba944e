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
