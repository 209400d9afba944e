import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AccountStore, ApiKeyStore } from '@switchboard/session-store';
import { infraUrls } from '@switchboard/testing';
import { runKeysCli } from '../src/cli/keys.ts';
import { Clients, post, startFixture, type Fixture } from './fixture.ts';

/** The admin surface: `/admin/*` endpoints behind ADMIN_TOKEN, and the `npm run keys` CLI. */

const TOKEN = 'admin-token-for-tests-0123456789';
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

let fx: Fixture;
let plain: Fixture;
const clients = new Clients(() => fx.url);

const admin = (method: string, path: string, body?: unknown, token = TOKEN) =>
  fx.app.inject({ method: method as 'GET', url: path, headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, ...(body !== undefined ? { payload: JSON.stringify(body) } : {}) });

const h = (key = fx.key) => ({ 'X-API-Key': key, account_id: fx.account, persona_id: 'front-desk' });

beforeAll(async () => {
  const infra = await infraUrls();
  console.log(`admin.int.test: NATS ${infra.natsUrl}, Redis ${infra.redisUrl} (${infra.source})`);
  fx = await startFixture({ env: { ADMIN_TOKEN: TOKEN } });
  plain = await startFixture({ sharing: fx });
});

afterEach(async () => {
  await clients.closeAll();
});

afterAll(async () => {
  await plain?.close();
  await fx?.close();
});

describe('/admin endpoints', () => {
  it('do not exist without ADMIN_TOKEN', async () => {
    expect((await plain.app.inject({ url: '/admin/keys', headers: { authorization: `Bearer ${TOKEN}` } })).statusCode).toBe(404);
  });

  it.each([
    ['no token', ''],
    ['a wrong token', 'admin-token-for-tests-0123456788'],
  ])('refuse %s with 401', async (_n, token) => {
    const res = await admin('GET', '/admin/keys', undefined, token);
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ code: 'AUTH_INVALID_KEY' });
  });

  it('create a key that works at once, list it without the secret, and revoke it', async () => {
    const created = await admin('POST', '/admin/keys', { accountId: fx.account, scopes: ['directory', 'leads'], ratePerMin: 500, label: 'CRM sync' });
    expect(created.statusCode).toBe(201);
    const { key, record } = created.json() as { key: string; record: { id: string } };
    fx.keyIds.push(record.id);
    expect(key).toMatch(/^sk_/);
    expect(record).toMatchObject({ accountId: fx.account, scopes: ['directory', 'leads'], ratePerMin: 500, label: 'CRM sync' });
    const client = await clients.connect(h(key));
    expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual(['check_user_availability', 'create_lead', 'is_office_open', 'lookup_contact']);

    const listed = (await admin('GET', `/admin/keys?accountId=${fx.account}`)).json() as { keys: Array<{ id: string }> };
    expect(listed.keys.map((k) => k.id)).toContain(record.id);
    expect(JSON.stringify(listed)).not.toContain(key);

    expect((await admin('DELETE', `/admin/keys/${record.id}`)).statusCode).toBe(204);
    expect((await post(fx.url, h(key))).status).toBe(401);
    expect((await admin('DELETE', `/admin/keys/${record.id}`)).statusCode).toBe(404);
  });

  it.each<[string, unknown, RegExp]>([
    ['an unknown scope', { accountId: 'x', scopes: ['everything'] }, /Unknown scope everything/],
    ['no account', { scopes: ['*'] }, /accountId/],
    ['a rate of zero', { accountId: 'x', ratePerMin: 0 }, /ratePerMin/],
  ])('refuse a key with %s', async (_n, body, message) => {
    const res = await admin('POST', '/admin/keys', body);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'REQUEST_INVALID', message: expect.stringMatching(message) });
  });

  it('set account settings, refusing a zone or destination pattern that is not valid', async () => {
    const ok = await admin('PUT', `/admin/accounts/${fx.account}/settings`, { timeZone: 'Europe/Paris', allowedDestinations: ['+3314*'] });
    expect(ok.json()).toEqual({ accountId: fx.account, timeZone: 'Europe/Paris', allowedDestinations: ['+3314*'] });
    expect(await new AccountStore(fx.redis).get(fx.account)).toMatchObject({ timeZone: 'Europe/Paris' });
    expect((await admin('PUT', `/admin/accounts/${fx.account}/settings`, { timeZone: 'Europe/Atlantis' })).json()).toMatchObject({ message: 'timeZone: Europe/Atlantis is not an IANA time zone' });
    expect((await admin('PUT', `/admin/accounts/${fx.account}/settings`, { allowedDestinations: ['1555*'] })).statusCode).toBe(400);
    expect((await admin('PUT', `/admin/accounts/${fx.account}/settings`, { accountId: 'someone-else' })).json()).toMatchObject({ message: expect.stringMatching(/differs from the path/) });
  });

  it('put contacts, users and queues that the tools then read; list leads', async () => {
    expect((await admin('PUT', `/admin/accounts/${fx.account}/contacts/k1`, { name: 'Kim', phoneNumbers: ['+15556660001'], company: 'Kim & Co' })).statusCode).toBe(200);
    expect((await clients.call(h(), 'lookup_contact', { phone_number: '+15556660001' })).structured).toMatchObject({ found: true, contacts: [{ name: 'Kim', company: 'Kim & Co', source: 'native' }] });
    // A number moved off the contact leaves the index.
    await admin('PUT', `/admin/accounts/${fx.account}/contacts/k1`, { name: 'Kim', phoneNumbers: ['+15556660002'] });
    expect((await clients.call(h(), 'lookup_contact', { phone_number: '+15556660001' })).structured).toMatchObject({ found: false });
    expect((await admin('DELETE', `/admin/accounts/${fx.account}/contacts/k1`)).statusCode).toBe(204);
    expect((await clients.call(h(), 'lookup_contact', { phone_number: '+15556660002' })).structured).toMatchObject({ found: false });

    const user = await admin('PUT', `/admin/accounts/${fx.account}/users/u1`, { name: 'Uma', phoneNumber: '+15556660003' });
    expect(user.json()).toEqual({ id: 'u1', name: 'Uma', phoneNumber: '+15556660003', dnd: false, status: 'available' });
    expect((await clients.call(h(), 'check_user_availability', { user_id: 'u1' })).structured).toMatchObject({ available: true });
    await admin('PUT', `/admin/accounts/${fx.account}/users/u1`, { name: 'Uma', phoneNumber: '+15556660003', dnd: true });
    expect((await clients.call(h(), 'check_user_availability', { user_id: 'u1' })).structured).toMatchObject({ available: false, dnd: true });
    expect((await admin('PUT', `/admin/accounts/${fx.account}/users/u2`, { name: 'X', phoneNumber: '5556660003' })).statusCode).toBe(400);

    expect((await admin('PUT', `/admin/accounts/${fx.account}/queues/q1`, { name: 'Q', members: ['u1'] })).json()).toEqual({ id: 'q1', name: 'Q', members: ['u1'] });

    await clients.call({ ...h(), caller_id_number: '+15556660009' }, 'create_lead', { name: 'Lee', intent: 'Pricing' });
    const leads = (await admin('GET', `/admin/accounts/${fx.account}/leads`)).json() as { leads: Array<{ phoneNumber?: string; cases: unknown[] }> };
    expect(leads.leads.find((l) => l.phoneNumber === '+15556660009')?.cases).toHaveLength(1);
  });
});

describe('npm run keys', () => {
  it('creates, lists and revokes keys, and sets account settings', async () => {
    const created = JSON.parse(await runKeysCli(['create', '--account', fx.account, '--scopes', 'calls,system', '--rate', '60', '--json'], fx.redis)) as { key: string; record: { id: string; scopes: string[]; ratePerMin: number } };
    fx.keyIds.push(created.record.id);
    expect(created.record).toMatchObject({ scopes: ['calls', 'system'], ratePerMin: 60 });
    expect(await new ApiKeyStore(fx.redis).verify(created.key)).toMatchObject({ accountId: fx.account });
    expect(await runKeysCli(['list', '--account', fx.account], fx.redis)).toMatch(new RegExp(`^${created.record.id}  ${fx.account}  calls,system  60/min`, 'm'));
    expect(await runKeysCli(['revoke', created.record.id], fx.redis)).toBe(`revoked key ${created.record.id}`);
    expect(await new ApiKeyStore(fx.redis).verify(created.key)).toBeUndefined();

    const settings = JSON.parse(await runKeysCli(['account', 'set', '--account', fx.account, '--time-zone', 'Asia/Tokyo', '--allow', '+8130*, +15559870001'], fx.redis)) as Record<string, unknown>;
    expect(settings).toMatchObject({ accountId: fx.account, timeZone: 'Asia/Tokyo', allowedDestinations: ['+8130*', '+15559870001'] });
  });

  it.each<[string[], RegExp]>([
    [['create'], /--account is required/],
    [['create', '--account', 'a', '--scopes', 'root'], /Unknown scope root/],
    [['create', '--account', 'a', '--rate', 'fast'], /--rate must be a positive integer/],
    [['revoke'], /revoke needs a key id/],
    [['account', 'set', '--account', 'a', '--time-zone', 'Nowhere/Land'], /Nowhere\/Land is not an IANA time zone/],
    [['account', 'set', '--account', 'a', '--allow', 'anything'], /invalid settings/],
    [['frobnicate'], /unknown command frobnicate/],
    [['list', '--bogus'], /Unknown option/],
  ])('refuses %j', async (argv, message) => {
    await expect(runKeysCli(argv, fx.redis)).rejects.toThrow(message);
  });

  it('is a package script: a usage mistake exits 2 with the usage', async () => {
    const r = await new Promise<{ code: number; stderr: string }>((resolve) =>
      execFile('npm', ['run', '-s', 'keys', '--', 'create'], { cwd: ROOT, env: { ...process.env }, timeout: 60_000, encoding: 'utf8' }, (err, _out, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr })),
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/keys: --account is required\nusage:\n {2}keys create --account <id>/);
  }, 60_000);
});
