/** Words too common to tell tools apart (English; tool text and callers' speech). */
const STOPWORDS = new Set(
  'a an and are as at be been but by can could do does for from get got had has have hello hi how i i\'d i\'m if in into is it its it\'s just me my need of on or our please so some that the their them then there this to too up us want was we what when where which who will with would you your yes no okay ok um uh hey thanks thank like also about'.split(' '),
);

/** A light suffix stripper: orders/order, cancelled/cancel, shipping/ship, deliveries/delivery. */
export function stem(w: string): string {
  let s = w;
  if (s.length > 5 && s.endsWith('ing')) s = s.slice(0, -3);
  else if (s.length > 4 && s.endsWith('ies')) return `${s.slice(0, -3)}y`;
  else if (s.length > 4 && s.endsWith('ed')) s = s.slice(0, -2);
  else if (s.length > 3 && s.endsWith('es') && /(ss|x|ch|sh)es$/.test(s)) return s.slice(0, -2);
  else if (s.length > 3 && s.endsWith('s') && !s.endsWith('ss') && !s.endsWith('us') && !s.endsWith('is')) return s.slice(0, -1);
  else return s;
  // cancell → cancel, shipp → ship, stopp → stop
  if (s.length > 3 && s[s.length - 1] === s[s.length - 2] && !/[aeiouls]/.test(s[s.length - 1] as string)) s = s.slice(0, -1);
  else if (s.length > 4 && s.endsWith('ell')) s = s.slice(0, -1);
  return s;
}

/** Lower-cased, stemmed terms: camelCase, snake_case, kebab-case and dotted names split into words. */
export function tokenize(text: string): string[] {
  const out: string[] = [];
  const spaced = text.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase();
  for (const raw of spaced.split(/[^a-z0-9']+/)) {
    const w = raw.replace(/^'+|'+$/g, '');
    if (w.length < 2 || STOPWORDS.has(w)) continue;
    const base = w.replace(/'s$/, '');
    if (STOPWORDS.has(base)) continue;
    out.push(stem(base));
  }
  return out;
}

export interface Bm25Options {
  k1?: number;
  b?: number;
}

/**
 * Okapi BM25 over a fixed set of documents (k1 = 1.2, b = 0.75). A query is a bag of terms with
 * weights, so several conversation turns can be scored at once with recent turns weighing more.
 */
export class Bm25Index {
  private readonly tf: Array<Map<string, number>>;
  private readonly len: number[];
  private readonly df = new Map<string, number>();
  private readonly avgdl: number;
  private readonly k1: number;
  private readonly b: number;

  constructor(docs: readonly string[][], opts: Bm25Options = {}) {
    this.k1 = opts.k1 ?? 1.2;
    this.b = opts.b ?? 0.75;
    this.tf = docs.map((terms) => {
      const m = new Map<string, number>();
      for (const t of terms) m.set(t, (m.get(t) ?? 0) + 1);
      for (const t of m.keys()) this.df.set(t, (this.df.get(t) ?? 0) + 1);
      return m;
    });
    this.len = docs.map((d) => d.length);
    this.avgdl = this.len.reduce((a, b) => a + b, 0) / Math.max(1, docs.length) || 1;
  }

  get size(): number {
    return this.tf.length;
  }

  idf(term: string): number {
    const n = this.df.get(term) ?? 0;
    return Math.log(1 + (this.tf.length - n + 0.5) / (n + 0.5));
  }

  /** Score of every document for weighted query terms. */
  score(query: ReadonlyMap<string, number>): number[] {
    const out = new Array<number>(this.tf.length).fill(0);
    for (const [term, weight] of query) {
      if (!this.df.has(term)) continue;
      const idf = this.idf(term);
      for (let i = 0; i < this.tf.length; i++) {
        const f = this.tf[i]?.get(term);
        if (!f) continue;
        const dl = this.len[i] as number;
        out[i] = (out[i] as number) + weight * idf * ((f * (this.k1 + 1)) / (f + this.k1 * (1 - this.b + (this.b * dl) / this.avgdl)));
      }
    }
    return out;
  }
}
