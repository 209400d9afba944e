/**
 * Types for the parts of the `sip` package (kirm/sip.js 0.0.6, plain CommonJS without typings) that
 * the gateway uses: message parse/stringify, URIs, the RFC 3261 transaction layer and digest auth.
 */
declare module 'sip' {
  export interface SipUri {
    schema?: string;
    user?: string;
    password?: string;
    host: string;
    port?: number;
    params: Record<string, string | null>;
    headers: Record<string, string>;
  }

  /** A name-addr header value: `"name" <uri>;params`. */
  export interface NameAddr {
    name?: string;
    uri: string | SipUri;
    params: Record<string, string | null>;
  }

  export interface Via {
    version?: string;
    protocol: string;
    host: string;
    port?: number;
    params: Record<string, string | null>;
  }

  export interface CSeq {
    seq: number;
    method: string;
  }

  /** Parsed headers: lower-case names; structured where the package has a parser, strings otherwise. */
  export interface SipHeaders {
    via: Via[];
    to: NameAddr;
    from: NameAddr;
    'call-id': string;
    cseq: CSeq;
    contact?: NameAddr[] | '*';
    route?: NameAddr[];
    'record-route'?: NameAddr[];
    'content-type'?: string;
    'content-length'?: number;
    'max-forwards'?: number | string;
    'www-authenticate'?: Array<Record<string, string>>;
    'proxy-authenticate'?: Array<Record<string, string>>;
    'refer-to'?: NameAddr;
    [name: string]: unknown;
  }

  export interface SipMessage {
    method?: string;
    uri?: string | SipUri;
    status?: number;
    reason?: string;
    version?: string;
    headers: SipHeaders;
    content?: string;
  }

  /** Where a message goes: `protocol` is UDP here. */
  export interface Target {
    protocol: string;
    address: string;
    port: number;
  }

  export interface Connection {
    send(m: SipMessage): void;
    release(): void;
    protocol: string;
  }

  export interface ServerTransaction {
    send(m: SipMessage): void;
    message(m: SipMessage, remote?: unknown): void;
    shutdown(): void;
  }

  export interface ClientTransaction {
    message(m: SipMessage, remote?: unknown): void;
    shutdown(): void;
  }

  export interface TransactionLayer {
    createServerTransaction(rq: SipMessage, cn: Connection): ServerTransaction;
    createClientTransaction(cn: Connection, rq: SipMessage, callback: (rs: SipMessage) => void): ClientTransaction;
    getServer(m: SipMessage): ServerTransaction | undefined;
    getClient(m: SipMessage): ClientTransaction | undefined;
    destroy(): void;
  }

  export function parse(data: Buffer | string): SipMessage | undefined;
  export function stringify(m: SipMessage): string;
  export function parseUri(s: string | SipUri): SipUri | undefined;
  export function stringifyUri(u: string | SipUri): string;
  export function makeResponse(rq: SipMessage, status: number, reason?: string, extension?: { headers?: Record<string, unknown>; content?: string }): SipMessage;
  export function generateBranch(): string;
  export function makeTransactionLayer(options: Record<string, unknown>, transport: (target: Target, onError?: (err: Error) => void) => Connection): TransactionLayer;
  export function resolve(uri: SipUri, action: (addresses: Target[]) => void): void;

  const sip: {
    parse: typeof parse;
    stringify: typeof stringify;
    parseUri: typeof parseUri;
    stringifyUri: typeof stringifyUri;
    makeResponse: typeof makeResponse;
    generateBranch: typeof generateBranch;
    makeTransactionLayer: typeof makeTransactionLayer;
    resolve: typeof resolve;
  };
  export default sip;
}

declare module 'sip/digest.js' {
  import type { SipMessage } from 'sip';

  /** Client digest state kept between challenges (nonce, nc, cnonce). */
  export type DigestContext = Record<string, unknown>;

  /** Adds Authorization / Proxy-Authorization to `rq` for the challenge in `rs` (401/407). */
  export function signRequest(ctx: DigestContext | null | undefined, rq: SipMessage, rs?: SipMessage, creds?: { user: string; password: string; realm?: string }): DigestContext | null;

  const digest: { signRequest: typeof signRequest };
  export default digest;
}
