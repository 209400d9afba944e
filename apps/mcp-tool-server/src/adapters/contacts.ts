import type { Redis } from 'ioredis';
import type { Contact } from '@switchboard/contracts';

/** A contact as `lookup_contact` returns it: the record plus the source that knew it. */
export interface FoundContact {
  name: string;
  phoneNumbers: string[];
  company?: string;
  email?: string;
  source: string;
}

/**
 * Where contacts come from (seed 001: native contacts, Google, Microsoft). Each account sees only its
 * own contacts in every source.
 */
export interface ContactSource {
  readonly name: string;
  /** Whether it reaches outside Switchboard (a CRM API): makes `lookup_contact` open-world. */
  readonly external: boolean;
  /** Contacts of `accountId` with `e164` among their numbers. */
  lookup(accountId: string, e164: string): Promise<Contact[]>;
}

const contactsKey = (account: string) => `sb:contacts:${account}`;
const phoneKey = (account: string, e164: string) => `sb:contacts:${account}:phone:${e164}`;

/** The native contact source: contacts in Redis, indexed by E.164 number. */
export class NativeContactStore implements ContactSource {
  readonly name = 'native';
  readonly external = false;

  constructor(private readonly redis: Redis) {}

  async get(accountId: string, id: string): Promise<Contact | undefined> {
    const raw = await this.redis.hget(contactsKey(accountId), id);
    return raw ? (JSON.parse(raw) as Contact) : undefined;
  }

  /** Creates or replaces a contact; its old numbers leave the index. */
  async put(accountId: string, contact: Contact): Promise<void> {
    const old = await this.get(accountId, contact.id);
    const tx = this.redis.multi();
    for (const n of old?.phoneNumbers ?? []) tx.srem(phoneKey(accountId, n), contact.id);
    tx.hset(contactsKey(accountId), contact.id, JSON.stringify(contact));
    for (const n of contact.phoneNumbers) tx.sadd(phoneKey(accountId, n), contact.id);
    await tx.exec();
  }

  async remove(accountId: string, id: string): Promise<boolean> {
    const old = await this.get(accountId, id);
    if (!old) return false;
    const tx = this.redis.multi().hdel(contactsKey(accountId), id);
    for (const n of old.phoneNumbers) tx.srem(phoneKey(accountId, n), id);
    await tx.exec();
    return true;
  }

  async lookup(accountId: string, e164: string): Promise<Contact[]> {
    const ids = await this.redis.smembers(phoneKey(accountId, e164));
    if (!ids.length) return [];
    const raws = await this.redis.hmget(contactsKey(accountId), ...ids.sort());
    return raws.filter((r): r is string => r !== null).map((r) => JSON.parse(r) as Contact);
  }
}

/** Every connected source, asked in parallel; a failing or slow source is reported, not fatal. */
export class ContactDirectory {
  constructor(
    readonly sources: readonly ContactSource[],
    private readonly timeoutMs = 3000,
  ) {}

  get external(): boolean {
    return this.sources.some((s) => s.external);
  }

  async lookup(accountId: string, e164: string): Promise<{ contacts: FoundContact[]; failedSources: string[] }> {
    const results = await Promise.allSettled(
      this.sources.map(async (s) => {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`${s.name} timed out`)), this.timeoutMs);
        });
        try {
          return (await Promise.race([s.lookup(accountId, e164), timeout])).map((c): FoundContact => ({
            name: c.name,
            phoneNumbers: [...c.phoneNumbers],
            ...(c.company !== undefined ? { company: c.company } : {}),
            ...(c.email !== undefined ? { email: c.email } : {}),
            source: s.name,
          }));
        } finally {
          clearTimeout(timer);
        }
      }),
    );
    const contacts: FoundContact[] = [];
    const failedSources: string[] = [];
    results.forEach((r, i) => {
      if (r.status === 'fulfilled') contacts.push(...r.value);
      else failedSources.push(this.sources[i]!.name);
    });
    return { contacts, failedSources };
  }
}
