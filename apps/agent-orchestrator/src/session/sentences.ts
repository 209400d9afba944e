/**
 * Cuts streamed model text into sentences so each goes to TTS as soon as it is complete. A sentence
 * ends at . ! ? or a newline followed by whitespace; very short fragments wait for more text so
 * abbreviations like "Mr." do not become their own utterance.
 */
export class SentenceSplitter {
  private buffer = '';
  constructor(private readonly minChars = 12) {}

  push(delta: string): string[] {
    this.buffer += delta;
    const out: string[] = [];
    const re = /[.!?…]+["')\]]?\s+|\n+/g;
    let start = 0;
    let m: RegExpExecArray | null;
    while ((m = re.exec(this.buffer)) !== null) {
      const end = m.index + m[0].length;
      const candidate = this.buffer.slice(start, end).trim();
      if (candidate.length >= this.minChars) {
        out.push(candidate);
        start = end;
      }
    }
    this.buffer = this.buffer.slice(start);
    return out;
  }

  flush(): string | undefined {
    const rest = this.buffer.trim();
    this.buffer = '';
    return rest.length ? rest : undefined;
  }
}
