import { readFileSync } from 'node:fs';
import type { ToolDescriptor } from '@switchboard/contracts';
import type { Selector } from '../src/selection/selector.ts';
import { estimateTokens } from '../src/selection/selector.ts';

interface FixtureTool {
  name: string;
  description: string;
  params: Record<string, { type: string; description: string }>;
  required: string[];
}

export interface LabelledQuery {
  turns: string[];
  expect: string;
}

/** The evaluation set: 154 tools on 19 servers (test/fixtures/tool-selection/tools.json) as descriptors. */
export function loadTools(): ToolDescriptor[] {
  const raw = JSON.parse(readFileSync(new URL('./fixtures/tool-selection/tools.json', import.meta.url), 'utf8')) as { servers: Array<{ name: string; tools: FixtureTool[] }> };
  return raw.servers.flatMap((s) =>
    s.tools.map((t) => ({
      name: t.name,
      originalName: t.name,
      server: s.name,
      description: t.description,
      inputSchema: { type: 'object', properties: t.params, ...(t.required.length ? { required: t.required } : {}) },
    })),
  );
}

/** The labelled caller queries (test/fixtures/tool-selection/queries.json). */
export function loadQueries(): LabelledQuery[] {
  return (JSON.parse(readFileSync(new URL('./fixtures/tool-selection/queries.json', import.meta.url), 'utf8')) as { queries: LabelledQuery[] }).queries;
}

export interface SelectionEvaluation {
  tools: number;
  queries: number;
  /** Share of queries whose labelled tool is among the tools offered with maxTools 8 (2 of them pinned call control). */
  offeredRecall: number;
  /** Share of queries whose labelled tool ranks in the top 8 of the ranking alone (no pinned tools). */
  rankRecallAt8: number;
  /** Tokens (JSON chars ÷ 4) of all tool definitions, and the mean offered per turn (discover_tools included). */
  tokensAll: number;
  tokensOfferedMean: number;
  /** Queries whose tool was missed, for reading. */
  misses: Array<{ query: string; expect: string; got: string[] }>;
  strategy: string;
}

/** Runs every labelled query through the selector. */
export async function evaluateSelection(selector: Selector, strategy: 'bm25' | 'embeddings' = 'bm25'): Promise<SelectionEvaluation> {
  const tools = loadTools();
  const queries = loadQueries();
  let offeredHits = 0;
  let rankHits = 0;
  let offeredTokens = 0;
  let used = 'bm25';
  const misses: SelectionEvaluation['misses'] = [];
  for (const q of queries) {
    const offered = await selector.select(tools, { maxTools: 8, turns: q.turns, strategy });
    used = offered.report.strategy;
    offeredTokens += offered.report.tokensOffered;
    const names = offered.tools.map((t) => t.name);
    if (names.includes(q.expect)) offeredHits++;
    else misses.push({ query: q.turns.at(-1) ?? '', expect: q.expect, got: names });
    // The ranking alone: no pinned tools, top 8.
    const ranked = await selector.select(tools, { maxTools: 8, turns: q.turns, strategy, omitDiscoverTool: true }, { pinCallControl: false });
    if (ranked.tools.some((t) => t.name === q.expect)) rankHits++;
  }
  return {
    tools: tools.length,
    queries: queries.length,
    offeredRecall: offeredHits / queries.length,
    rankRecallAt8: rankHits / queries.length,
    tokensAll: tools.reduce((n, t) => n + estimateTokens(t), 0),
    tokensOfferedMean: offeredTokens / queries.length,
    misses,
    strategy: used,
  };
}
