/**
 * Streaming sample-rate conversion between the rates the platform meets: carriers (8 kHz),
 * the internal pipeline (16 kHz), TTS providers (24 kHz, some 22.05 kHz).
 *
 * The converter is a rational polyphase FIR: with g = gcd(from, to), the signal is conceptually
 * upsampled by L = to / g, low-pass filtered at the lower of the two Nyquist frequencies, and
 * downsampled by M = from / g. Only the needed outputs are computed: output m uses filter phase
 * (m·M) mod L against the input samples ending at floor(m·M / L), so each output sample costs
 * one dot product of `taps` multiply-adds.
 *
 * The prototype low-pass is a Kaiser-windowed sinc spanning {@link ZERO_CROSSINGS} zero crossings
 * of the lower rate on each side. Upsampling therefore costs 2·ZERO_CROSSINGS taps per output
 * sample; decimating by a factor D costs D times that (24 kHz → 8 kHz: 72 taps), because the
 * anti-alias filter must be D times longer in input samples to keep the same transition band.
 */

/**
 * Zero crossings of the sinc on each side, counted at the lower of the two rates: 24 taps per
 * output when upsampling, 48 for 16 kHz -> 8 kHz, 72 for 24 kHz -> 8 kHz. With {@link CUTOFF}
 * and {@link KAISER_BETA} below, 16 kHz -> 8 kHz measures -0.8 dB at 3400 Hz, -7 dB at 3800 Hz
 * and at most -54 dB from 4400 Hz on: the telephony band (300-3400 Hz) stays flat and what folds
 * back lands above 3.6 kHz. Sixteen crossings with beta 8 would reach -71 dB but cost a third
 * more per sample, and this is the per-frame hot path.
 */
const ZERO_CROSSINGS = 12;

/** Cut-off (-6 dB point) as a fraction of the lower rate's Nyquist frequency. */
const CUTOFF = 0.94;

/**
 * Kaiser window shape parameter. 6.0 trades stop-band depth (about -55 dB just past the band
 * edge, deeper further out) for a narrower transition at this length: folded-back energy stays
 * well under the ~38 dB SNR of the G.711 the audio mostly comes from or goes to.
 */
const KAISER_BETA = 6.0;

/**
 * Exact 2:1 and 1:2 conversions (8 kHz <-> 16 kHz on every call, both directions, every 20 ms) use a
 * 47-tap half-band FIR instead of the polyphase bank. A half-band filter has every other coefficient
 * zero except the centre one (0.5), so upsampling copies every second output straight from the input
 * and computes the other with 12 multiplies (the coefficients are symmetric: pairs of samples are
 * added first), and decimating costs 12 multiplies plus one per output: about a quarter of the
 * 24- and 48-tap polyphase work, which is what lets one core carry a thousand calls.
 *
 * Designed with scipy 1.17 as a Vaidyanathan-Nguyen half-band (`remez` of the 24-tap "g" filter on
 * [0, 0.25] weighted 3 on [0, 2 kHz] and 1 on [2, 3.5 kHz] at 16 kHz, interleaved with the 0.5 centre
 * tap). At the 16 kHz side: within ±0.02 dB up to 3.4 kHz, at most -53 dB from 4.5 kHz and -62 dB from
 * 6 kHz on (the rejection that matters: what aliases into, or images out of, the telephone band).
 * The same group delay as the polyphase design (23 samples at the higher rate), and the same output
 * counts and streaming behaviour.
 *
 * `HALF_BAND[i]` is h[2i] (= h[46 - 2i]) of the 47-tap filter, outermost first; h[23] = 0.5.
 */
const HALF_BAND = [
  -0.001191339556751985, 0.0024194136483232992, -0.0040252231703228735, 0.0060437487591530961, -0.0089266153245606255, 0.013066789613299889,
  -0.018720944610163499, 0.026508318828028059, -0.038187527067063645, 0.058287987903748076, -0.10287636296915831, 0.31724699076730545,
] as const;
/** Input samples of history the half-band paths keep: 23 at the low rate (upsampling), 46 at the high rate (decimating). */
const HALF_BAND_UP_HISTORY = 23;
const HALF_BAND_DOWN_HISTORY = 46;

/** Upper bound on the coefficients of one filter bank; guards against absurd rate pairs. */
const MAX_COEFFICIENTS = 1 << 20;

/** One precomputed polyphase filter bank, shared by every resampler with the same rate pair. */
interface FilterBank {
  /** Upsampling factor (number of phases). */
  readonly up: number;
  /** Downsampling factor. */
  readonly down: number;
  /** Taps per phase: input samples read per output sample. A multiple of 4. */
  readonly taps: number;
  /**
   * Phase-major coefficients, `taps` per phase, stored time-reversed so the dot product runs
   * forward over the history buffer (oldest sample first).
   */
  readonly coefficients: Float32Array;
  /** For phase p: the phase of the next output sample, (p + down) mod up. */
  readonly nextPhase: Int32Array;
  /** For phase p: how many input samples the next output sample advances, floor((p + down) / up). */
  readonly advance: Int32Array;
}

const banks = new Map<string, FilterBank>();

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** Zeroth-order modified Bessel function of the first kind, by its power series. */
function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 50; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-12) break;
  }
  return sum;
}

function buildBank(fromRate: number, toRate: number): FilterBank {
  const g = gcd(fromRate, toRate);
  const up = toRate / g;
  const down = fromRate / g;
  // Rounded up to a multiple of 4 for the unrolled dot product; the design spans all taps.
  const taps = 4 * Math.ceil((2 * ZERO_CROSSINGS * Math.max(1, down / up)) / 4);
  const length = taps * up;
  if (length > MAX_COEFFICIENTS) {
    throw new RangeError(
      `Resampler: ${fromRate} -> ${toRate} Hz needs ${length} filter coefficients (limit ${MAX_COEFFICIENTS}); ` +
        'the rates share too small a common divisor',
    );
  }
  // Design at the upsampled rate up·fromRate. Cut-off in cycles per upsampled sample.
  const cutoff = (CUTOFF * 0.5 * Math.min(fromRate, toRate)) / (up * fromRate);
  // Integer centre so that integer-ratio conversions (8k <-> 16k) have an integer delay.
  const centre = Math.floor((length - 1) / 2);
  const i0Beta = besselI0(KAISER_BETA);
  const prototype = new Float64Array(length);
  for (let n = 0; n <= 2 * centre; n++) {
    const x = n - centre;
    const sinc = x === 0 ? 2 * cutoff : Math.sin(2 * Math.PI * cutoff * x) / (Math.PI * x);
    const r = x / centre;
    const window = besselI0(KAISER_BETA * Math.sqrt(Math.max(0, 1 - r * r))) / i0Beta;
    prototype[n] = sinc * window;
  }
  // Split into phases; normalise every phase to unity DC gain so a constant input gives a
  // constant output whatever the phase (removes the small per-phase gain ripple).
  const coefficients = new Float32Array(length);
  for (let p = 0; p < up; p++) {
    let sum = 0;
    for (let k = 0; k < taps; k++) sum += prototype[p + k * up]!;
    for (let k = 0; k < taps; k++) {
      // Tap k multiplies x[i - k]; store reversed so index taps-1-k holds it.
      coefficients[p * taps + (taps - 1 - k)] = prototype[p + k * up]! / sum;
    }
  }
  const nextPhase = new Int32Array(up);
  const advance = new Int32Array(up);
  for (let p = 0; p < up; p++) {
    nextPhase[p] = (p + down) % up;
    advance[p] = Math.floor((p + down) / up);
  }
  return { up, down, taps, coefficients, nextPhase, advance };
}

function bankFor(fromRate: number, toRate: number): FilterBank {
  const key = `${fromRate}:${toRate}`;
  let bank = banks.get(key);
  if (bank === undefined) {
    bank = buildBank(fromRate, toRate);
    banks.set(key, bank);
  }
  return bank;
}

function assertRate(rate: number, name: string): void {
  if (!Number.isInteger(rate) || rate <= 0) {
    throw new RangeError(`Resampler: ${name} must be a positive integer number of Hz, got ${rate}`);
  }
}

/**
 * Streaming resampler for one audio stream. Keeps the filter history and the output phase
 * between calls, so a stream cut into 20 ms frames produces exactly the same samples as the
 * whole stream converted at once: no clicks at frame edges and no drift. After S input samples
 * in total the resampler has produced exactly ceil(S · toRate / fromRate) output samples.
 *
 * The output is delayed by the filter's group delay (half the filter length: 12 samples of the
 * lower rate with the current design, 1.5 ms at 8 kHz) and starts from silent history.
 *
 * When both rates are equal `process` returns a copy of its input.
 */
export class Resampler {
  private readonly bank: FilterBank | undefined;
  /** 'up2' / 'down2': the half-band path for an exact 1:2 / 2:1 ratio. */
  private readonly mode: 'copy' | 'up2' | 'down2' | 'bank';
  /** History (taps - 1 samples) followed by the current input; grown only when input grows. */
  private buffer: Int16Array;
  /** Index, relative to the first sample of the next input, of the newest sample the next output reads. */
  private position = 0;
  /** Filter phase of the next output sample. */
  private phase = 0;

  constructor(
    readonly fromRate: number,
    readonly toRate: number,
  ) {
    assertRate(fromRate, 'fromRate');
    assertRate(toRate, 'toRate');
    this.mode = fromRate === toRate ? 'copy' : toRate === 2 * fromRate ? 'up2' : fromRate === 2 * toRate ? 'down2' : 'bank';
    this.bank = this.mode === 'bank' ? bankFor(fromRate, toRate) : undefined;
    const history = this.mode === 'up2' ? HALF_BAND_UP_HISTORY : this.mode === 'down2' ? HALF_BAND_DOWN_HISTORY : this.bank ? this.bank.taps - 1 : 0;
    // Room for the history plus a 20 ms frame at the input rate; grows if callers push more.
    this.buffer = new Int16Array(history + Math.ceil(fromRate / 50));
  }

  /** How many samples the next `process` of `inputLength` samples returns. */
  outputLength(inputLength: number): number {
    if (this.mode === 'copy') return inputLength;
    if (this.mode === 'up2') return 2 * inputLength;
    if (this.mode === 'down2') return inputLength > this.position ? Math.ceil((inputLength - this.position) / 2) : 0;
    const { up, down } = this.bank!;
    // Outputs whose newest input index lies in [0, n): upsampled time position·up + phase < n·up.
    const remaining = (inputLength - this.position) * up - this.phase;
    return remaining > 0 ? Math.ceil(remaining / down) : 0;
  }

  /** Converts the next chunk of the stream. Returns a new array (possibly empty). */
  process(input: Int16Array): Int16Array {
    const out = new Int16Array(this.outputLength(input.length));
    this.processInto(input, out);
    return out;
  }

  /**
   * Converts the next chunk of the stream into `out`, which must hold at least
   * `outputLength(input.length)` samples; allocates nothing (for the per-frame hot path). Returns the
   * number of samples written.
   */
  processInto(input: Int16Array, out: Int16Array): number {
    const count = this.outputLength(input.length);
    if (out.length < count) throw new RangeError(`Resampler.processInto: output holds ${out.length} samples, ${count} needed`);
    if (this.mode === 'copy') {
      out.set(input);
      return count;
    }
    const history = this.mode === 'up2' ? HALF_BAND_UP_HISTORY : this.mode === 'down2' ? HALF_BAND_DOWN_HISTORY : this.bank!.taps - 1;
    const n = input.length;
    if (this.buffer.length < history + n) {
      const grown = new Int16Array(history + n);
      grown.set(this.buffer.subarray(0, history));
      this.buffer = grown;
    }
    const buffer = this.buffer;
    buffer.set(input, history);
    if (this.mode === 'up2') upsampleHalfBand(buffer, n, out);
    else if (this.mode === 'down2') this.position = decimateHalfBand(buffer, n, this.position, out) - n;
    else this.polyphase(n, count, out);
    // Keep the last `history` samples for the next call.
    buffer.copyWithin(0, n, n + history);
    return count;
  }

  private polyphase(n: number, count: number, out: Int16Array): void {
    const { taps, coefficients, nextPhase, advance } = this.bank!;
    const buffer = this.buffer;

    let position = this.position;
    let phase = this.phase;
    for (let m = 0; m < count; m++) {
      // Newest sample is buffer[history + position]; the window starts taps - 1 before it, at
      // buffer[position]. Four independent accumulators keep the floating-point adders busy
      // (about twice as fast as one running sum in V8).
      let c = phase * taps;
      const end = c + taps;
      let b = position;
      let acc0 = 0;
      let acc1 = 0;
      let acc2 = 0;
      let acc3 = 0;
      for (; c < end; c += 4, b += 4) {
        acc0 += coefficients[c]! * buffer[b]!;
        acc1 += coefficients[c + 1]! * buffer[b + 1]!;
        acc2 += coefficients[c + 2]! * buffer[b + 2]!;
        acc3 += coefficients[c + 3]! * buffer[b + 3]!;
      }
      const rounded = Math.round(acc0 + acc1 + acc2 + acc3);
      out[m] = rounded > 32767 ? 32767 : rounded < -32768 ? -32768 : rounded;
      position += advance[phase]!;
      phase = nextPhase[phase]!;
    }
    this.position = position - n;
    this.phase = phase;
  }

  /** Forgets the stream: clears the filter history and output phase, as if newly constructed. */
  reset(): void {
    this.buffer.fill(0);
    this.position = 0;
    this.phase = 0;
  }
}

/** Rounds to the nearest integer and clips to the PCM16 range. */
function toPcm16(v: number): number {
  const r = Math.round(v);
  return r > 32767 ? 32767 : r < -32768 ? -32768 : r;
}

/**
 * 1:2 half-band interpolation. `buf` holds 23 samples of history then `n` new samples; writes 2n
 * outputs. Input s (buf[23 + s]) yields output 2s, filtered from buf[s .. s + 23], and output 2s + 1,
 * which is the input delayed by the filter's centre (buf[s + 12]). Gains are doubled for the zeros
 * the interpolation inserts.
 */
function upsampleHalfBand(buf: Int16Array, n: number, out: Int16Array): void {
  const c0 = 2 * HALF_BAND[0], c1 = 2 * HALF_BAND[1], c2 = 2 * HALF_BAND[2], c3 = 2 * HALF_BAND[3];
  const c4 = 2 * HALF_BAND[4], c5 = 2 * HALF_BAND[5], c6 = 2 * HALF_BAND[6], c7 = 2 * HALF_BAND[7];
  const c8 = 2 * HALF_BAND[8], c9 = 2 * HALF_BAND[9], c10 = 2 * HALF_BAND[10], c11 = 2 * HALF_BAND[11];
  for (let s = 0, o = 0; s < n; s++, o += 2) {
    const acc =
      c0 * (buf[s]! + buf[s + 23]!) +
      c1 * (buf[s + 1]! + buf[s + 22]!) +
      c2 * (buf[s + 2]! + buf[s + 21]!) +
      c3 * (buf[s + 3]! + buf[s + 20]!) +
      c4 * (buf[s + 4]! + buf[s + 19]!) +
      c5 * (buf[s + 5]! + buf[s + 18]!) +
      c6 * (buf[s + 6]! + buf[s + 17]!) +
      c7 * (buf[s + 7]! + buf[s + 16]!) +
      c8 * (buf[s + 8]! + buf[s + 15]!) +
      c9 * (buf[s + 9]! + buf[s + 14]!) +
      c10 * (buf[s + 10]! + buf[s + 13]!) +
      c11 * (buf[s + 11]! + buf[s + 12]!);
    out[o] = toPcm16(acc);
    out[o + 1] = buf[s + 12]!;
  }
}

/**
 * 2:1 half-band decimation. `buf` holds 46 samples of history then `n` new samples; output m reads
 * the window ending at its newest input r (buf[r .. r + 46]), for r = first, first + 2, … < n.
 * Returns the r after the last output (the next call continues from r - n).
 */
function decimateHalfBand(buf: Int16Array, n: number, first: number, out: Int16Array): number {
  const c0 = HALF_BAND[0], c1 = HALF_BAND[1], c2 = HALF_BAND[2], c3 = HALF_BAND[3];
  const c4 = HALF_BAND[4], c5 = HALF_BAND[5], c6 = HALF_BAND[6], c7 = HALF_BAND[7];
  const c8 = HALF_BAND[8], c9 = HALF_BAND[9], c10 = HALF_BAND[10], c11 = HALF_BAND[11];
  let r = first;
  for (let m = 0; r < n; r += 2, m++) {
    const acc =
      0.5 * buf[r + 23]! +
      c0 * (buf[r]! + buf[r + 46]!) +
      c1 * (buf[r + 2]! + buf[r + 44]!) +
      c2 * (buf[r + 4]! + buf[r + 42]!) +
      c3 * (buf[r + 6]! + buf[r + 40]!) +
      c4 * (buf[r + 8]! + buf[r + 38]!) +
      c5 * (buf[r + 10]! + buf[r + 36]!) +
      c6 * (buf[r + 12]! + buf[r + 34]!) +
      c7 * (buf[r + 14]! + buf[r + 32]!) +
      c8 * (buf[r + 16]! + buf[r + 30]!) +
      c9 * (buf[r + 18]! + buf[r + 28]!) +
      c10 * (buf[r + 20]! + buf[r + 26]!) +
      c11 * (buf[r + 22]! + buf[r + 24]!);
    out[m] = toPcm16(acc);
  }
  return r;
}

/**
 * Converts a complete clip in one call (e.g. a WAV prompt loaded at boot). For live streams use
 * one {@link Resampler} per stream so the filter state carries across frames.
 */
export function resample(input: Int16Array, fromRate: number, toRate: number): Int16Array {
  return new Resampler(fromRate, toRate).process(input);
}
