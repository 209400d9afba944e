import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Lead, LeadCase } from '@switchboard/contracts';

const leadsKey = (account: string) => `sb:leads:${account}`;
const casesKey = (account: string, leadId: string) => `sb:leads:${account}:${leadId}:cases`;
const phoneKey = (account: string, e164: string) => `sb:leads:${account}:phone:${e164}`;
const newId = (prefix: string) => `${prefix}_${randomBytes(8).toString('hex')}`;

type StoredLead = Omit<Lead, 'cases'>;

export interface NewLead {
  name: string;
  /** E.164, or undefined when the caller's number is unknown (then no deduplication is possible). */
  phoneNumber: string | undefined;
  classification: Lead['classification'] | undefined;
  case: Omit<LeadCase, 'id' | 'createdAt'>;
}

/**
 * Leads with their cases (seed 001 `create_lead`): one lead per phone number per account. `SET NX`
 * on the number decides which request creates the lead, so two calls from the same number at once
 * still make one lead with two cases.
 */
export class LeadStore {
  constructor(private readonly redis: Redis) {}

  async create(accountId: string, input: NewLead): Promise<{ lead: Lead; leadCase: LeadCase; existing: boolean }> {
    const now = new Date().toISOString();
    let leadId = newId('lead');
    let existing = false;
    // The record is written before the number claims it, so whoever reads the number finds the lead.
    const record: StoredLead = { id: leadId, accountId, name: input.name, classification: input.classification ?? 'lead', createdAt: now, ...(input.phoneNumber ? { phoneNumber: input.phoneNumber } : {}) };
    await this.redis.hset(leadsKey(accountId), leadId, JSON.stringify(record));
    if (input.phoneNumber) {
      const won = await this.redis.set(phoneKey(accountId, input.phoneNumber), leadId, 'NX');
      if (won !== 'OK') {
        await this.redis.hdel(leadsKey(accountId), leadId);
        leadId = (await this.redis.get(phoneKey(accountId, input.phoneNumber))) ?? leadId;
        existing = true;
      }
    }
    const leadCase: LeadCase = { id: newId('case'), ...input.case, createdAt: now };
    await this.redis.rpush(casesKey(accountId, leadId), JSON.stringify(leadCase));
    if (existing && input.classification) await this.patch(accountId, leadId, { classification: input.classification });
    const lead = await this.get(accountId, leadId);
    if (!lead) throw new Error(`lead ${leadId} is indexed by its number but has no record`);
    return { lead, leadCase, existing };
  }

  async get(accountId: string, id: string): Promise<Lead | undefined> {
    const [raw, cases] = await Promise.all([this.redis.hget(leadsKey(accountId), id), this.redis.lrange(casesKey(accountId, id), 0, -1)]);
    if (!raw) return undefined;
    return { ...(JSON.parse(raw) as StoredLead), cases: cases.map((c) => JSON.parse(c) as LeadCase) };
  }

  async list(accountId: string): Promise<Lead[]> {
    const ids = Object.keys(await this.redis.hgetall(leadsKey(accountId)));
    const leads = await Promise.all(ids.map((id) => this.get(accountId, id)));
    return leads.filter((l): l is Lead => l !== undefined).sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  private async patch(accountId: string, id: string, patch: Partial<StoredLead>): Promise<void> {
    const raw = await this.redis.hget(leadsKey(accountId), id);
    if (!raw) return;
    await this.redis.hset(leadsKey(accountId), id, JSON.stringify({ ...(JSON.parse(raw) as StoredLead), ...patch }));
  }
}
