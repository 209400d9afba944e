import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeEmbeddings, type FakeEmbeddings } from '@switchboard/testing';
import { loadTools } from '../../test/selection-eval.ts';
import { EmbeddingsRanker } from './embeddings.ts';
import { Selector } from './selector.ts';

let fake: FakeEmbeddings;
beforeAll(async () => {
  fake = await startFakeEmbeddings();
});
afterAll(async () => {
  await fake?.close();
});

const tools = loadTools();

describe('embeddings ranking (OpenAI-compatible /v1/embeddings)', () => {
  it('ranks by cosine similarity and embeds each tool text once', async () => {
    const ranker = new EmbeddingsRanker({ url: fake.url, model: 'text-embedding-3-small', timeoutMs: 2000 });
    const selector = new Selector(pino({ level: 'silent' }), ranker);
    const first = await selector.select(tools, { maxTools: 8, strategy: 'embeddings', turns: ['is flight UA 512 on time, which gate does the flight leave from?'] });
    expect(first.report.strategy).toBe('embeddings');
    expect(first.tools.map((t) => t.name)).toContain('get_flight_status');
    const inputs = fake.inputs;
    expect(inputs).toBe(tools.length - 2 + 1); // every candidate (call control is pinned) plus the query
    await selector.select(tools, { maxTools: 8, strategy: 'embeddings', turns: ['lock the front door'] });
    expect(fake.inputs).toBe(inputs + 1); // only the new query
  });

  it('falls back to BM25 for the turn when the endpoint fails', async () => {
    const ranker = new EmbeddingsRanker({ url: fake.url, model: 'm', timeoutMs: 2000 });
    const selector = new Selector(pino({ level: 'silent' }), ranker);
    fake.setFailure(500);
    try {
      const r = await selector.select(tools, { maxTools: 8, strategy: 'embeddings', turns: ['is flight UA 512 on time?'] });
      expect(r.report.strategy).toBe('bm25');
      expect(r.tools.map((t) => t.name)).toContain('get_flight_status');
    } finally {
      fake.setFailure(undefined);
    }
  });
});
