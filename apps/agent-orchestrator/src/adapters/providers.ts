import type { Logger } from 'pino';
import { ErrorCodes, SwitchboardError, type AgentDefinition } from '@switchboard/contracts';
import {
  AnthropicChatModel,
  DeepgramSpeechToText,
  ElevenLabsTextToSpeech,
  EspeakTextToSpeech,
  OpenAIChatModel,
  OpenAIRealtime,
  OpenAISpeechToText,
  OpenAITextToSpeech,
  type LanguageModel,
  type SpeechToSpeech,
  type TextToSpeech,
} from '@switchboard/providers';
import type { OrchestratorConfig } from '../config.ts';
import { BatchTranscriber, StreamingTranscriber, type Transcriber } from '../session/transcriber.ts';

/** The adapters one agent's definition names. A pipeline agent has stt/llm/tts; an `engine` agent a speech-to-speech model. */
export interface AgentProviders {
  /** A new transcriber per call (a streaming one holds a connection). */
  transcriber(log: Logger): Transcriber;
  llm: LanguageModel;
  tts: TextToSpeech;
  /** Says a sentence when `tts` fails on it, so a TTS outage is not silence (local espeak-ng, when installed). */
  fallbackTts?: TextToSpeech;
  /** Set for agents with `engine`. */
  engine?: SpeechToSpeech;
}

/** A provider this orchestrator cannot use as configured; the message names the block and what is missing. */
function unavailable(what: string, why: string): never {
  throw new SwitchboardError(ErrorCodes.AGENT_INVALID, `${what}: ${why}`);
}

function need(value: string | undefined, what: string, variable: string): string {
  if (!value) unavailable(what, `${variable} is not set on the orchestrator`);
  return value;
}

const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);

/**
 * Builds the provider adapters an agent's definition names, keyed by each block's `provider`:
 * stt `openai` (a request per utterance) or `deepgram` (streaming); llm `openai` or `anthropic`; tts
 * `openai`, `elevenlabs` or `espeak`; engine `openai-realtime`. Keys and endpoints come from the
 * orchestrator's environment. Whatever the TTS, local espeak-ng (when installed) stands by to say a
 * sentence the TTS failed on.
 */
export function providersFor(agent: AgentDefinition, config: OrchestratorConfig): AgentProviders {
  const base = { baseUrl: config.OPENAI_BASE_URL, apiKey: config.OPENAI_API_KEY };
  const fallbackTts = EspeakTextToSpeech.locate() ? new EspeakTextToSpeech() : undefined;

  if (agent.engine) {
    const e = agent.engine;
    const engine = new OpenAIRealtime({
      apiKey: config.OPENAI_API_KEY ?? '',
      url: config.OPENAI_REALTIME_URL,
      model: e.model,
      voice: e.voice,
      ...(e.options?.turnDetection ? { turnDetection: e.options.turnDetection as Record<string, unknown> } : {}),
    });
    // The chat channel and the summary still need a text model: the OpenAI-compatible one.
    const llm = new OpenAIChatModel({ ...base, model: (e.options?.textModel as string | undefined) ?? 'gpt-4o-mini', timeoutMs: 20_000 });
    return { engine, llm, tts: fallbackTts ?? new OpenAITextToSpeech({ ...base, model: 'gpt-4o-mini-tts', voice: e.voice ?? 'alloy' }), transcriber: () => unavailable('engine', 'a speech-to-speech agent has no separate STT') };
  }
  const stt = agent.stt ?? unavailable('stt', 'missing (an agent needs an engine or stt, llm and tts)');
  const llmDef = agent.llm ?? unavailable('llm', 'missing');
  const ttsDef = agent.tts ?? unavailable('tts', 'missing');

  let transcriber: AgentProviders['transcriber'];
  switch (stt.provider) {
    case 'openai': {
      const s = new OpenAISpeechToText({ ...base, model: stt.model ?? 'whisper-1', language: stt.language });
      transcriber = () => new BatchTranscriber(s);
      break;
    }
    case 'deepgram': {
      const s = new DeepgramSpeechToText({ apiKey: need(config.DEEPGRAM_API_KEY, 'stt.provider deepgram', 'DEEPGRAM_API_KEY'), baseUrl: config.DEEPGRAM_URL, model: stt.model, language: stt.language });
      transcriber = (log) => new StreamingTranscriber(s, log, stt.language);
      break;
    }
  }

  let llm: LanguageModel;
  switch (llmDef.provider) {
    case 'openai':
      llm = new OpenAIChatModel({ ...base, model: llmDef.model ?? 'gpt-4o-mini', temperature: num(llmDef.options?.temperature), timeoutMs: 20_000 });
      break;
    case 'anthropic':
      llm = new AnthropicChatModel({
        apiKey: need(config.ANTHROPIC_API_KEY, 'llm.provider anthropic', 'ANTHROPIC_API_KEY'),
        baseUrl: config.ANTHROPIC_BASE_URL,
        model: llmDef.model ?? 'claude-3-5-haiku-latest',
        temperature: num(llmDef.options?.temperature),
        maxTokens: num(llmDef.options?.maxTokens),
        timeoutMs: 20_000,
      });
      break;
  }

  let tts: TextToSpeech;
  switch (ttsDef.provider) {
    case 'openai':
      tts = new OpenAITextToSpeech({ ...base, model: ttsDef.model ?? 'gpt-4o-mini-tts', voice: ttsDef.voice ?? 'alloy' });
      break;
    case 'elevenlabs':
      tts = new ElevenLabsTextToSpeech({
        apiKey: need(config.ELEVENLABS_API_KEY, 'tts.provider elevenlabs', 'ELEVENLABS_API_KEY'),
        voiceId: ttsDef.voice ?? unavailable('tts.provider elevenlabs', 'needs tts.voice (the ElevenLabs voice id)'),
        baseUrl: config.ELEVENLABS_URL,
        modelId: ttsDef.model,
        languageCode: ttsDef.language,
      });
      break;
    case 'espeak':
      tts = new EspeakTextToSpeech({ voice: ttsDef.voice });
      break;
  }
  return { transcriber, llm, tts, ...(fallbackTts && ttsDef.provider !== 'espeak' ? { fallbackTts } : {}) };
}
