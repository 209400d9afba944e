import type { AgentDefinition } from '@switchboard/contracts';
import { OpenAIChatModel, OpenAISpeechToText, OpenAITextToSpeech, type LanguageModel, type SpeechToText, type TextToSpeech } from '@switchboard/providers';
import type { OrchestratorConfig } from '../config.ts';

export interface AgentProviders {
  stt: SpeechToText;
  llm: LanguageModel;
  tts: TextToSpeech;
}

/** Builds the provider adapters an agent's definition names. */
export function providersFor(agent: AgentDefinition, config: OrchestratorConfig): AgentProviders {
  const base = { baseUrl: config.OPENAI_BASE_URL, apiKey: config.OPENAI_API_KEY };
  return {
    stt: new OpenAISpeechToText({ ...base, model: agent.stt.model ?? 'whisper-1', language: agent.stt.language }),
    llm: new OpenAIChatModel({ ...base, model: agent.llm.model ?? 'gpt-4o-mini', temperature: agent.llm.options?.temperature as number | undefined, timeoutMs: 20_000 }),
    tts: new OpenAITextToSpeech({ ...base, model: agent.tts.model ?? 'gpt-4o-mini-tts', voice: agent.tts.voice ?? 'alloy' }),
  };
}
