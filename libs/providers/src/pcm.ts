/**
 * Decodes PCM16 little-endian bytes that arrive in arbitrary pieces: a byte left over from one
 * piece is joined with the first byte of the next, so no sample is split or invented.
 */
export class Pcm16Decoder {
  #carry: number | undefined;

  decode(bytes: Uint8Array): Int16Array {
    const total = bytes.length + (this.#carry === undefined ? 0 : 1);
    const out = new Int16Array(Math.floor(total / 2));
    let o = 0;
    let start = 0;
    if (this.#carry !== undefined && bytes.length > 0) {
      out[o++] = ((this.#carry | (bytes[0]! << 8)) << 16) >> 16;
      start = 1;
      this.#carry = undefined;
    }
    for (let i = start; i + 1 < bytes.length; i += 2) out[o++] = ((bytes[i]! | (bytes[i + 1]! << 8)) << 16) >> 16;
    if ((bytes.length - start) % 2 === 1) this.#carry = bytes[bytes.length - 1];
    return out.subarray(0, o);
  }
}
