import { ErrorCodes, SwitchboardError } from '@switchboard/contracts';
import type { TextToSpeech } from '../types.ts';
import { postOpenAI, type OpenAICompatibleOptions } from './http.ts';

/** `/v1/audio/speech` with `response_format: pcm` (24 kHz PCM16 LE mono), streamed as it arrives. */
export class OpenAITextToSpeech implements TextToSpeech {
  readonly name = 'openai-tts';
  readonly sampleRate = 24000;
  constructor(private readonly opts: OpenAICompatibleOptions & { model: string; voice: string; extra?: Record<string, unknown> | undefined }) {}

  async *synthesize(text: string, signal?: AbortSignal): AsyncIterable<Int16Array> {
    const body = { ...(this.opts.extra ?? {}), model: this.opts.model, voice: this.opts.voice, input: text, response_format: 'pcm' };
    const res = await postOpenAI(this.opts, '/audio/speech', JSON.stringify(body), 'application/json', signal);
    if (!res.body) return;
    let carry: number | undefined;
    try {
      for await (const bytes of res.body as unknown as AsyncIterable<Uint8Array>) {
        let start = 0;
        const total = bytes.length + (carry === undefined ? 0 : 1);
        const out = new Int16Array(Math.floor(total / 2));
        let o = 0;
        if (carry !== undefined && bytes.length > 0) {
          out[o++] = (carry | (bytes[0]! << 8)) << 16 >> 16;
          start = 1;
          carry = undefined;
        }
        for (let i = start; i + 1 < bytes.length; i += 2) out[o++] = (bytes[i]! | (bytes[i + 1]! << 8)) << 16 >> 16;
        if ((bytes.length - start) % 2 === 1) carry = bytes[bytes.length - 1];
        if (o > 0) yield out.subarray(0, o);
      }
    } catch (err) {
      if (err instanceof SwitchboardError || signal?.aborted) throw err;
      throw new SwitchboardError(ErrorCodes.PROVIDER_FAILED, `speech stream broke (${(err as Error).message})`, { retryable: true });
    }
  }
}
