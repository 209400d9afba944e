import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { jetstream, jetstreamManager, AckPolicy, type JsMsg } from '@nats-io/jetstream';
import { ErrorCodes, Headers, SwitchboardError, contracts } from '@switchboard/contracts';
import type { CallEnded } from '@switchboard/contracts';
import { infraUrls } from '@switchboard/testing';
import { Bus } from '../src/index.ts';

const log = pino({ level: 'silent' });
const open: Bus[] = [];
let natsUrl = '';
/** A stream of the test's own on a subject of its own: the shared CALL_EVENTS stream stays untouched. */
const token = randomUUID().replace(/-/g, '').slice(0, 12);
const STREAM = `TEST_DURABLE_${token}`;
const SUBJECT = `test.durable.${token}.ended`;
/** The callEnded contract (its schema) published on the test's subject. */
const ended: typeof contracts.callEnded = { ...contracts.callEnded, subject: () => SUBJECT };

const endedEvent = (n: number): CallEnded => ({ callId: `call_durable_${n}`, reason: 'caller-hangup', endedAt: new Date().toISOString() });

async function connectBus(name: string): Promise<Bus> {
  const bus = await Bus.connect({ url: natsUrl, name, log });
  open.push(bus);
  return bus;
}

/** Pulls up to `max` messages from a durable consumer, acking each; returns early once `max` arrived, else after 1 s. */
async function drainConsumer(bus: Bus, durable: string, max: number): Promise<JsMsg[]> {
  const consumer = await jetstream(bus.nc).consumers.get(STREAM, durable);
  const out: JsMsg[] = [];
  for await (const m of await consumer.fetch({ max_messages: max, expires: 1000 })) {
    m.ack();
    out.push(m);
  }
  return out;
}

beforeAll(async () => {
  const infra = await infraUrls();
  console.log(`bus durable int tests: NATS ${infra.natsUrl} from ${infra.source}`);
  natsUrl = infra.natsUrl;
  const bus = await connectBus('durable-setup');
  await bus.ensureStream({ name: STREAM, subjects: [SUBJECT] });
});

afterAll(async () => {
  const bus = open[0];
  if (bus) await (await jetstreamManager(bus.nc)).streams.delete(STREAM).catch(() => false);
  await Promise.all(open.splice(0).map((b) => b.close()));
});

describe('publishDurable', () => {
  it('a durable consumer that was down receives the events published meanwhile, in order', async () => {
    const publisher = await connectBus('durable-publisher');
    const durable = `consumer-${token}`;
    const jsm = await jetstreamManager(publisher.nc);
    await jsm.consumers.add(STREAM, { durable_name: durable, ack_policy: AckPolicy.Explicit });

    // The consumer runs and sees the first event.
    const first = await connectBus('durable-consumer-1');
    await publisher.publishDurable(ended, endedEvent(0), { callId: 'call_durable_0' });
    const seen = await drainConsumer(first, durable, 1);
    expect(seen.map((m) => m.json<CallEnded>().callId)).toEqual(['call_durable_0']);
    // ... then its process goes away.
    await first.close();

    // Events published while nobody consumes are acknowledged by the stream.
    const acks = [];
    for (let n = 1; n <= 3; n++) acks.push(await publisher.publishDurable(ended, endedEvent(n), { callId: `call_durable_${n}` }));
    expect(acks.map((a) => a.stream)).toEqual([STREAM, STREAM, STREAM]);
    expect(acks.every((a) => !a.duplicate)).toBe(true);

    // A restarted consumer (new connection, same durable name) gets all of them, with their headers.
    const second = await connectBus('durable-consumer-2');
    const missed = await drainConsumer(second, durable, 3);
    expect(missed.map((m) => m.json<CallEnded>().callId)).toEqual(['call_durable_1', 'call_durable_2', 'call_durable_3']);
    expect(missed.map((m) => m.headers?.get(Headers.callId))).toEqual(['call_durable_1', 'call_durable_2', 'call_durable_3']);
    // Nothing is delivered twice.
    expect(await drainConsumer(second, durable, 5)).toEqual([]);
  });

  it('core subscribers receive a durable event too', async () => {
    const [publisher, listener] = [await connectBus('durable-core-pub'), await connectBus('durable-core-sub')];
    const got: CallEnded[] = [];
    listener.subscribe(ended, (e) => void got.push(e), { queue: false });
    await listener.nc.flush();
    await publisher.publishDurable(ended, endedEvent(10));
    await listener.nc.flush();
    for (let i = 0; i < 100 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(got.map((e) => e.callId)).toEqual(['call_durable_10']);
  });

  it('stores an event published twice with the same msgId once, and says so', async () => {
    const publisher = await connectBus('durable-dedupe');
    const jsm = await jetstreamManager(publisher.nc);
    const before = (await jsm.streams.info(STREAM)).state.messages;
    const a = await publisher.publishDurable(ended, endedEvent(20), { msgId: `ended-${token}-20` });
    const b = await publisher.publishDurable(ended, endedEvent(20), { msgId: `ended-${token}-20` });
    expect(a.duplicate).toBe(false);
    expect(b).toEqual({ stream: STREAM, seq: a.seq, duplicate: true });
    expect((await jsm.streams.info(STREAM)).state.messages).toBe(before + 1);
  });

  it('validates the payload before publishing', async () => {
    const publisher = await connectBus('durable-invalid');
    const err = await publisher.publishDurable(ended, { callId: 'x y', reason: 'nope', endedAt: '' } as unknown as CallEnded).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SwitchboardError);
    expect((err as SwitchboardError).code).toBe(ErrorCodes.BUS_INVALID_MESSAGE);
  });

  it('rejects with BUS_NO_RESPONDERS when no stream stores the subject', async () => {
    const publisher = await connectBus('durable-nostream');
    const nowhere: typeof contracts.callEnded = { ...contracts.callEnded, subject: () => `test.durable.${token}.nowhere` };
    const err = await publisher.publishDurable(nowhere, endedEvent(30), { timeoutMs: 2000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SwitchboardError);
    expect((err as SwitchboardError).code).toBe(ErrorCodes.BUS_NO_RESPONDERS);
  });
});
