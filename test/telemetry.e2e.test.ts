import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { pino } from 'pino';
import { Bus } from '@switchboard/bus';
import { contracts, type CallEnded } from '@switchboard/contracts';
import { freePort, infraUrls, placeTwilioCall, startStack, synthesizeSpeech, TwilioStreamCaller, type ServiceName, type Stack } from '@switchboard/testing';

/** One span as the OTLP/HTTP JSON exporters send it (ids in hex). */
interface ReceivedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  callId: string | undefined;
}

interface OtlpAttr {
  key: string;
  value: { stringValue?: string };
}
interface OtlpTraces {
  resourceSpans?: Array<{ resource?: { attributes?: OtlpAttr[] }; scopeSpans?: Array<{ spans?: Array<{ traceId: string; spanId: string; parentSpanId?: string; name: string; attributes?: OtlpAttr[] }> }> }>;
}
interface OtlpMetrics {
  resourceMetrics?: Array<{ resource?: { attributes?: OtlpAttr[] }; scopeMetrics?: Array<{ metrics?: Array<{ name: string }> }> }>;
}

const attr = (attrs: OtlpAttr[] | undefined, key: string) => attrs?.find((a) => a.key === key)?.value.stringValue;

async function body(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** A minimal OTLP/HTTP receiver: JSON `POST /v1/traces` and `/v1/metrics`, kept in memory. */
async function startReceiver(): Promise<{ url: string; spans: ReceivedSpan[]; metricNames: Map<string, Set<string>>; close: () => Promise<void> }> {
  const spans: ReceivedSpan[] = [];
  const metricNames = new Map<string, Set<string>>();
  const server = createServer((req, res) => {
    void body(req).then((text) => {
      try {
        if (req.url === '/v1/traces') {
          const doc = JSON.parse(text) as OtlpTraces;
          for (const rs of doc.resourceSpans ?? []) {
            const service = attr(rs.resource?.attributes, 'service.name') ?? '?';
            for (const ss of rs.scopeSpans ?? [])
              for (const s of ss.spans ?? []) spans.push({ service, traceId: s.traceId, spanId: s.spanId, parentSpanId: s.parentSpanId ?? '', name: s.name, callId: attr(s.attributes, 'switchboard.call_id') });
          }
        } else if (req.url === '/v1/metrics') {
          const doc = JSON.parse(text) as OtlpMetrics;
          for (const rm of doc.resourceMetrics ?? []) {
            const service = attr(rm.resource?.attributes, 'service.name') ?? '?';
            const names = metricNames.get(service) ?? new Set<string>();
            metricNames.set(service, names);
            for (const sm of rm.scopeMetrics ?? []) for (const m of sm.metrics ?? []) names.add(m.name);
          }
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      } catch {
        res.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, spans, metricNames, close: () => closeServer(server) };
}

/** A pass-through proxy in front of the orders MCP server (not instrumented) that records the traceparent headers it receives. */
async function startRecordingProxy(port: number, target: () => string): Promise<{ url: string; traceparents: string[]; close: () => Promise<void> }> {
  const traceparents: string[] = [];
  const server = createServer((req, res) => {
    const tp = req.headers.traceparent;
    if (typeof tp === 'string') traceparents.push(tp);
    const to = new URL(req.url ?? '/', target());
    const out = request(to, { method: req.method, headers: { ...req.headers, host: to.host } }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    out.on('error', () => res.writeHead(502).end());
    req.pipe(out);
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${port}/mcp`, traceparents, close: () => closeServer(server) };
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((r) => server.close(() => r()));
}

async function until(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const PLATFORM: ServiceName[] = ['media-gateway', 'agent-orchestrator', 'mcp-broker', 'mcp-tool-server', 'scheduler'];

/**
 * Telemetry end to end: the services export to an OTLP receiver of the test's own; one Twilio call
 * (greeting, an order question answered through the orders MCP server, hang-up through the tool
 * server) must be ONE trace with spans from every service it touched, and the external MCP server
 * must receive that trace in its `traceparent` header.
 */
describe('telemetry: one call is one trace across every service', () => {
  let stack: Stack;
  let bus: Bus;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let proxy: Awaited<ReturnType<typeof startRecordingProxy>>;
  let callId = '';
  const ended: CallEnded[] = [];

  beforeAll(async () => {
    const infra = await infraUrls();
    console.log(`e2e infrastructure: NATS ${infra.natsUrl}, Redis ${infra.redisUrl} (${infra.source})`);
    receiver = await startReceiver();
    const ordersPort = await freePort();
    proxy = await startRecordingProxy(await freePort(), () => `http://127.0.0.1:${ordersPort}`);
    stack = await startStack({
      natsUrl: infra.natsUrl,
      redisUrl: infra.redisUrl,
      fakeOpenAIScript: 'config/demo/model-script.json',
      ports: { orders: ordersPort },
      // The broker reaches the orders server through the recording proxy.
      env: { VAD: 'energy', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: '200', OTEL_METRIC_EXPORT_INTERVAL: '1000', ORDERS_MCP_URL: proxy.url },
    });
    bus = await Bus.connect({ url: infra.natsUrl, name: 'e2e-telemetry-observer', log: pino({ level: 'silent' }) });
    bus.subscribe(contracts.callEnded, (e) => void ended.push(e));
  });

  afterAll(async () => {
    await bus?.close();
    const codes = await stack?.stop();
    await proxy?.close();
    await receiver?.close();
    if (codes) for (const [name, code] of Object.entries(codes)) expect(code, `${name} exit code`).toBe(0);
  });

  it('one Twilio call yields one trace id with spans from the gateway, orchestrator, broker and tool server, and the orders server got it', async () => {
    const placed = await placeTwilioCall(stack.urls['media-gateway'], { From: '+15557654321', To: '+15550001234' });
    expect(placed.status).toBe(200);
    callId = placed.parameters.callId!;
    const caller = await TwilioStreamCaller.connect({ url: placed.streamUrl!, customParameters: placed.parameters });
    try {
      await caller.waitForAgentAudio(1000, 15_000);
      await caller.waitForSilence(700, 20_000);
      await caller.say(await synthesizeSpeech('Hi, I would like to know where my order is, please.', { engine: 'synthetic' }));
      await caller.waitForAgentAudio(500, 30_000);
      await caller.waitForSilence(700, 30_000);
      await caller.say(await synthesizeSpeech('That is all, thank you, goodbye!', { engine: 'synthetic' }));
      const closed = await caller.waitForClose(30_000);
      expect(closed.code).toBe(1000);
    } finally {
      if (!(await Promise.race([caller.closed.then(() => true), new Promise((r) => setTimeout(() => r(false), 10))]))) await caller.hangup();
    }
    await until(() => ended.some((e) => e.callId === callId), 5000, 'call ended event');

    // The webhook's server span is the root of the call's trace.
    await until(() => receiver.spans.some((s) => s.service === 'media-gateway' && s.name === 'POST /twilio/voice'), 10_000, 'the voice webhook span');
    const root = receiver.spans.find((s) => s.service === 'media-gateway' && s.name === 'POST /twilio/voice')!;
    expect(root.parentSpanId).toBe('');
    const traceId = root.traceId;
    const trace = () => receiver.spans.filter((s) => s.traceId === traceId);
    const need = ['media-gateway', 'agent-orchestrator', 'mcp-broker', 'mcp-tool-server'];
    await until(() => need.every((svc) => trace().some((s) => s.service === svc)), 15_000, `spans of the call's trace from ${need.join(', ')}`);
    // The tool server's hang-up: the broker's HTTP request to it continues the trace.
    await until(() => trace().some((s) => s.service === 'mcp-tool-server' && s.name === 'POST /mcp'), 5000, "the tool server's POST /mcp span");

    // Every span that names the call is in that one trace.
    const callSpans = receiver.spans.filter((s) => s.callId === callId);
    expect(callSpans.length).toBeGreaterThan(5);
    expect([...new Set(callSpans.map((s) => s.traceId))], `trace ids of ${callSpans.length} spans carrying the call id`).toEqual([traceId]);
    // No broken links: every parent is in the trace (waiting for the last batches).
    const orphans = () => {
      const ids = new Set(trace().map((s) => s.spanId));
      return trace().filter((s) => s.parentSpanId && !ids.has(s.parentSpanId));
    };
    await until(() => orphans().length === 0, 5000, 'the parents of every span in the trace').catch(() => undefined);
    expect(orphans().map((o) => `${o.service}: ${o.name}`)).toEqual([]);

    const perService = Object.fromEntries(need.concat('scheduler').map((svc) => [svc, trace().filter((s) => s.service === svc).length]));
    const names = new Map<string, number>();
    for (const s of trace()) names.set(`${s.service} ${s.name}`, (names.get(`${s.service} ${s.name}`) ?? 0) + 1);
    console.log(`call ${callId}: trace ${traceId}, spans per service ${JSON.stringify(perService)}; most frequent: ${[...names].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([n, c]) => `${n} ×${c}`).join(', ')}`);

    // pino lines logged inside the call's trace carry its trace id and the call id.
    for (const svc of need) {
      const lines = stack
        .logs(svc)
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { trace_id?: string; span_id?: string; call_id?: string; msg?: string });
      const inTrace = lines.filter((l) => l.trace_id === traceId);
      // The tool server logs nothing on a successful hang-up; the others log the call's life.
      if (svc !== 'mcp-tool-server') expect(inTrace.length, `${svc} log lines in the call's trace`).toBeGreaterThan(0);
      expect(inTrace.filter((l) => l.call_id !== callId).map((l) => l.msg), `${svc} lines in the call's trace without call_id`).toEqual([]);
    }

    // The orders MCP server (not instrumented) received the call's trace in its traceparent header.
    const seen = proxy.traceparents.map((tp) => tp.split('-')[1]);
    expect(seen).toContain(traceId);
  });

  it.each(PLATFORM)('GET /metrics on %s answers Prometheus text with switchboard_nats_up and switchboard_redis_up', async (svc) => {
    const res = await fetch(`${stack.urls[svc]}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(text).toMatch(/^switchboard_nats_up(\{[^}]*\})? 1/m);
    expect(text).toMatch(/^switchboard_redis_up(\{[^}]*\})? 1/m);
  });

  it('the orchestrator exposes agent_response_ms, switchboard_turns_total and switchboard_calls_active after the call', async () => {
    const text = await (await fetch(`${stack.urls['agent-orchestrator']}/metrics`)).text();
    expect(text).toMatch(/^agent_response_ms_count\{[^}]*\} [1-9]/m);
    expect(text).toMatch(/^switchboard_turns_total\{[^}]*\} [1-9]/m);
    expect(text).toMatch(/^switchboard_calls_active(\{[^}]*\})? 0/m);
    const gw = await (await fetch(`${stack.urls['media-gateway']}/metrics`)).text();
    expect(gw).toMatch(/^switchboard_calls_active(\{[^}]*\})? 0/m);
    const broker = await (await fetch(`${stack.urls['mcp-broker']}/metrics`)).text();
    expect(broker).toMatch(/^mcp_broker_tool_call_duration_count\{[^}]*tool="check_order_status"[^}]*\} 1/m);
  });

  it('metrics are pushed over OTLP too', async () => {
    await until(() => receiver.metricNames.get('agent-orchestrator')?.has('agent_response_ms') === true, 10_000, 'agent_response_ms over OTLP');
    for (const svc of PLATFORM) await until(() => receiver.metricNames.get(svc)?.has('switchboard_nats_up') === true, 10_000, `switchboard_nats_up from ${svc}`);
  });
});
