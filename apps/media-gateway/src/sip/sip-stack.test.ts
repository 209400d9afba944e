import { createSocket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import sip, { type SipMessage } from 'sip';
import { ErrorCodes, SwitchboardError } from '@switchboard/contracts';
import { SipStack } from './sip-stack.ts';

const log = pino({ level: 'silent' });
const stacks: SipStack[] = [];

afterEach(() => {
  for (const s of stacks.splice(0)) s.close();
});

function stack(onRequest: (rq: SipMessage) => void = () => undefined): SipStack {
  const s = new SipStack({ publicAddress: '127.0.0.1', log, onRequest });
  stacks.push(s);
  return s;
}

describe('SipStack', () => {
  it('a busy SIP port stops the gateway with a CONFIG_INVALID naming the variables', async () => {
    const busy = createSocket('udp4');
    await new Promise<void>((r) => busy.bind(0, '127.0.0.1', r));
    const err = await stack()
      .listen(busy.address().port, '127.0.0.1')
      .catch((e: unknown) => e);
    busy.close();
    expect(err).toBeInstanceOf(SwitchboardError);
    expect((err as SwitchboardError).code).toBe(ErrorCodes.CONFIG_INVALID);
    expect((err as SwitchboardError).message).toMatch(/SIP_PORT/);
  });

  it('one stack sends a request to another and gets its response through both transaction layers', async () => {
    const server = stack((rq) => server.reply(rq, 200, 'OK', { headers: { allow: 'INVITE' } }));
    const serverPort = await server.listen(0, '127.0.0.1');
    const client = stack();
    await client.listen(0, '127.0.0.1');
    const rs = await new Promise<SipMessage>((resolve) =>
      client.request(
        {
          method: 'OPTIONS',
          uri: `sip:x@127.0.0.1:${serverPort}`,
          headers: {
            via: [],
            to: { uri: `sip:x@127.0.0.1:${serverPort}`, params: {} },
            from: { uri: 'sip:c@127.0.0.1', params: { tag: 't1' } },
            'call-id': 'stack-test@127.0.0.1',
            cseq: { seq: 1, method: 'OPTIONS' },
          },
        },
        resolve,
      ),
    );
    expect(rs.status).toBe(200);
    expect(rs.headers.allow).toBe('INVITE');
    // Our Via carries the bound port and rport; the server stamped `received`.
    expect(rs.headers.via[0]!.port).toBe(client.port);
    expect(rs.headers.via[0]!.params.received).toBe('127.0.0.1');
    expect(sip.stringifyUri(rs.headers.to.uri)).toContain(`${serverPort}`);
  });

  it('counts malformed datagrams and keeps serving', async () => {
    const server = stack();
    const port = await server.listen(0, '127.0.0.1');
    const c = createSocket('udp4');
    c.send(Buffer.from('GARBAGE / NOT SIP\r\n\r\n'), port, '127.0.0.1');
    c.send(Buffer.from('\r\n\r\n'), port, '127.0.0.1');
    await new Promise((r) => setTimeout(r, 100));
    c.close();
    expect(server.malformed).toBe(1);
  });
});
