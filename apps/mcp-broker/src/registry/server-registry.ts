import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { ErrorCodes, SwitchboardError, type McpServerConfig, type RegisteredServer } from '@switchboard/contracts';
import type { RegisteredEntry, ServerSource } from '../mcp/broker.ts';
import type { SecretBox } from './secrets.ts';

/** What `POST /v1/mcp-servers` stores (after validation). */
export interface NewServer {
  name: string;
  transport: 'streamable-http' | 'sse' | 'http-functions';
  url: string;
  headers: Array<{ key: string; value: string }>;
  prefix?: string;
  allowedTools?: string[];
  timeoutMs?: number;
  tools?: Record<string, { timeoutMs?: number; cancelOnBargeIn?: boolean; fillerAfterMs?: number }>;
}

interface StoredServer extends Omit<RegisteredServer, 'headers'> {
  /** Header values sealed with SECRETS_KEY; never returned. */
  headers: Array<{ key: string; sealed: string }>;
}

const serverKey = (id: string) => `sb:mcp:server:${id}`;
const accountServers = (accountId: string) => `sb:mcp:account:${accountId}:servers`;
const accountNames = (accountId: string) => `sb:mcp:account:${accountId}:server-names`;
const agentServers = (accountId: string, agentId: string) => `sb:mcp:account:${accountId}:agent:${agentId}:servers`;
const serverAgents = (id: string) => `sb:mcp:server:${id}:agents`;

/** How long a resolved (decrypted) server is reused by this process before it is read again. */
const RESOLVED_TTL_MS = 5_000;

/**
 * MCP servers registered per account (Plati's workspace registration) and their attachment to
 * agents, in Redis. Header values are sealed at rest and only opened inside the broker, for the
 * connection; `get`/`list` return header names only.
 */
export class ServerRegistry implements ServerSource {
  private readonly resolved = new Map<string, { entry: RegisteredEntry; accountId: string; at: number }>();

  constructor(
    private readonly redis: Redis,
    private readonly box: SecretBox | undefined,
  ) {}

  /** Whether servers with headers can be registered (SECRETS_KEY is set). */
  get canStoreSecrets(): boolean {
    return this.box !== undefined;
  }

  private aad(id: string, accountId: string): string {
    return `${id}|${accountId}`;
  }

  private toPublic(s: StoredServer): RegisteredServer {
    return { ...s, headers: s.headers.map((h) => ({ key: h.key, redacted: true })) };
  }

  async create(accountId: string, input: NewServer): Promise<RegisteredServer> {
    if (input.headers.length && !this.box) {
      throw new SwitchboardError(ErrorCodes.CONFIG_INVALID, 'this broker cannot store header secrets: set SECRETS_KEY (32 bytes, base64) to register servers with headers');
    }
    const id = `srv_${randomBytes(9).toString('base64url')}`;
    // The name is the descriptors' `server`: unique within the account.
    const claimed = await this.redis.hsetnx(accountNames(accountId), input.name, id);
    if (!claimed) throw new SwitchboardError(ErrorCodes.REQUEST_INVALID, `an MCP server named '${input.name}' is already registered in this account`);
    const stored: StoredServer = {
      id,
      accountId,
      name: input.name,
      transport: input.transport,
      url: input.url,
      headers: input.headers.map((h) => ({ key: h.key, sealed: (this.box as SecretBox).seal(h.value, this.aad(id, accountId)) })),
      ...(input.prefix !== undefined ? { prefix: input.prefix } : {}),
      ...(input.allowedTools ? { allowedTools: input.allowedTools } : {}),
      ...(input.timeoutMs !== undefined ? { timeoutMs: input.timeoutMs } : {}),
      ...(input.tools ? { tools: input.tools } : {}),
      createdAt: new Date().toISOString(),
    };
    await this.redis.multi().set(serverKey(id), JSON.stringify(stored)).sadd(accountServers(accountId), id).exec();
    return this.toPublic(stored);
  }

  private async stored(accountId: string, id: string): Promise<StoredServer | undefined> {
    const raw = await this.redis.get(serverKey(id));
    if (!raw) return undefined;
    const s = JSON.parse(raw) as StoredServer;
    // Another account's server is as good as absent.
    return s.accountId === accountId ? s : undefined;
  }

  async get(accountId: string, id: string): Promise<RegisteredServer | undefined> {
    const s = await this.stored(accountId, id);
    return s ? this.toPublic(s) : undefined;
  }

  async list(accountId: string): Promise<RegisteredServer[]> {
    const ids = (await this.redis.smembers(accountServers(accountId))).sort();
    if (!ids.length) return [];
    const raws = await this.redis.mget(...ids.map(serverKey));
    return raws.flatMap((raw) => (raw ? [this.toPublic(JSON.parse(raw) as StoredServer)] : []));
  }

  /** Deletes a server and detaches it from every agent; false when it does not exist in this account. */
  async delete(accountId: string, id: string): Promise<boolean> {
    const s = await this.stored(accountId, id);
    if (!s) return false;
    const agents = await this.redis.smembers(serverAgents(id));
    const m = this.redis.multi().del(serverKey(id)).srem(accountServers(accountId), id).hdel(accountNames(accountId), s.name).del(serverAgents(id));
    for (const a of agents) m.srem(agentServers(accountId, a), id);
    await m.exec();
    this.resolved.delete(id);
    return true;
  }

  async attach(accountId: string, agentId: string, id: string): Promise<void> {
    await this.redis.multi().sadd(agentServers(accountId, agentId), id).sadd(serverAgents(id), agentId).exec();
  }

  /** False when it was not attached. */
  async detach(accountId: string, agentId: string, id: string): Promise<boolean> {
    const [[, removed] = []] = (await this.redis.multi().srem(agentServers(accountId, agentId), id).srem(serverAgents(id), agentId).exec()) ?? [];
    return removed === 1;
  }

  async attachedIds(accountId: string, agentId: string): Promise<string[]> {
    return (await this.redis.smembers(agentServers(accountId, agentId))).sort();
  }

  /** Attached servers, public view (the servers-for-agent reply). */
  async attachedServers(accountId: string, agentId: string): Promise<RegisteredServer[]> {
    const ids = await this.attachedIds(accountId, agentId);
    const out: RegisteredServer[] = [];
    for (const id of ids) {
      const s = await this.get(accountId, id);
      if (s) out.push(s);
    }
    return out;
  }

  /** A stored server as a connectable config, headers opened (broker-internal only). */
  private toConfig(s: StoredServer): McpServerConfig {
    const headers: Record<string, string> = {};
    for (const h of s.headers) headers[h.key] = (this.box as SecretBox).open(h.sealed, this.aad(s.id, s.accountId));
    return {
      name: s.name,
      transport: s.transport,
      url: s.url,
      headers,
      ...(s.prefix !== undefined ? { prefix: s.prefix } : {}),
      ...(s.allowedTools ? { allowedTools: s.allowedTools } : {}),
      ...(s.timeoutMs !== undefined ? { timeoutMs: s.timeoutMs } : {}),
      ...(s.tools ? { tools: s.tools as McpServerConfig['tools'] } : {}),
    };
  }

  /** Registered servers by id, in this account, headers opened; an unknown id throws MCP_SERVER_NOT_FOUND. */
  async byRefs(accountId: string, refs: readonly string[]): Promise<RegisteredEntry[]> {
    const now = Date.now();
    const out: RegisteredEntry[] = [];
    for (const ref of refs) {
      const hit = this.resolved.get(ref);
      if (hit && hit.accountId === accountId && now - hit.at < RESOLVED_TTL_MS) {
        out.push(hit.entry);
        continue;
      }
      const s = await this.stored(accountId, ref);
      if (!s) throw new SwitchboardError(ErrorCodes.MCP_SERVER_NOT_FOUND, `no registered MCP server ${ref} in account ${accountId}`);
      if (s.headers.length && !this.box) throw new SwitchboardError(ErrorCodes.CONFIG_INVALID, `MCP server '${s.name}' has stored headers but SECRETS_KEY is not set`);
      const entry = { ref, server: this.toConfig(s) };
      this.resolved.set(ref, { entry, accountId, at: now });
      out.push(entry);
    }
    return out;
  }

  /** Attached servers with headers opened; one deleted meanwhile is skipped. */
  async attached(accountId: string, agentId: string): Promise<RegisteredEntry[]> {
    const out: RegisteredEntry[] = [];
    for (const id of await this.attachedIds(accountId, agentId)) {
      try {
        out.push(...(await this.byRefs(accountId, [id])));
      } catch (err) {
        if ((err as SwitchboardError).code !== ErrorCodes.MCP_SERVER_NOT_FOUND) throw err;
      }
    }
    return out;
  }
}
