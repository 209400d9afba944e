import type { Logger } from 'pino';
import type { ToolDescriptor, ToolSelectionReport, ToolSelectionRequest } from '@switchboard/contracts';
import type { ToolSelector } from '../mcp/broker.ts';
import { globToRegExp } from '../mcp/naming.ts';
import { Bm25Index, tokenize } from './bm25.ts';
import type { EmbeddingsRanker } from './embeddings.ts';

/** Default top-K (agtOS): above this many tools a turn offers only the most relevant. */
export const DEFAULT_MAX_TOOLS = 8;

/** Call control is always offered: a caller must always be able to be transferred or hung up on. */
const CALL_CONTROL = new Set(['hangup_call', 'transfer_call', 'end_call']);

/** Name of the always-present meta-tool. */
export const DISCOVER_TOOLS = 'discover_tools';

/** How much the last turns count against older ones: the newest turn 1, the one before 0.5, … */
const TURN_DECAY = 0.5;
const MAX_TURNS = 6;
/** Turns whose words can name a category for the boost. */
const CATEGORY_TURNS = 2;

/** Rough prompt-token estimate of a tool definition as providers receive it: JSON length ÷ 4 (stated wherever the figure is reported). */
export function estimateTokens(t: Pick<ToolDescriptor, 'name' | 'description' | 'inputSchema'>): number {
  return Math.ceil(JSON.stringify({ type: 'function', function: { name: t.name, description: t.description, parameters: t.inputSchema } }).length / 4);
}

/** The meta-tool descriptor; `categories` become an enum on its `category` argument. */
export function discoverToolDescriptor(categories: readonly string[]): ToolDescriptor {
  return {
    name: DISCOVER_TOOLS,
    originalName: DISCOVER_TOOLS,
    server: 'mcp-broker',
    description: 'Find more tools. Only the tools most relevant to the conversation are offered; if none fits what the caller asks, call this with a short description of the task and the matching tools become available.',
    inputSchema: {
      type: 'object',
      properties: {
        query: { type: 'string', description: 'What the tool should do, in a few words (e.g. "cancel a hotel booking")' },
        ...(categories.length ? { category: { type: 'string', enum: [...categories], description: 'Limit the search to one category' } } : {}),
      },
      required: ['query'],
    },
    annotations: { readOnlyHint: true, idempotentHint: true },
  };
}

/** The text of a tool that ranking sees: its name (twice: names are dense), description and parameter names and descriptions. */
function toolText(t: ToolDescriptor): string {
  const props = (t.inputSchema.properties ?? {}) as Record<string, { description?: unknown }>;
  const params = Object.entries(props).map(([k, v]) => `${k} ${typeof v?.description === 'string' ? v.description : ''}`);
  return `${t.name} ${t.originalName !== t.name ? t.originalName : ''} ${t.originalName} ${t.description} ${params.join(' ')}`;
}

/** A tool's implicit categories: its server, prefix-like namespaces of its original name (`voice.speak` → voice). */
function implicitCategories(t: ToolDescriptor): string[] {
  const out = [t.server.toLowerCase()];
  const ns = /^([a-zA-Z0-9]+)[./]/.exec(t.originalName);
  if (ns?.[1]) out.push(ns[1].toLowerCase());
  return out;
}

interface Prepared {
  index: Bm25Index;
  texts: string[];
}

/**
 * Per-turn tool selection: BM25 over the conversation (recent turns weigh more), a boost for the
 * tools of categories named in the last turns, pinned tools and call control always in, and the
 * `discover_tools` meta-tool. With `strategy: 'embeddings'` and an embeddings endpoint configured,
 * cosine similarity ranks instead (BM25 when the endpoint fails).
 */
export class Selector implements ToolSelector {
  /** BM25 indexes by tool-set signature (a call's tools rarely change between turns). */
  private readonly prepared = new Map<string, Prepared>();

  constructor(
    private readonly log: Logger,
    private readonly embeddings?: EmbeddingsRanker,
  ) {}

  private prepare(tools: ToolDescriptor[]): Prepared {
    const sig = tools.map((t) => `${t.server}\u0001${t.name}\u0001${t.description.length}`).join('\u0002');
    let p = this.prepared.get(sig);
    if (!p) {
      const texts = tools.map(toolText);
      p = { index: new Bm25Index(texts.map(tokenize)), texts };
      if (this.prepared.size >= 256) this.prepared.delete(this.prepared.keys().next().value as string);
      this.prepared.set(sig, p);
    }
    return p;
  }

  /** `opts.pinCallControl: false` ranks call control like any tool (evaluating the ranking alone). */
  async select(all: ToolDescriptor[], sel: ToolSelectionRequest, opts: { pinCallControl?: boolean } = {}): Promise<{ tools: ToolDescriptor[]; report: ToolSelectionReport }> {
    const maxTools = sel.maxTools ?? DEFAULT_MAX_TOOLS;
    const tokensAll = all.reduce((n, t) => n + estimateTokens(t), 0);
    const categories = sel.categories ?? {};
    const discover = sel.omitDiscoverTool ? [] : [discoverToolDescriptor(Object.keys(categories))];
    const report = (tools: ToolDescriptor[], applied: boolean, strategy: ToolSelectionReport['strategy']): { tools: ToolDescriptor[]; report: ToolSelectionReport } => ({
      tools,
      report: { applied, total: all.length, offered: tools.length, strategy, tokensAll, tokensOffered: tools.reduce((n, t) => n + estimateTokens(t), 0) },
    });
    if (all.length <= maxTools && !sel.query && !sel.category) return report(all, false, 'none');

    const catPatterns = Object.entries(categories).map(([name, patterns]) => ({ name: name.toLowerCase(), res: patterns.map(globToRegExp) }));
    const categoriesOf = (t: ToolDescriptor) => [...implicitCategories(t), ...catPatterns.filter((c) => c.res.some((r) => r.test(t.name) || r.test(t.originalName))).map((c) => c.name)];
    let pool = all;
    if (sel.category) {
      const want = sel.category.toLowerCase();
      pool = all.filter((t) => categoriesOf(t).includes(want));
    }
    const pinnedRes = (sel.pinned ?? []).map(globToRegExp);
    const isPinned = (t: ToolDescriptor) => (opts.pinCallControl !== false && CALL_CONTROL.has(t.originalName)) || pinnedRes.some((r) => r.test(t.name) || r.test(t.originalName));
    // A discover request returns what matches; a turn's selection always carries the pinned tools.
    const pinned = sel.query ? [] : all.filter(isPinned);
    const candidates = pool.filter((t) => !pinned.includes(t));
    const slots = Math.max(0, maxTools - pinned.length);

    // The query: a discover query on its own, else the turns, newest weighing most.
    const turns = sel.query ? [sel.query] : (sel.turns ?? []).slice(-MAX_TURNS);
    const weights = new Map<string, number>();
    turns.forEach((turn, i) => {
      const w = TURN_DECAY ** (turns.length - 1 - i);
      for (const term of tokenize(turn)) weights.set(term, (weights.get(term) ?? 0) + w);
    });
    const recent = new Set(tokenize(turns.slice(-CATEGORY_TURNS).join(' ')));
    const named = new Set(
      [...new Set([...catPatterns.map((c) => c.name), ...all.flatMap(implicitCategories)])].filter((c) => {
        const words = tokenize(c.replace(/[_-]/g, ' '));
        return words.length > 0 && words.every((w) => recent.has(w));
      }),
    );

    let strategy: ToolSelectionReport['strategy'] = 'bm25';
    let scores: number[] | undefined;
    if (sel.strategy === 'embeddings' && this.embeddings && turns.length) {
      scores = await this.embeddings.rank(candidates.map(toolText), turns.join('\n')).catch((err: unknown) => {
        this.log.warn({ err: (err as Error).message }, 'embeddings ranking failed; BM25 ranks this turn');
        return undefined;
      });
      if (scores) strategy = 'embeddings';
    }
    if (!scores) {
      const prepared = this.prepare(candidates);
      scores = prepared.index.score(weights);
    }
    const top = Math.max(0, ...scores);
    const boost = named.size ? 0.3 * (top || 1) : 0;
    const ranked = candidates
      .map((t, i) => ({ t, i, s: (scores[i] ?? 0) + (boost && categoriesOf(t).some((c) => named.has(c)) ? boost : 0) }))
      // Ties (no matching words at all) keep the configured order.
      .sort((a, b) => b.s - a.s || a.i - b.i)
      // A discover query returns only what matches it.
      .filter((r) => !sel.query || r.s > 0)
      .slice(0, slots)
      .map((r) => r.t);
    return report([...pinned, ...ranked, ...discover], true, strategy);
  }
}
