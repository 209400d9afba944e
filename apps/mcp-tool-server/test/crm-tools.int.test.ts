import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { contracts, type TransferRequest } from '@switchboard/contracts';
import { AccountStore } from '@switchboard/session-store';
import { infraUrls } from '@switchboard/testing';
import type { ContactSource } from '../src/adapters/contacts.ts';
import { agent, Clients, liveCall, startFixture, type Fixture } from './fixture.ts';

/**
 * Seed 001's directory and CRM tools (is_office_open, lookup_contact, check_user_availability,
 * create_lead) and the per-persona custom tools (transfer to user, transfer to queue, API request),
 * over real HTTP against a fake external API on 127.0.0.1.
 */

let fx: Fixture;
let api: Server;
let apiUrl: string;
const seen: Array<{ method: string; url: string; headers: IncomingMessage['headers']; body: string }> = [];
const clients = new Clients(() => fx.url);
const subs: Array<{ unsubscribe(): void }> = [];

/** A CRM source that is down: lookups report it, and still answer from the other sources. */
const brokenCrm: ContactSource = { name: 'crm', external: true, lookup: () => Promise.reject(new Error('CRM unreachable')) };

const h = (extra: Record<string, string> = {}) => ({ 'X-API-Key': fx.key, account_id: fx.account, persona_id: 'front-desk', ...extra });
const otherH = (extra: Record<string, string> = {}) => ({ 'X-API-Key': fx.otherKey, account_id: fx.other, persona_id: 'other-desk', ...extra });

const nineToFive = [{ open: '09:00', close: '17:00' }];

beforeAll(async () => {
  const infra = await infraUrls();
  console.log(`crm-tools.int.test: NATS ${infra.natsUrl}, Redis ${infra.redisUrl} (${infra.source})`);
  api = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      const u = new URL(req.url ?? '/', 'http://x');
      if (u.pathname.startsWith('/orders/')) return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ order: decodeURIComponent(u.pathname.slice(8)), status: 'shipped' }));
      if (u.pathname === '/tickets') return res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ ticket: 'T-1', got: JSON.parse(body || '{}') }));
      if (u.pathname === '/fail') return res.writeHead(500).end('boom');
      if (u.pathname === '/big') return res.writeHead(200, { 'content-type': 'text/plain' }).end('x'.repeat(200_000));
      if (u.pathname === '/slow') return void setTimeout(() => res.writeHead(200).end('late'), 3000);
      if (u.pathname === '/redirect') return res.writeHead(302, { location: u.searchParams.get('to') ?? '/' }).end();
      res.writeHead(404).end('not found');
    });
  });
  await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
  apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;

  fx = await startFixture({
    env: { API_REQUEST_ALLOW_IPS: '127.0.0.1' },
    extraContactSources: [brokenCrm],
    agents: (a, o) => [
      agent('front-desk', a, {
        officeHours: {
          weekly: { mon: nineToFive, tue: nineToFive, wed: nineToFive, thu: nineToFive, fri: nineToFive, sat: '24h', sun: 'closed' },
          holidays: [{ date: '2025-12-25', name: 'Christmas' }],
        },
        customTools: [
          { type: 'transfer_to_user', name: 'transfer_to_jane', description: 'Transfers the caller to Jane in billing.', userId: 'jane' },
          { type: 'transfer_to_user', name: 'transfer_to_bob', description: 'Transfers the caller to Bob.', userId: 'bob' },
          { type: 'transfer_to_queue', name: 'transfer_to_sales', description: 'Transfers the caller to the sales queue.', queueId: 'sales' },
          { type: 'transfer_to_queue', name: 'transfer_to_support', description: 'Transfers the caller to the first free support agent.', queueId: 'support' },
          { type: 'transfer_to_queue', name: 'transfer_to_night', description: 'Transfers to the night queue.', queueId: 'night' },
          {
            type: 'api_request',
            name: 'check_order',
            description: 'Looks up an order in the shop system.',
            url: `${apiUrl}/orders/{{order_id}}?verbose={{verbose}}`,
            method: 'GET',
            headers: { 'X-Token': 'secret-token', 'X-Order': '{{order_id}}' },
            variables: [
              { name: 'order_id', type: 'text', description: 'The order number' },
              { name: 'verbose', type: 'options', options: ['yes', 'no'], required: false },
            ],
          },
          {
            type: 'api_request',
            name: 'create_ticket',
            description: 'Opens a support ticket.',
            url: `${apiUrl}/tickets`,
            method: 'POST',
            variables: [
              { name: 'subject', type: 'text' },
              { name: 'priority', type: 'number' },
            ],
          },
          { type: 'api_request', name: 'failing_api', description: 'An API that fails.', url: `${apiUrl}/fail` },
          { type: 'api_request', name: 'big_api', description: 'An API with a large answer.', url: `${apiUrl}/big`, maxResponseBytes: 1000 },
          { type: 'api_request', name: 'slow_api', description: 'An API that is slow.', url: `${apiUrl}/slow`, timeoutMs: 300 },
          { type: 'api_request', name: 'cloud_metadata', description: 'Reads instance metadata.', url: 'http://169.254.169.254/latest/meta-data/{{path}}', variables: [{ name: 'path', type: 'text' }] },
          { type: 'api_request', name: 'loopback_v6', description: 'A loopback API.', url: `http://[::1]:${(api.address() as AddressInfo).port}/orders/1` },
          { type: 'api_request', name: 'redirecting_api', description: 'An API that redirects.', url: `${apiUrl}/redirect?to={{to}}`, variables: [{ name: 'to', type: 'text' }] },
        ],
      }),
      agent('no-hours', a),
      agent('other-desk', o, { officeHours: { weekly: { mon: '24h' } } }),
    ],
  });
  await new AccountStore(fx.redis).put({ accountId: fx.account, timeZone: 'America/New_York', allowedDestinations: [] });
  const native = fx.services.native;
  await native.put(fx.account, { id: 'c1', name: 'Jane Doe', phoneNumbers: ['+15551230001', '+15551230002'], company: 'Acme Inc', email: 'jane@acme.test' });
  await native.put(fx.account, { id: 'c2', name: 'Jane Roe', phoneNumbers: ['+15551230001'] });
  await native.put(fx.other, { id: 'c1', name: 'Someone Else', phoneNumbers: ['+15551230001', '+15551239999'] });
  const dir = fx.services.directory;
  await dir.putUser(fx.account, { id: 'jane', name: 'Jane', phoneNumber: '+15552220001', dnd: false, status: 'available' });
  await dir.putUser(fx.account, { id: 'bob', name: 'Bob', phoneNumber: '+15552220002', dnd: true, status: 'available' });
  await dir.putUser(fx.account, { id: 'carl', name: 'Carl', phoneNumber: '+15552220003', dnd: false, status: 'available' });
  await dir.putUser(fx.account, { id: 'dora', name: 'Dora', phoneNumber: '+15552220004', dnd: false, status: 'offline' });
  await dir.putUser(fx.other, { id: 'jane', name: 'Other Jane', phoneNumber: '+15553330001', dnd: true, status: 'available' });
  await dir.putQueue(fx.account, { id: 'sales', name: 'Sales', phoneNumber: '+15554440000', members: [] });
  await dir.putQueue(fx.account, { id: 'support', name: 'Support', members: ['bob', 'dora', 'carl', 'jane'] });
  await dir.putQueue(fx.account, { id: 'night', name: 'Night', members: ['bob', 'dora'] });
});

afterEach(async () => {
  for (const s of subs.splice(0)) s.unsubscribe();
  await clients.closeAll();
  seen.length = 0;
});

afterAll(async () => {
  await fx?.close();
  await new Promise<void>((r) => (api ? api.close(() => r()) : r()));
});

describe('is_office_open', () => {
  // 2025-03-10 is a Monday; New York is on EDT (UTC-4) from 2025-03-09.
  it.each([
    ['Monday 10:00 New York', '2025-03-10T14:00:00Z', 'Office is currently open', 'open'],
    ['Monday 08:00 New York (12:00 UTC: would be open in UTC)', '2025-03-10T12:00:00Z', 'Office is currently closed', 'closed'],
    ['Monday 18:00 New York', '2025-03-10T22:00:00Z', 'Office is currently closed', 'closed'],
    ['Sunday', '2025-03-16T15:00:00Z', 'Office is closed today', 'closed_today'],
    ['Saturday', '2025-03-15T15:00:00Z', 'Office is open 24 hours today', 'open_24h'],
    ['Christmas, a Thursday', '2025-12-25T15:00:00Z', 'Office is closed today', 'closed_today'],
    ['Friday 09:30 before the DST change (EST)', '2025-03-07T14:30:00Z', 'Office is currently open', 'open'],
    ['Monday 08:30 after the DST change (same UTC time of day as above)', '2025-03-10T12:30:00Z', 'Office is currently closed', 'closed'],
  ])('%s: %s', async (_name, at, message, status) => {
    fx.clock.now = new Date(at);
    const r = await clients.call(h(), 'is_office_open');
    expect(r).toMatchObject({ isError: false, text: message, structured: { status, message, timeZone: 'America/New_York', open: status.startsWith('open') } });
  });

  it('names the holiday in its data', async () => {
    fx.clock.now = new Date('2025-12-25T15:00:00Z');
    expect((await clients.call(h(), 'is_office_open')).structured).toMatchObject({ holiday: 'Christmas', localTime: '2025-12-25T10:00' });
  });

  it('is an error for a persona without office hours', async () => {
    expect(await clients.call(h({ persona_id: 'no-hours' }), 'is_office_open')).toMatchObject({ isError: true, text: 'No office hours are configured for persona no-hours' });
  });

  it('is an error, not a crash, for an account time zone Intl does not know', async () => {
    await new AccountStore(fx.redis).put({ accountId: fx.other, timeZone: 'Mars/Olympus_Mons', allowedDestinations: [] });
    expect(await clients.call(otherH(), 'is_office_open')).toMatchObject({ isError: true, text: 'The account time zone Mars/Olympus_Mons is not a valid IANA time zone' });
    // This account's answer does not depend on the other's settings.
    expect((await clients.call(h(), 'is_office_open')).isError).toBe(false);
  });
});

describe('lookup_contact', () => {
  it.each(['+15551230001', '(555) 123-0001', '555.123.0001', '1-555-123-0001'])('normalises %j to E.164 and finds both contacts of this account only', async (number) => {
    const r = await clients.call(h(), 'lookup_contact', { phone_number: number });
    expect(r.isError).toBe(false);
    expect(r.structured).toEqual({
      phoneNumber: '+15551230001',
      found: true,
      contacts: [
        { name: 'Jane Doe', phoneNumbers: ['+15551230001', '+15551230002'], company: 'Acme Inc', email: 'jane@acme.test', source: 'native' },
        { name: 'Jane Roe', phoneNumbers: ['+15551230001'], source: 'native' },
      ],
      failedSources: ['crm'],
    });
    expect(r.text).toMatch(/^Found 2 contacts for \+15551230001 \(could not search: crm\):\nJane Doe \(Acme Inc\): \+15551230001, \+15551230002; source native/);
  });

  it("never returns another account's contact", async () => {
    const r = await clients.call(h(), 'lookup_contact', { phone_number: '+15551239999' });
    expect(r).toMatchObject({ isError: false, text: 'No contact found for +15551239999 (could not search: crm)', structured: { found: false, contacts: [] } });
    const theirs = await clients.call(otherH(), 'lookup_contact', { phone_number: '+15551230001' });
    expect((theirs.structured as { contacts: Array<{ name: string }> }).contacts.map((c) => c.name)).toEqual(['Someone Else']);
  });

  it.each(['abc', '12', 'sip:jane@example.com'])('refuses %j as not a phone number', async (bad) => {
    expect(await clients.call(h(), 'lookup_contact', { phone_number: bad })).toMatchObject({ isError: true, text: `${bad} is not a valid phone number` });
  });

  it('is open-world: a connected source reaches outside Switchboard', async () => {
    const client = await clients.connect(h());
    expect((await client.listTools()).tools.find((t) => t.name === 'lookup_contact')?.annotations).toEqual({ readOnlyHint: true, openWorldHint: true });
  });
});

describe('check_user_availability', () => {
  it.each([
    ['jane', true, false, 'available', 'Jane is available (Do Not Disturb is off)'],
    ['bob', false, true, 'available', 'Bob is not available (Do Not Disturb is on)'],
    ['dora', false, false, 'offline', 'Dora is not available (offline)'],
  ])('%s', async (userId, available, dnd, status, text) => {
    const r = await clients.call(h(), 'check_user_availability', { user_id: userId });
    expect(r).toMatchObject({ isError: false, text, structured: { userId, available, dnd, status } });
  });

  it("reads this account's user, never another account's with the same id", async () => {
    expect((await clients.call(otherH(), 'check_user_availability', { user_id: 'jane' })).structured).toMatchObject({ name: 'Other Jane', dnd: true });
    expect((await clients.call(h(), 'check_user_availability', { user_id: 'jane' })).structured).toMatchObject({ name: 'Jane', dnd: false });
  });

  it('is an error for an unknown user', async () => {
    expect(await clients.call(h(), 'check_user_availability', { user_id: 'zed' })).toMatchObject({ isError: true, text: 'No user zed in this account' });
  });
});

describe('create_lead', () => {
  it('creates a lead, then links a repeat caller as a new case instead of a duplicate', async () => {
    const first = await clients.call(h({ caller_id_number: '+1 (555) 777-0001' }), 'create_lead', { name: 'Ann Smith', intent: 'Wants a quote', summary: 'Asked about pricing' });
    expect(first).toMatchObject({ isError: false, structured: { existingLead: false, phoneNumber: '+15557770001', classification: 'lead', cases: 1 } });
    const leadId = (first.structured as { leadId: string }).leadId;
    expect(first.text).toBe(`Lead created (${leadId}) with case ${(first.structured as { caseId: string }).caseId}`);
    const again = await clients.call(h({ caller_id_number: '+15557770001' }), 'create_lead', { name: 'Ann', intent: 'Follow-up on quote', classification: 'customer', notes: 'Called back' });
    expect(again).toMatchObject({ isError: false, structured: { leadId, existingLead: true, classification: 'customer', cases: 2 } });
    expect(again.text).toMatch(new RegExp(`^A lead with \\+15557770001 already exists \\(${leadId}\\): created case case_`));
    const lead = await fx.services.leads.get(fx.account, leadId);
    expect(lead?.cases.map((c) => c.intent)).toEqual(['Wants a quote', 'Follow-up on quote']);
    expect(lead?.cases[1]).toMatchObject({ notes: 'Called back', personaId: 'front-desk' });
  });

  it('makes one lead with five cases when the same number calls five times at once', async () => {
    const results = await Promise.all(Array.from({ length: 5 }, (_, i) => clients.call(h({ caller_id_number: '+15557770005' }), 'create_lead', { name: `Caller ${i}`, intent: `reason ${i}` })));
    const ids = new Set(results.map((r) => (r.structured as { leadId: string }).leadId));
    expect(ids.size).toBe(1);
    expect(results.filter((r) => (r.structured as { existingLead: boolean }).existingLead === false)).toHaveLength(1);
    expect((await fx.services.leads.get(fx.account, [...ids][0]!))?.cases).toHaveLength(5);
  });

  it("takes the number from the call when there is no caller_id_number, and refuses another account's call", async () => {
    const callId = await liveCall(fx, fx.account, { from: '+15557770009' });
    const r = await clients.call(h({ call_id: callId }), 'create_lead', { name: 'Bea', intent: 'Billing' });
    expect(r.structured).toMatchObject({ phoneNumber: '+15557770009', existingLead: false });
    const lead = await fx.services.leads.get(fx.account, (r.structured as { leadId: string }).leadId);
    expect(lead?.cases[0]?.callId).toBe(callId);
    const theirs = await liveCall(fx, fx.other);
    expect(await clients.call(h({ call_id: theirs }), 'create_lead', { name: 'X', intent: 'Y' })).toMatchObject({ isError: true, text: `No call ${theirs} in this account` });
  });

  it('keeps leads per account: the same number in another account is another lead', async () => {
    const mine = await clients.call(h({ caller_id_number: '+15557770007' }), 'create_lead', { name: 'A', intent: 'x' });
    const theirs = await clients.call(otherH({ caller_id_number: '+15557770007' }), 'create_lead', { name: 'A', intent: 'x' });
    expect((theirs.structured as { existingLead: boolean }).existingLead).toBe(false);
    expect((theirs.structured as { leadId: string }).leadId).not.toBe((mine.structured as { leadId: string }).leadId);
  });

  it('without any number creates a new lead each time', async () => {
    const a = await clients.call(h(), 'create_lead', { name: 'Anon', intent: 'x' });
    const b = await clients.call(h(), 'create_lead', { name: 'Anon', intent: 'x' });
    expect(a.structured).not.toHaveProperty('phoneNumber');
    expect((a.structured as { leadId: string }).leadId).not.toBe((b.structured as { leadId: string }).leadId);
  });

  it.each<[string, Record<string, unknown>]>([
    ['a classification outside lead, customer, spam, other', { name: 'A', intent: 'x', classification: 'vip' }],
    ['no intent', { name: 'A' }],
    ['an empty name', { name: '', intent: 'x' }],
  ])('refuses %s', async (_n, args) => {
    const r = await clients.call(h(), 'create_lead', args);
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(/Input validation error/);
  });
});

describe('custom tools: transfer to a user or a queue', () => {
  async function transferWith(tool: string): Promise<{ r: Awaited<ReturnType<Clients['call']>>; got: TransferRequest[] }> {
    const callId = await liveCall(fx, fx.account);
    const got: TransferRequest[] = [];
    subs.push(fx.probe.handle(contracts.transfer, (req) => (got.push(req), { ok: true }), { param: callId }));
    await fx.probe.nc.flush();
    return { r: await clients.call(h({ call_id: callId }), tool), got };
  }

  it('lists the persona tools with their own names and descriptions, for this persona only', async () => {
    const mine = await (await clients.connect(h())).listTools();
    expect(mine.tools.find((t) => t.name === 'transfer_to_jane')).toMatchObject({ description: 'Transfers the caller to Jane in billing.', annotations: { destructiveHint: true, idempotentHint: false } });
    const other = await (await clients.connect(h({ persona_id: 'no-hours' }))).listTools();
    expect(other.tools.map((t) => t.name)).not.toContain('transfer_to_jane');
  });

  it.each([
    ['transfer_to_jane', '+15552220001', 'Transferring the call to Jane'],
    ['transfer_to_sales', '+15554440000', 'Transferring the call to queue Sales'],
    ['transfer_to_support', '+15552220003', 'Transferring the call to queue Support'],
  ])('%s transfers to %s', async (tool, destination, text) => {
    const { r, got } = await transferWith(tool);
    expect(r).toMatchObject({ isError: false, text });
    expect(got).toEqual([{ destination }]);
  });

  it.each([
    ['transfer_to_bob', 'Bob is not available right now (Do Not Disturb is on)'],
    ['transfer_to_night', 'No one in queue Night is available right now'],
  ])('%s does not transfer: %s', async (tool, text) => {
    const { r, got } = await transferWith(tool);
    expect(r).toMatchObject({ isError: true, text });
    expect(got).toEqual([]);
  });

  it('needs a call of this account', async () => {
    expect(await clients.call(h(), 'transfer_to_jane')).toMatchObject({ isError: true, text: expect.stringMatching(/call_id header is required/) });
  });
});

describe('custom tools: API request', () => {
  it('fills placeholders URL-encoded in the URL and raw in headers, and returns the answer', async () => {
    const r = await clients.call(h(), 'check_order', { order_id: 'A 1/2?x=y#z', verbose: 'yes' });
    expect(r.isError).toBe(false);
    expect(r.structured).toMatchObject({ status: 200, contentType: 'application/json', truncated: false });
    expect(JSON.parse(r.text)).toEqual({ order: 'A 1/2?x=y#z', status: 'shipped' });
    expect(seen[0]).toMatchObject({ method: 'GET', url: '/orders/A%201%2F2%3Fx%3Dy%23z?verbose=yes', headers: { 'x-token': 'secret-token', 'x-order': 'A 1/2?x=y#z' } });
  });

  it('types its variables: options are an enum, numbers are numbers, optional ones may be left out', async () => {
    const tool = (await (await clients.connect(h())).listTools()).tools.find((t) => t.name === 'check_order')!;
    expect(tool.inputSchema).toMatchObject({ required: ['order_id'], properties: { order_id: { type: 'string', description: 'The order number' }, verbose: { type: 'string', enum: ['yes', 'no'] } } });
    expect(tool.annotations).toEqual({ readOnlyHint: true, openWorldHint: true });
    expect(await clients.call(h(), 'check_order', { order_id: '7', verbose: 'maybe' })).toMatchObject({ isError: true, text: expect.stringMatching(/Input validation error/) });
    expect((await clients.call(h(), 'check_order', { order_id: '7' })).isError).toBe(false);
    expect(seen.at(-1)?.url).toBe('/orders/7?verbose=');
  });

  it('POSTs its variables as JSON', async () => {
    const r = await clients.call(h(), 'create_ticket', { subject: 'Broken', priority: 2 });
    expect(r.structured).toMatchObject({ status: 201 });
    expect(seen[0]).toMatchObject({ method: 'POST', url: '/tickets', body: '{"subject":"Broken","priority":2}', headers: { 'content-type': 'application/json' } });
    expect(await clients.call(h(), 'create_ticket', { subject: 'Broken', priority: 'high' })).toMatchObject({ isError: true, text: expect.stringMatching(/Input validation error/) });
  });

  it('reports an HTTP error status as an isError result with the body', async () => {
    expect(await clients.call(h(), 'failing_api')).toMatchObject({ isError: true, text: 'The API answered 500: boom', structured: { status: 500, body: 'boom' } });
  });

  it('caps the answer at maxResponseBytes', async () => {
    const r = await clients.call(h(), 'big_api');
    expect(r.structured).toMatchObject({ status: 200, truncated: true });
    expect((r.structured as { body: string }).body).toHaveLength(1000);
    expect(r.text).toMatch(/\[response truncated at the size limit\]$/);
  });

  it('gives up after timeoutMs', async () => {
    expect(await clients.call(h(), 'slow_api')).toMatchObject({ isError: true, text: 'The API did not answer within 300 ms' });
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['link-local cloud metadata', { path: 'iam' }, '169.254.169.254'],
    ['a redirect to link-local cloud metadata', { to: 'http://169.254.169.254/latest/meta-data/' }, '169.254.169.254'],
    ['a redirect to IPv6 loopback', { to: 'http://[::1]:1/x' }, '[::1]:1'],
    ['a redirect to a private address', { to: 'http://10.0.0.1/admin' }, '10.0.0.1'],
  ])('refuses %s', async (_name, args, host) => {
    const tool = 'path' in args ? 'cloud_metadata' : 'redirecting_api';
    expect(await clients.call(h(), tool, args)).toMatchObject({ isError: true, text: `Requests to ${host} are not allowed: it is a private, loopback or link-local address` });
  });

  it('refuses IPv6 loopback although IPv4 127.0.0.1 is allowed', async () => {
    const r = await clients.call(h(), 'loopback_v6');
    expect(r).toMatchObject({ isError: true, text: expect.stringMatching(/^Requests to \[::1\]:\d+ are not allowed/) });
    expect(seen).toEqual([]);
  });

  it('follows a redirect to an allowed address', async () => {
    const r = await clients.call(h(), 'redirecting_api', { to: `${apiUrl}/orders/42` });
    expect(JSON.parse(r.text)).toEqual({ order: '42', status: 'shipped' });
    expect(seen.map((s) => s.url)).toEqual([`/redirect?to=${encodeURIComponent(`${apiUrl}/orders/42`)}`, '/orders/42']);
  });

  it('is offered only to keys with the api scope', async () => {
    const { key, record } = await fx.services.keys.create(fx.account, ['calls']);
    fx.keyIds.push(record.id);
    const names = (await (await clients.connect({ 'X-API-Key': key, account_id: fx.account, persona_id: 'front-desk' })).listTools()).tools.map((t) => t.name);
    expect(names).toContain('transfer_to_jane');
    expect(names).not.toContain('check_order');
  });
});
