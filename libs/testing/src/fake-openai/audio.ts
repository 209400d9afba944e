/** Sample rate of OpenAI `pcm` speech output: 24 kHz, 16-bit little-endian, mono. */
export const TTS_SAMPLE_RATE = 24_000;

/** Fundamental of the synthetic voice, in Hz: a low adult voice. */
const F0_HZ = 140;
/** Relative amplitudes of harmonics 1..n, falling off like a vowel's spectrum. */
const HARMONICS = [1, 0.6, 0.35, 0.2, 0.1];
/** Syllables per second of the amplitude envelope: roughly conversational speech. */
const SYLLABLE_HZ = 4;
/** Target RMS relative to full scale: 0.1 is -20 dBFS. */
const TARGET_RMS = 0.1;
/** Fade in and out so the clip starts and ends at zero without a click. */
const FADE_MS = 10;

/**
 * A deterministic voiced signal that speech pipelines treat like speech: harmonics of ~140 Hz with
 * slow pitch movement and a syllable-rate amplitude envelope, normalised to -20 dBFS RMS.
 * Returns PCM16LE mono at `sampleRate`, `round(durationMs * sampleRate / 1000)` samples long.
 */
export function synthesizeVoice(durationMs: number, sampleRate = TTS_SAMPLE_RATE): Buffer {
  const n = Math.max(0, Math.round((durationMs * sampleRate) / 1000));
  const out = Buffer.alloc(n * 2);
  if (n === 0) return out;
  const samples = new Float64Array(n);
  const fade = Math.max(1, Math.round((FADE_MS * sampleRate) / 1000));
  let phase = 0;
  let sumSquares = 0;
  for (let i = 0; i < n; i++) {
    const t = i / sampleRate;
    // Intonation: +-5 % pitch drift, integrated into the phase so the waveform stays continuous.
    phase += (2 * Math.PI * F0_HZ * (1 + 0.05 * Math.sin(2 * Math.PI * 0.7 * t))) / sampleRate;
    let v = 0;
    for (let k = 0; k < HARMONICS.length; k++) v += (HARMONICS[k] ?? 0) * Math.sin((k + 1) * phase);
    const syllable = Math.sin(Math.PI * SYLLABLE_HZ * t);
    const envelope = 0.15 + 0.85 * syllable * syllable;
    const edge = Math.min(1, i / fade, (n - 1 - i) / fade);
    v *= envelope * edge;
    samples[i] = v;
    sumSquares += v * v;
  }
  const rms = Math.sqrt(sumSquares / n);
  const gain = rms > 0 ? TARGET_RMS / rms : 0;
  for (let i = 0; i < n; i++) {
    const s = Math.max(-1, Math.min(1, (samples[i] ?? 0) * gain));
    out.writeInt16LE(Math.round(s * 32767), i * 2);
  }
  return out;
}

/** The 44-byte RIFF/WAVE header for `dataBytes` of PCM16 mono at `sampleRate`. */
export function wavHeader(dataBytes: number, sampleRate = TTS_SAMPLE_RATE): Buffer {
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'ascii');
  h.writeUInt32LE(36 + dataBytes, 4);
  h.write('WAVE', 8, 'ascii');
  h.write('fmt ', 12, 'ascii');
  h.writeUInt32LE(16, 16); // fmt chunk size
  h.writeUInt16LE(1, 20); // PCM
  h.writeUInt16LE(1, 22); // mono
  h.writeUInt32LE(sampleRate, 24);
  h.writeUInt32LE(sampleRate * 2, 28); // byte rate
  h.writeUInt16LE(2, 32); // block align
  h.writeUInt16LE(16, 34); // bits per sample
  h.write('data', 36, 'ascii');
  h.writeUInt32LE(dataBytes, 40);
  return h;
}

/**
 * Duration in seconds of a PCM WAV file, read from its `fmt ` and `data` chunks; undefined when
 * the bytes are not a WAV the header walk understands (the transcription fake then reports 0).
 */
export function wavDurationSeconds(file: Buffer): number | undefined {
  if (file.length < 12 || file.toString('ascii', 0, 4) !== 'RIFF' || file.toString('ascii', 8, 12) !== 'WAVE') {
    return undefined;
  }
  let byteRate: number | undefined;
  let offset = 12;
  while (offset + 8 <= file.length) {
    const id = file.toString('ascii', offset, offset + 4);
    const size = file.readUInt32LE(offset + 4);
    if (id === 'fmt ' && offset + 16 <= file.length) byteRate = file.readUInt32LE(offset + 16);
    if (id === 'data') {
      if (!byteRate) return undefined;
      return Math.min(size, file.length - offset - 8) / byteRate;
    }
    offset += 8 + size + (size % 2);
  }
  return undefined;
}
