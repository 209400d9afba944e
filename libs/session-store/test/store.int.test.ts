import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { infraUrls } from '@switchboard/testing';
import { ApiKeyStore, CallStore } from '../src/index.ts';
import type { CallRecord, TranscriptEntry } from '../src/index.ts';

let redis: Redis;
/** Keys and API key ids this file created; removed after each test. */
const createdKeys = new Set<string>();
const createdApiKeyIds = new Set<string>();

const LIVE_TTL_S = 600;
const RETENTION_S = 3600;

const callKey = (id: string) => `sb:call:${id}`;
const transcriptKey = (id: string) => `sb:call:${id}:transcript`;

function newCall(overrides: Partial<CallRecord> = {}): CallRecord {
  const callId = `test-${randomUUID()}`;
  createdKeys.add(callKey(callId)).add(transcriptKey(callId));
  return {
    callId,
    accountId: 'acct-test',
    agentId: 'demo',
    direction: 'inbound',
    carrier: 'twilio',
    from: '+15550001111',
    to: '+15550001234',
    state: 'active',
    startedAt: new Date().toISOString(),
    ...overrides,
  };
}

/** TTL in seconds: within `slack` of `expected` (the clock ran a little since it was set). */
async function expectTtl(key: string, expected: number, slack = 5): Promise<void> {
  const ttl = await redis.ttl(key);
  expect(ttl, `TTL of ${key}`).toBeLessThanOrEqual(expected);
  expect(ttl, `TTL of ${key}`).toBeGreaterThan(expected - slack);
}

beforeAll(async () => {
  const infra = await infraUrls();
  console.log(`session-store int tests: Redis ${infra.redisUrl} from ${infra.source}`);
  redis = new Redis(infra.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
});

afterEach(async () => {
  for (const id of createdApiKeyIds) await new ApiKeyStore(redis).revoke(id);
  createdApiKeyIds.clear();
  if (createdKeys.size) await redis.del(...createdKeys);
  createdKeys.clear();
});

afterAll(async () => {
  await redis?.quit();
});

describe('CallStore', () => {
  const store = () => new CallStore(redis, { liveTtlS: LIVE_TTL_S, retentionS: RETENTION_S });

  it('creates a call that reads back equal, expiring after the live TTL', async () => {
    const call = newCall();
    await store().create(call);
    expect(await store().get(call.callId)).toEqual(call);
    await expectTtl(callKey(call.callId), LIVE_TTL_S);
  });

  it('an unknown call reads as undefined and has no transcript', async () => {
    const id = `test-${randomUUID()}`;
    expect(await store().get(id)).toBeUndefined();
    expect(await store().transcript(id)).toEqual([]);
  });

  it('update patches the record and keeps its TTL', async () => {
    const call = newCall();
    await store().create(call);
    await redis.expire(callKey(call.callId), 120);
    const next = await store().update(call.callId, { orchestrator: 'orch-1' });
    expect(next).toEqual({ ...call, orchestrator: 'orch-1' });
    expect(await store().get(call.callId)).toEqual({ ...call, orchestrator: 'orch-1' });
    await expectTtl(callKey(call.callId), 120);
  });

  it('update of an unknown call returns undefined and creates nothing', async () => {
    const call = newCall();
    expect(await store().update(call.callId, { orchestrator: 'orch-1' })).toBeUndefined();
    expect(await redis.exists(callKey(call.callId))).toBe(0);
  });

  it('appends transcript lines in order with the live TTL', async () => {
    const call = newCall();
    await store().create(call);
    const lines: TranscriptEntry[] = [
      { role: 'caller', text: 'Where is order A-1?', at: '2025-01-01T00:00:01.000Z' },
      {
        role: 'tool',
        text: 'get_order',
        at: '2025-01-01T00:00:02.000Z',
        tool: { server: 'orders', name: 'get_order', arguments: { orderId: 'A-1' }, result: '{"status":"shipped"}', isError: false, latencyMs: 12 },
      },
      { role: 'agent', text: 'It has shipped.', at: '2025-01-01T00:00:03.000Z', interrupted: true },
    ];
    for (const line of lines) await store().append(call.callId, line);
    expect(await store().transcript(call.callId)).toEqual(lines);
    await expectTtl(transcriptKey(call.callId), LIVE_TTL_S);
  });

  it('creating a call again starts an empty transcript', async () => {
    const call = newCall();
    await store().create(call);
    await store().append(call.callId, { role: 'caller', text: 'hello', at: '2025-01-01T00:00:00.000Z' });
    await store().create(call);
    expect(await store().transcript(call.callId)).toEqual([]);
  });

  it('end marks the call ended and sets the retention TTL on the record and the transcript', async () => {
    const call = newCall();
    await store().create(call);
    await store().append(call.callId, { role: 'caller', text: 'bye', at: '2025-01-01T00:00:00.000Z' });
    const before = Date.now();
    await store().end(call.callId, 'caller-hangup');

    const ended = await store().get(call.callId);
    expect(ended).toMatchObject({ ...call, state: 'ended', endReason: 'caller-hangup' });
    expect(Date.parse(ended?.endedAt ?? '')).toBeGreaterThanOrEqual(before - 1000);
    await expectTtl(callKey(call.callId), RETENTION_S);
    await expectTtl(transcriptKey(call.callId), RETENTION_S);
    expect(await store().transcript(call.callId)).toHaveLength(1);
  });

  // Regression: every append reset the transcript TTL to the live TTL, so a line recorded after the
  // call ended (a tool finishing after the caller hung up) cut the transcript's retention to hours.
  it('a line appended after end keeps the retention TTL', async () => {
    const call = newCall();
    await store().create(call);
    await store().append(call.callId, { role: 'caller', text: 'check my order', at: '2025-01-01T00:00:00.000Z' });
    await store().end(call.callId, 'caller-hangup');
    await store().append(call.callId, { role: 'tool', text: 'late result', at: '2025-01-01T00:00:09.000Z' });
    await expectTtl(transcriptKey(call.callId), RETENTION_S);
    expect((await store().transcript(call.callId)).map((l) => l.text)).toEqual(['check my order', 'late result']);
  });

  it('end of an unknown call creates nothing', async () => {
    const call = newCall();
    await store().end(call.callId, 'error');
    expect(await redis.exists(callKey(call.callId), transcriptKey(call.callId))).toBe(0);
  });

  it('defaults: six hours live, seven days retained', async () => {
    const call = newCall();
    const defaults = new CallStore(redis);
    await defaults.create(call);
    await expectTtl(callKey(call.callId), 6 * 3600);
    await defaults.end(call.callId, 'agent-hangup');
    await expectTtl(callKey(call.callId), 7 * 24 * 3600);
  });
});

describe('ApiKeyStore', () => {
  const store = () => new ApiKeyStore(redis);
  const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

  async function created(accountId: string, scopes?: string[]) {
    const out = await store().create(accountId, scopes);
    createdApiKeyIds.add(out.record.id);
    return out;
  }

  it('create → verify → revoke', async () => {
    const { key, record } = await created('acct-test', ['calls:write']);
    expect(key).toMatch(/^sk_[A-Za-z0-9_-]{32}$/);
    expect(record).toMatchObject({ id: sha256(key).slice(0, 12), accountId: 'acct-test', scopes: ['calls:write'] });

    expect(await store().verify(key)).toEqual(record);
    expect(await store().revoke(record.id)).toBe(true);
    expect(await store().verify(key)).toBeUndefined();
    expect(await store().revoke(record.id)).toBe(false);
  });

  it('defaults to every scope', async () => {
    const { record } = await created('acct-test');
    expect(record.scopes).toEqual(['*']);
  });

  it('two keys are distinct and revoking one leaves the other valid', async () => {
    const a = await created('acct-a');
    const b = await created('acct-b');
    expect(a.key).not.toBe(b.key);
    await store().revoke(a.record.id);
    expect(await store().verify(a.key)).toBeUndefined();
    expect((await store().verify(b.key))?.accountId).toBe('acct-b');
  });

  it.each([['an unknown key', () => `sk_${randomUUID()}`], ['the empty string', () => ''], ['a near miss', () => 'sk_dev_switchboard_demo_keY']])(
    '%s verifies as undefined',
    async (_what, key) => {
      expect(await store().verify(key())).toBeUndefined();
    },
  );

  it('stores only the hash: the plaintext appears in no Redis key or value', async () => {
    const { key } = await created('acct-test');
    expect(await redis.exists(`sb:apikey:${sha256(key)}`)).toBe(1);

    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'COUNT', 500);
      cursor = next;
      for (const k of keys) {
        if (k.includes(key)) found.push(`key name ${k}`);
        const type = await redis.type(k);
        let values: string[] = [];
        if (type === 'string') values = [(await redis.get(k)) ?? ''];
        else if (type === 'hash') values = Object.entries(await redis.hgetall(k)).flat();
        else if (type === 'list') values = await redis.lrange(k, 0, -1);
        else if (type === 'set') values = await redis.smembers(k);
        else if (type === 'zset') values = await redis.zrange(k, 0, -1);
        if (values.some((v) => v.includes(key))) found.push(`value of ${k}`);
      }
    } while (cursor !== '0');
    expect(found).toEqual([]);
  });

  it('put stores a given key idempotently under the same id', async () => {
    const key = `sk_test_${randomUUID()}`;
    const first = await store().put(key, 'acct-test');
    createdApiKeyIds.add(first.id);
    const second = await store().put(key, 'acct-test');
    expect(second.id).toBe(first.id);
    expect(await redis.hget('sb:apikeys', first.id)).toBe(sha256(key));
    expect((await store().verify(key))?.accountId).toBe('acct-test');
  });
});
