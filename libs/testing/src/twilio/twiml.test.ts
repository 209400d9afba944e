import { createServer } from 'node:http';
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import twilio from 'twilio';
import { decodeXmlEntities, parseTwimlStream, placeTwilioCall } from './twiml.ts';

const AUTH_TOKEN = 'test-auth-token-0123456789abcdef';
/** The URL Twilio is configured with; the gateway listens elsewhere (a tunnel in between). */
const PUBLIC_URL = 'https://gw.example.com';

interface Received {
  headers: IncomingMessage['headers'];
  params: Record<string, string>;
  signatureValid: boolean;
}

const TWIML =
  '<?xml version="1.0" encoding="UTF-8"?>\n' +
  '<Response><!-- <Stream url="wss://decoy"/> -->' +
  '<Connect><Stream url="wss://gw.example.com/twilio/media?x=1&amp;y=2" name=\'call\'>' +
  '<Parameter name="tenant" value="t1"/>' +
  '<Parameter name=\'greeting\' value="Tom &amp; Jerry&#39;s &quot;shop&quot; &#x263A;" />' +
  '</Stream></Connect></Response>';

describe('placeTwilioCall', () => {
  let server: Server;
  let baseUrl: string;
  const received: Received[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (body += c));
      req.on('end', () => {
        const params = Object.fromEntries(new URLSearchParams(body));
        const signature = req.headers['x-twilio-signature'];
        const signatureValid =
          typeof signature === 'string' &&
          twilio.validateRequest(AUTH_TOKEN, signature, `${PUBLIC_URL}${req.url ?? ''}`, params);
        received.push({ headers: req.headers, params, signatureValid });
        if (req.method !== 'POST' || req.url !== '/twilio/voice') {
          res.writeHead(404).end();
        } else if (!signatureValid) {
          res.writeHead(403, { 'Content-Type': 'text/plain' }).end('bad signature');
        } else {
          res.writeHead(200, { 'Content-Type': 'text/xml' }).end(TWIML);
        }
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.close();
    await once(server, 'close');
  });

  it('posts a form like Twilio, signed for the public URL, and reads the Stream out of the TwiML', async () => {
    const call = await placeTwilioCall(
      baseUrl,
      { From: '+15550001111', To: '+15550002222' },
      { authToken: AUTH_TOKEN, publicUrl: PUBLIC_URL },
    );
    const req = received.at(-1)!;
    expect(req.signatureValid).toBe(true);
    expect(req.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(req.params).toMatchObject({
      From: '+15550001111',
      To: '+15550002222',
      Caller: '+15550001111',
      Called: '+15550002222',
      Direction: 'inbound',
      CallStatus: 'ringing',
      ApiVersion: '2010-04-01',
    });
    expect(req.params['CallSid']).toMatch(/^CA[0-9a-f]{32}$/);
    expect(req.params['AccountSid']).toMatch(/^AC[0-9a-f]{32}$/);
    expect(call.sent).toEqual(req.params);

    expect(call.status).toBe(200);
    expect(call.twiml).toBe(TWIML);
    expect(call.streamUrl).toBe('wss://gw.example.com/twilio/media?x=1&y=2');
    expect(call.parameters).toEqual({ tenant: 't1', greeting: 'Tom & Jerry\'s "shop" ☺' });
  });

  it('passes given SIDs and extra parameters through', async () => {
    const CallSid = `CA${'a'.repeat(32)}`;
    const AccountSid = `AC${'b'.repeat(32)}`;
    await placeTwilioCall(
      baseUrl,
      { From: '+1', To: '+2', CallSid, AccountSid, FromCountry: 'US' },
      { authToken: AUTH_TOKEN, publicUrl: PUBLIC_URL },
    );
    const req = received.at(-1)!;
    expect(req.signatureValid).toBe(true);
    expect(req.params).toMatchObject({ CallSid, AccountSid, FromCountry: 'US' });
  });

  it.each([
    ['a wrong auth token', { authToken: 'not-the-token', publicUrl: PUBLIC_URL }],
    ['the wrong URL signed', { authToken: AUTH_TOKEN }],
    ['no signature', {}],
  ])('is refused by a validating gateway with %s', async (_, opts) => {
    const call = await placeTwilioCall(baseUrl, { From: '+1', To: '+2' }, opts);
    expect(call.status).toBe(403);
    expect(call.twiml).toBe('bad signature');
    expect(call.streamUrl).toBeUndefined();
    expect(call.parameters).toEqual({});
  });
});

describe('parseTwimlStream', () => {
  it.each([
    ['no Stream', '<Response><Say>hi</Say></Response>', undefined],
    [
      'a self-closing Stream',
      '<Response><Start><Stream url="wss://a/b"/></Start><Parameter name="x" value="y"/></Response>',
      { url: 'wss://a/b', parameters: {} },
    ],
    [
      'parameters only inside the first Stream',
      '<Response><Connect><Stream url="wss://one"><Parameter name="a" value="1"/></Stream>' +
        '<Stream url="wss://two"><Parameter name="b" value="2"/></Stream></Connect></Response>',
      { url: 'wss://one', parameters: { a: '1' } },
    ],
    [
      'whitespace around = and a Parameter without value',
      '<Response>\n  <Connect>\n    <Stream\n      url = "wss://c" >\n      <Parameter name="k"/>\n    </Stream>\n  </Connect>\n</Response>',
      { url: 'wss://c', parameters: { k: '' } },
    ],
  ])('handles %s', (_, twiml, expected) => {
    expect(parseTwimlStream(twiml)).toEqual(expected);
  });
});

describe('decodeXmlEntities', () => {
  it.each([
    ['&lt;a&gt; &amp; &quot;b&quot; &apos;c&apos;', '<a> & "b" \'c\''],
    ['&#65;&#x42;', 'AB'],
    ['&amp;lt;', '&lt;'],
    ['&unknown; &#xFFFFFFF;', '&unknown; &#xFFFFFFF;'],
  ])('decodes %j once', (input, output) => {
    expect(decodeXmlEntities(input)).toBe(output);
  });
});
