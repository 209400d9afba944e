import type { Logger } from 'pino';
import { ErrorCodes, SwitchboardError, normalizeMcpServers, type Schedule, type ScheduleCreate, type ScheduleList, type SchedulePage, type ScheduleRef } from '@switchboard/contracts';
import type { AgentRegistry } from '@switchboard/agents';
import { destinationAllowed, type AccountStore } from '@switchboard/session-store';
import { toSchedule, type ScheduleSpec, type ScheduleStore, type StoredSchedule } from '../adapters/schedule-store.ts';
import type { RunQueue } from '../adapters/run-queue.ts';
import { dialRequestFor, isCallAction, type Action } from './actions.ts';
import { firstDue, nextDue, whenKind } from './timing.ts';

export interface ScheduleServiceDeps {
  store: ScheduleStore;
  runs: RunQueue;
  agents: AgentRegistry;
  accounts: AccountStore;
  /** Event domains a `publish` action may not use (`call`, `tool`, …: the platform's own events). */
  reservedEventDomains: ReadonlySet<string>;
  /** Largest action (JSON bytes) a schedule may carry. */
  maxActionBytes: number;
  log: Logger;
}

const DEFAULT_PAGE = 50;
const invalid = (message: string) => new SwitchboardError(ErrorCodes.REQUEST_INVALID, message);
const notFound = (id: string) => new SwitchboardError(ErrorCodes.SCHEDULE_NOT_FOUND, `no schedule ${id}`);

/**
 * The schedule operations (create, get, list, cancel, pause, resume), shared by the NATS handlers
 * and the HTTP routes, and the step every run ends with (`advance`). Records live in Redis; BullMQ
 * holds exactly one delayed job per active schedule: its next run.
 */
export class ScheduleService {
  constructor(private readonly deps: ScheduleServiceDeps) {}

  /** Validates everything a run will need, then stores the schedule and queues its first run. */
  async create(req: ScheduleCreate): Promise<{ schedule: Schedule; created: boolean }> {
    const { store, runs } = this.deps;
    if (req.idempotencyKey !== undefined) {
      const existing = await store.findByIdempotencyKey(req.accountId, req.idempotencyKey);
      const found = existing === undefined ? undefined : await store.get(existing);
      if (found) return { schedule: toSchedule(found), created: false };
    }
    const now = Date.now();
    const due = firstDue(req.when, now);
    await this.checkAction(req.accountId, req.action);
    const spec: ScheduleSpec = {
      id: store.newId(now),
      accountId: req.accountId,
      name: req.name,
      when: req.when,
      action: req.action,
      ...(req.idempotencyKey !== undefined ? { idempotencyKey: req.idempotencyKey } : {}),
      missedRunPolicy: req.missedRunPolicy ?? 'fire-once',
      createdAt: new Date(now).toISOString(),
    };
    const { id, created } = await store.create(spec, now, due);
    if (created) await runs.enqueue(id, due);
    const stored = await store.get(id);
    if (!stored) throw new SwitchboardError(ErrorCodes.INTERNAL_ERROR, `schedule ${id} vanished after creation`);
    return { schedule: toSchedule(stored), created };
  }

  async get(ref: ScheduleRef): Promise<Schedule> {
    return toSchedule(await this.load(ref));
  }

  async list(req: ScheduleList): Promise<SchedulePage> {
    const page = await this.deps.store.list(req.accountId, req.status, req.cursor, req.limit ?? DEFAULT_PAGE);
    return { items: page.items.map(toSchedule), ...(page.nextCursor !== undefined ? { nextCursor: page.nextCursor } : {}) };
  }

  /**
   * Stops every future run: the pending job is removed, and a run that is already going finishes but
   * queues nothing after it. Cancelling a cancelled schedule returns it unchanged.
   */
  async cancel(ref: ScheduleRef): Promise<Schedule> {
    const s = await this.load(ref);
    const res = await this.deps.store.transition(s.spec.id, s.spec.accountId, ['active', 'paused'], 'cancelled', { del: ['nextDueMs', 'nextRunMs'] });
    if (!res.applied && res.status !== 'cancelled') throw this.conflict(ref.id, res.status, 'cancel');
    if (res.pendingDueMs !== undefined) await this.deps.runs.remove(s.spec.id, res.pendingDueMs);
    return this.get(ref);
  }

  /** Holds future runs; a run going now finishes. Pausing a paused schedule returns it unchanged. */
  async pause(ref: ScheduleRef): Promise<Schedule> {
    const s = await this.load(ref);
    const res = await this.deps.store.transition(s.spec.id, s.spec.accountId, ['active', 'paused'], 'paused', { del: ['nextRunMs'] });
    if (!res.applied) throw this.conflict(ref.id, res.status, 'pause');
    if (res.pendingDueMs !== undefined) await this.deps.runs.remove(s.spec.id, res.pendingDueMs);
    return this.get(ref);
  }

  /**
   * Resumes a paused schedule from now: a recurring one with its next occurrence after now; a
   * one-off whose time is still ahead keeps it, and one whose time passed while paused follows its
   * missed-run policy (fire once now, or skip and complete). Resuming an active schedule returns it.
   */
  async resume(ref: ScheduleRef): Promise<Schedule> {
    const s = await this.load(ref);
    if (s.status === 'active') return toSchedule(s);
    if (s.status !== 'paused') throw this.conflict(ref.id, s.status, 'resume');
    const now = Date.now();
    const { id, accountId } = s.spec;
    const oneOff = whenKind(s.spec.when) === 'once';
    const pendingDue = s.nextDueMs ?? now;
    const ranAlready = oneOff && (await this.deps.store.loadForRun(id, pendingDue)).claim === 'done';
    if (oneOff && (ranAlready || (pendingDue < now && s.spec.missedRunPolicy === 'skip'))) {
      const set: Record<string, number> = ranAlready ? {} : { lastSkippedMs: now };
      const res = await this.deps.store.transition(id, accountId, ['paused'], 'completed', { set, del: ['nextDueMs', 'nextRunMs'] });
      if (!res.applied) throw this.conflict(ref.id, res.status, 'resume');
      return this.get(ref);
    }
    const due = oneOff ? pendingDue : (nextDue(s.spec.when, s.anchorMs, now, now) as number);
    const runAt = Math.max(due, now);
    const res = await this.deps.store.transition(id, accountId, ['paused'], 'active', { set: { nextDueMs: due, nextRunMs: runAt } });
    if (!res.applied) throw this.conflict(ref.id, res.status, 'resume');
    await this.deps.runs.enqueue(id, due, runAt);
    return this.get(ref);
  }

  /**
   * Ends a run of occurrence `dueMs` (fired, skipped or failed for good): a one-off completes; a
   * recurring schedule queues its next occurrence after both the due time and now, so a long
   * downtime yields one late run, never a burst. Returns the next due time, if any.
   */
  async advance(s: StoredSchedule, dueMs: number, now = Date.now()): Promise<number | undefined> {
    const { store, runs } = this.deps;
    const next = nextDue(s.spec.when, s.anchorMs, dueMs, now);
    if (next === undefined) {
      await store.transition(s.spec.id, s.spec.accountId, ['active'], 'completed', { del: ['nextDueMs', 'nextRunMs'] });
      return undefined;
    }
    if (!(await store.setNext(s.spec.id, next))) return undefined;
    await runs.enqueue(s.spec.id, next);
    // A cancel or pause between setNext and enqueue removed nothing: undo the enqueue here.
    if ((await store.status(s.spec.id)) !== 'active') await runs.remove(s.spec.id, next);
    return next;
  }

  /**
   * Boot-time repair: every active schedule gets the job of its pending run back if the job is gone
   * (a crash between storing a schedule and queueing it). A run whose claim says it already fired
   * is advanced instead. Safe on several instances at once: job ids are deterministic.
   */
  async reconcile(): Promise<{ checked: number; requeued: number }> {
    const { store, runs } = this.deps;
    const ids = await store.activeIds();
    let requeued = 0;
    for (let i = 0; i < ids.length; i += 100) {
      await Promise.all(
        ids.slice(i, i + 100).map(async (id) => {
          const s = await store.get(id);
          if (!s || s.status !== 'active' || s.nextDueMs === undefined) return;
          if (await runs.exists(id, s.nextDueMs)) return;
          const { claim } = await store.loadForRun(id, s.nextDueMs);
          requeued++;
          if (claim === 'done') await this.advance(s, s.nextDueMs);
          else await runs.enqueue(id, s.nextDueMs, s.nextRunMs ?? s.nextDueMs);
        }),
      );
    }
    if (requeued) this.deps.log.warn({ requeued, checked: ids.length }, 'reconciled schedules whose next run had no job');
    return { checked: ids.length, requeued };
  }

  private async load(ref: ScheduleRef): Promise<StoredSchedule> {
    const s = await this.deps.store.get(ref.id);
    if (!s || s.spec.accountId !== ref.accountId) throw notFound(ref.id);
    return s;
  }

  private conflict(id: string, status: string, op: string): SwitchboardError {
    if (status === 'missing') return notFound(id);
    return new SwitchboardError(ErrorCodes.SCHEDULE_CONFLICT, `cannot ${op} schedule ${id}: it is ${status}`);
  }

  /** Creation-time checks of an action: size, agent, MCP server and tool, destination, subject. */
  private async checkAction(accountId: string, action: Action): Promise<void> {
    const bytes = Buffer.byteLength(JSON.stringify(action));
    if (bytes > this.deps.maxActionBytes) throw invalid(`action is ${bytes} bytes; the limit is ${this.deps.maxActionBytes}`);
    if (action.type === 'publish') {
      const domain = action.subject.split('.')[1] ?? '';
      if (this.deps.reservedEventDomains.has(domain)) throw invalid(`action.subject: ${action.subject} is a platform event; scheduled publishes may not use the "${domain}" domain`);
      return;
    }
    const agent = this.deps.agents.get(action.agentId);
    if (!agent || (agent.accountId ?? 'default') !== accountId) throw new SwitchboardError(ErrorCodes.AGENT_NOT_FOUND, `agent "${action.agentId}" not found`);
    if (action.type === 'tool_call') {
      const server = normalizeMcpServers(agent.mcpServers ?? []).find((s) => s.name === action.server);
      if (!server) throw invalid(`action.server: agent "${action.agentId}" has no MCP server "${action.server}"`);
      if (server.allowedTools && !server.allowedTools.includes(action.tool)) throw invalid(`action.tool: "${action.tool}" is not in the allowedTools of server "${action.server}"`);
      return;
    }
    if (isCallAction(action)) {
      const vars = dialRequestFor(accountId, action, 'check').variables ?? {};
      if (Object.keys(vars).length > 50) throw invalid('action.variables: at most 50 variables, including those a callback adds (callback_reason, customer_id, customer_name)');
      const settings = await this.deps.accounts.get(accountId);
      if (!destinationAllowed(action.to, settings.allowedDestinations ?? [])) {
        throw new SwitchboardError(ErrorCodes.AUTH_FORBIDDEN, `action.to: ${action.to} is not in the allowed destinations of account ${accountId}`);
      }
    }
  }
}
