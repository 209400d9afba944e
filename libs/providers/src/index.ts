export { OpenAIChatModel } from './openai/llm.ts';
export { OpenAISpeechToText } from './openai/stt.ts';
export { OpenAITextToSpeech } from './openai/tts.ts';
export { postOpenAI } from './openai/http.ts';
export type { OpenAICompatibleOptions } from './openai/http.ts';
export type { ChatMessage, LanguageModel, LlmEvent, LlmTool, SpeechToText, TextToSpeech, ToolCallRequest } from './types.ts';
