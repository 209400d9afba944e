import twilio from 'twilio';
import { twilioSid } from './sid.ts';

/**
 * Form parameters of Twilio's incoming-call webhook. `From` and `To` are required; `CallSid` and
 * `AccountSid` are generated when absent; any other Twilio parameter may be added or overridden.
 */
export interface TwilioCallParams {
  From: string;
  To: string;
  CallSid?: string;
  AccountSid?: string;
  [name: string]: string | undefined;
}

export interface PlaceTwilioCallOptions {
  /** Auth token to sign the request with (`X-Twilio-Signature`). Unsigned when absent. */
  authToken?: string;
  /**
   * Base URL Twilio is configured with (what the gateway sees behind a proxy or tunnel). The
   * signature covers `${publicUrl}/twilio/voice`. Defaults to `gatewayBaseUrl`.
   */
  publicUrl?: string;
}

export interface PlacedTwilioCall {
  /** HTTP status of the webhook response. */
  status: number;
  /** Response body as returned, normally TwiML. */
  twiml: string;
  /** `url` attribute of the first `<Stream>`, entities decoded; absent when there is none. */
  streamUrl?: string;
  /** `<Parameter name value/>` children of that `<Stream>`, entities decoded. */
  parameters: Record<string, string>;
  /** The form parameters that were posted (including the generated SIDs). */
  sent: Record<string, string>;
}

/**
 * Act as Twilio answering an inbound call: POST the voice webhook form to
 * `${gatewayBaseUrl}/twilio/voice`, signed when `authToken` is given, and read the `<Stream>` out of
 * the TwiML that comes back.
 */
export async function placeTwilioCall(
  gatewayBaseUrl: string,
  params: TwilioCallParams,
  opts: PlaceTwilioCallOptions = {},
): Promise<PlacedTwilioCall> {
  const form: Record<string, string> = {
    AccountSid: twilioSid('AC'),
    ApiVersion: '2010-04-01',
    CallSid: twilioSid('CA'),
    CallStatus: 'ringing',
    Called: params.To,
    Caller: params.From,
    Direction: 'inbound',
  };
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined) form[name] = value;
  }

  const headers: Record<string, string> = {
    'Content-Type': 'application/x-www-form-urlencoded',
    'User-Agent': 'TwilioProxy/1.1',
    Accept: '*/*',
  };
  if (opts.authToken !== undefined) {
    const signedUrl = `${trimSlash(opts.publicUrl ?? gatewayBaseUrl)}/twilio/voice`;
    headers['X-Twilio-Signature'] = twilio.getExpectedTwilioSignature(opts.authToken, signedUrl, form);
  }

  const res = await fetch(`${trimSlash(gatewayBaseUrl)}/twilio/voice`, {
    method: 'POST',
    headers,
    body: new URLSearchParams(form).toString(),
  });
  const twiml = await res.text();
  const stream = parseTwimlStream(twiml);
  return {
    status: res.status,
    twiml,
    ...(stream ? { streamUrl: stream.url } : {}),
    parameters: stream?.parameters ?? {},
    sent: form,
  };
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

/**
 * The first `<Stream>` element of a TwiML document: its `url` and its `<Parameter>` children.
 * A tag-level reader, not a full XML parser: it skips comments, CDATA and processing instructions,
 * accepts either quote style and decodes the five named entities plus numeric references.
 */
export function parseTwimlStream(twiml: string): { url?: string; parameters: Record<string, string> } | undefined {
  const text = twiml.replace(/<!--[\s\S]*?-->/g, '').replace(/<!\[CDATA\[[\s\S]*?\]\]>/g, '');
  const tagRe = /<(\/?)([A-Za-z_][\w:.-]*)((?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>/g;
  let stream: { url?: string; parameters: Record<string, string> } | undefined;
  for (let m = tagRe.exec(text); m !== null; m = tagRe.exec(text)) {
    const [, closing, name, attrText = '', selfClosing] = m;
    if (!stream) {
      if (name !== 'Stream' || closing) continue;
      const attrs = parseAttributes(attrText);
      stream = { parameters: {} };
      if (attrs['url'] !== undefined) stream.url = attrs['url'];
      if (selfClosing) return stream;
      continue;
    }
    if (name === 'Stream' && closing) return stream;
    if (name === 'Parameter' && !closing) {
      const attrs = parseAttributes(attrText);
      if (attrs['name'] !== undefined) stream.parameters[attrs['name']] = attrs['value'] ?? '';
    }
  }
  return stream;
}

function parseAttributes(text: string): Record<string, string> {
  const attrs: Record<string, string> = {};
  const re = /([^\s=]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const [, name = '', dq, sq] = m;
    attrs[name] = decodeXmlEntities(dq ?? sq ?? '');
  }
  return attrs;
}

const NAMED_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** Decode XML entities in one pass, so `&amp;lt;` becomes `&lt;` and not `<`. */
export function decodeXmlEntities(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);/g, (whole, ref: string) => {
    if (ref.startsWith('#x')) return safeCodePoint(parseInt(ref.slice(2), 16), whole);
    if (ref.startsWith('#')) return safeCodePoint(parseInt(ref.slice(1), 10), whole);
    return NAMED_ENTITIES[ref] ?? whole;
  });
}

function safeCodePoint(cp: number, fallback: string): string {
  return Number.isInteger(cp) && cp >= 0 && cp <= 0x10ffff ? String.fromCodePoint(cp) : fallback;
}
