export { OpenAIChatModel } from './openai/llm.ts';
export { OpenAISpeechToText } from './openai/stt.ts';
export { OpenAITextToSpeech } from './openai/tts.ts';
export { postOpenAI } from './openai/http.ts';
export type { OpenAICompatibleOptions } from './openai/http.ts';
export { DeepgramSpeechToText } from './deepgram/stt.ts';
export type { DeepgramOptions } from './deepgram/stt.ts';
export { ElevenLabsTextToSpeech } from './elevenlabs/tts.ts';
export type { ElevenLabsOptions, ElevenLabsPcmFormat } from './elevenlabs/tts.ts';
export { AnthropicChatModel, CALL_STARTED_TURN, toAnthropicMessages } from './anthropic/llm.ts';
export type { AnthropicBlock, AnthropicMessage, AnthropicOptions } from './anthropic/llm.ts';
export { OpenAIRealtime } from './openai/realtime.ts';
export type { OpenAIRealtimeOptions } from './openai/realtime.ts';
export { ESPEAK_NATIVE_RATE, EspeakTextToSpeech } from './local/espeak-tts.ts';
export type { EspeakOptions } from './local/espeak-tts.ts';
export { ProviderEmitter } from './emitter.ts';
export type {
  ChatMessage,
  LanguageModel,
  LlmEvent,
  LlmTool,
  ProviderClosed,
  ProviderEvents,
  S2sAudio,
  S2sFunctionCall,
  S2sSession,
  S2sSessionEvents,
  S2sTranscript,
  SpeechToSpeech,
  SpeechToText,
  StreamingSpeechToText,
  StreamingTextToSpeech,
  SttStream,
  SttStreamEvents,
  SttTranscript,
  TextToSpeech,
  ToolCallRequest,
  TtsAlignment,
  TtsInputStream,
} from './types.ts';
