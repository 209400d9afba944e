import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeEmbeddings {
  /** Base URL to configure (`…/v1`). */
  url: string;
  /** `/v1/embeddings` requests received. */
  requests: number;
  /** Inputs embedded so far. */
  inputs: number;
  /** Answer every request with this HTTP status until cleared. */
  setFailure(status: number | undefined): void;
  close(): Promise<void>;
}

const DIM = 256;

/** A deterministic bag-of-words vector: each lower-cased word hashed into one of 256 dimensions. */
export function fakeEmbedding(text: string): number[] {
  const v = new Array<number>(DIM).fill(0);
  for (const w of text.toLowerCase().split(/[^a-z0-9]+/)) {
    if (w.length < 3) continue;
    const h = createHash('md5').update(w.slice(0, 6)).digest();
    const i = h.readUInt16BE(0) % DIM;
    v[i] = (v[i] ?? 0) + 1;
  }
  return v;
}

/**
 * An OpenAI-compatible `/v1/embeddings` endpoint over a real socket (the wire format: `{ model, input }`
 * → `{ object: 'list', data: [{ object: 'embedding', index, embedding }], model, usage }`), with
 * deterministic bag-of-words vectors so rankings are reproducible.
 */
export async function startFakeEmbeddings(): Promise<FakeEmbeddings> {
  let failure: number | undefined;
  const state = { requests: 0, inputs: 0 };
  const http = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || new URL(req.url ?? '/', 'http://x').pathname !== '/v1/embeddings') {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'not found' } }));
        return;
      }
      state.requests++;
      if (failure) {
        res.writeHead(failure, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: `injected ${failure}` } }));
        return;
      }
      let body: { model?: string; input?: string | string[] };
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof body;
      } catch {
        res.writeHead(400).end();
        return;
      }
      const inputs = Array.isArray(body.input) ? body.input : [body.input ?? ''];
      state.inputs += inputs.length;
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({ object: 'list', model: body.model ?? 'fake', data: inputs.map((t, index) => ({ object: 'embedding', index, embedding: fakeEmbedding(t) })), usage: { prompt_tokens: 0, total_tokens: 0 } }),
      );
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', () => resolve()));
  const port = (http.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    get requests() {
      return state.requests;
    },
    get inputs() {
      return state.inputs;
    },
    setFailure(status) {
      failure = status;
    },
    async close() {
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
}
