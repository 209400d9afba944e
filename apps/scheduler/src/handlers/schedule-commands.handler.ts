import type { Subscription } from '@nats-io/nats-core';
import { contracts } from '@switchboard/contracts';
import type { Bus } from '@switchboard/bus';
import type { ScheduleService } from '../schedules/service.ts';

/**
 * `cmd.scheduler.create|get|list|cancel|pause|resume`: the schedule operations over NATS, one queue
 * group across instances. The caller names the account (services that already authenticated it,
 * such as the MCP tool server); over HTTP the account comes from the API key instead.
 */
export function handleScheduleCommands(bus: Bus, service: ScheduleService): Subscription[] {
  return [
    bus.handle(contracts.scheduleCreate, async (req) => (await service.create(req)).schedule),
    bus.handle(contracts.scheduleGet, (req) => service.get(req)),
    bus.handle(contracts.scheduleList, (req) => service.list(req)),
    bus.handle(contracts.scheduleCancel, (req) => service.cancel(req)),
    bus.handle(contracts.schedulePause, (req) => service.pause(req)),
    bus.handle(contracts.scheduleResume, (req) => service.resume(req)),
  ];
}
