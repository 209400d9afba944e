/**
 * @switchboard/audio: the platform's one audio model. Internally audio is PCM16 little-endian
 * mono at 16 kHz in 20 ms frames; carriers speak G.711 at 8 kHz and TTS providers deliver
 * 24 kHz PCM. This package converts between them (G.711, resampling, framing, WAV) and
 * detects speech (VAD, endpointing). Pure TypeScript with no runtime dependencies; built for
 * the per-frame hot path.
 */

export { ALAW_SILENCE, MULAW_SILENCE, alawDecode, alawEncode, mulawDecode, mulawDecodeInto, mulawEncode, mulawEncodeInto } from './g711.ts';
export { Resampler, resample } from './resample.ts';
export { FRAME_MS, FrameChunker, INTERNAL_SAMPLE_RATE, bufferToPcm16, pcm16ToBuffer, samplesPerFrame } from './frames.ts';
export { decodeWav, durationMs, encodeWav, fixStreamedWavSizes } from './wav.ts';
export type { DecodedWav } from './wav.ts';
export { Endpointer, EnergyVad, rmsDbfs } from './vad.ts';
export type { EndpointEvent, EndpointerOptions, EnergyVadOptions, VoiceActivityDetector } from './vad.ts';
