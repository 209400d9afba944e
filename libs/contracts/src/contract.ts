import type { FromSchema, JSONSchema } from 'json-schema-to-ts';

/**
 * Contract types and builders. A contract pairs a subject (or subject builder) with its schemas; the
 * bus accepts nothing else, so a subject without a schema cannot be published.
 */
/**
 * What a subject token is filled from: nothing, the call id, a service name, or (`subject`) the whole
 * subject, checked by the contract's own builder (the scheduler's `publish` action).
 */
export type SubjectParam = 'none' | 'callId' | 'service' | 'subject';

export interface EventContract<T> {
  readonly kind: 'event';
  readonly name: string;
  readonly param: SubjectParam;
  readonly subject: (param?: string) => string;
  readonly schema: JSONSchema;
  /** Phantom: the payload type. */
  readonly __payload?: T;
}

export interface CommandContract<Req, Rep> {
  readonly kind: 'command';
  readonly name: string;
  readonly param: SubjectParam;
  readonly subject: (param?: string) => string;
  readonly request: JSONSchema;
  readonly reply: JSONSchema;
  /** Queue group that load-balances this command across instances; absent for instance-pinned subjects. */
  readonly queue?: string;
  readonly __request?: Req;
  readonly __reply?: Rep;
}

export type PayloadOf<C> = C extends EventContract<infer T> ? T : never;
export type RequestOf<C> = C extends CommandContract<infer Q, unknown> ? Q : never;
export type ReplyOf<C> = C extends CommandContract<unknown, infer R> ? R : never;

const TOKEN = /^[A-Za-z0-9_-]{1,64}$/;

/** A subject token must not carry `.`, `*`, `>` or spaces: a crafted id must never widen a subscription. */
export function subjectToken(value: string | undefined, what: string): string {
  if (value === undefined || !TOKEN.test(value)) throw new Error(`invalid ${what} for a subject token: ${JSON.stringify(value)}`);
  return value;
}

export function fixed(subject: string): (param?: string) => string {
  return () => subject;
}

export function withToken(param: SubjectParam, build: (token: string) => string): (p?: string) => string {
  return (p?: string) => build(subjectToken(p, param));
}

export function event<const S extends JSONSchema>(name: string, param: SubjectParam, subject: (p?: string) => string, schema: S): EventContract<FromSchema<S>> {
  return { kind: 'event', name, param, subject, schema };
}

export function command<const Q extends JSONSchema, const R extends JSONSchema>(
  name: string,
  param: SubjectParam,
  subject: (p?: string) => string,
  request: Q,
  reply: R,
  queue?: string,
): CommandContract<FromSchema<Q>, FromSchema<R>> {
  return queue === undefined ? { kind: 'command', name, param, subject, request, reply } : { kind: 'command', name, param, subject, request, reply, queue };
}

