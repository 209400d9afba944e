import { encodeWav } from '@switchboard/audio';
import { ErrorCodes, SwitchboardError } from '@switchboard/contracts';
import type { SpeechToText } from '../types.ts';
import { postOpenAI, type OpenAICompatibleOptions } from './http.ts';

/** Batch STT per utterance over `/v1/audio/transcriptions` (multipart WAV). */
export class OpenAISpeechToText implements SpeechToText {
  readonly name = 'openai-stt';
  constructor(
    private readonly opts: OpenAICompatibleOptions & { model: string; language?: string | undefined },
  ) {}

  async transcribe(audio: Int16Array, sampleRate: number, signal?: AbortSignal): Promise<string> {
    const form = new FormData();
    form.append('file', new Blob([encodeWav(audio, sampleRate)], { type: 'audio/wav' }), 'utterance.wav');
    form.append('model', this.opts.model);
    form.append('response_format', 'json');
    if (this.opts.language) form.append('language', this.opts.language);
    const res = await postOpenAI(this.opts, '/audio/transcriptions', form, undefined, signal);
    let body: { text?: string };
    try {
      body = (await res.json()) as { text?: string };
    } catch (err) {
      if (signal?.aborted) throw err;
      throw new SwitchboardError(ErrorCodes.PROVIDER_FAILED, `transcription response broke (${(err as Error).message})`, { retryable: true });
    }
    return (body.text ?? '').trim();
  }
}
