import { createHash } from 'node:crypto';

export interface EmbeddingsOptions {
  /** OpenAI-compatible base URL (`…/v1`); requests go to `<url>/embeddings`. */
  url: string;
  model: string;
  apiKey?: string;
  /** Longest one embeddings request may take before the turn falls back to BM25 (ms). */
  timeoutMs: number;
  fetch?: typeof fetch;
}

/** Cached vectors (by text hash) before the oldest are dropped. */
const MAX_CACHED = 20_000;
const BATCH = 256;

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length && i < b.length; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return na && nb ? dot / Math.sqrt(na * nb) : 0;
}

/**
 * Ranks tool texts by cosine similarity to the conversation with an OpenAI-compatible
 * `/v1/embeddings` endpoint (agtOS's similarity search). Tool vectors are cached by text, so a turn
 * costs one request for the query (plus one for tools never seen). Any failure throws; the selector
 * falls back to BM25.
 */
export class EmbeddingsRanker {
  private readonly cache = new Map<string, Float32Array>();
  requests = 0;

  constructor(private readonly opts: EmbeddingsOptions) {}

  private key(text: string): string {
    return createHash('sha1').update(text).digest('base64');
  }

  private async embed(texts: string[]): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    for (let i = 0; i < texts.length; i += BATCH) {
      const batch = texts.slice(i, i + BATCH);
      this.requests++;
      const res = await (this.opts.fetch ?? fetch)(`${this.opts.url.replace(/\/$/, '')}/embeddings`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(this.opts.apiKey ? { authorization: `Bearer ${this.opts.apiKey}` } : {}) },
        body: JSON.stringify({ model: this.opts.model, input: batch }),
        signal: AbortSignal.timeout(this.opts.timeoutMs),
      });
      if (!res.ok) throw new Error(`embeddings endpoint answered HTTP ${res.status}`);
      const body = (await res.json()) as { data?: Array<{ index?: number; embedding?: number[] }> };
      const data = body.data ?? [];
      if (data.length !== batch.length) throw new Error(`embeddings endpoint returned ${data.length} vectors for ${batch.length} inputs`);
      const sorted = [...data].sort((a, b) => (a.index ?? 0) - (b.index ?? 0));
      for (const d of sorted) {
        if (!Array.isArray(d.embedding)) throw new Error('embeddings endpoint returned an entry without an embedding');
        out.push(Float32Array.from(d.embedding));
      }
    }
    return out;
  }

  /** Cosine similarity of each text to the query. */
  async rank(texts: string[], query: string): Promise<number[]> {
    const missing = [...new Set(texts.filter((t) => !this.cache.has(this.key(t))))];
    const vectors = await this.embed([query, ...missing]);
    missing.forEach((t, i) => {
      if (this.cache.size >= MAX_CACHED) this.cache.delete(this.cache.keys().next().value as string);
      this.cache.set(this.key(t), vectors[i + 1] as Float32Array);
    });
    const q = vectors[0] as Float32Array;
    return texts.map((t) => {
      const v = this.cache.get(this.key(t));
      return v ? cosine(q, v) : 0;
    });
  }
}
