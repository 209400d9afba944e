import type { CallStarted } from '@switchboard/contracts';

/** `{{function.name(args)}}` or `{{function.name}}` (the Plati seed's tool references in prompts). */
const FUNCTION_REF = /\{\{\s*function\.([A-Za-z0-9_-]{1,64})\s*(?:\(([^(){}]*)\))?\s*\}\}/g;
/** `{{name}}` / `{{a.b}}` variables. */
const VARIABLE = /\{\{\s*([a-zA-Z0-9_.]+)\s*\}\}/g;

/** Names of the tools a prompt references with `{{function.name(...)}}`, in order, without repeats. */
export function functionReferences(template: string): string[] {
  const out = new Set<string>();
  for (const m of template.matchAll(FUNCTION_REF)) out.add(m[1]!);
  return [...out];
}

/**
 * `{{now}}` in a time zone: ISO 8601 local time with its offset, then the weekday and the zone, e.g.
 * `2025-06-01T14:00:00+02:00 (Sunday, Europe/Berlin)`. An unknown zone falls back to UTC.
 */
export function formatNow(date: Date, timeZone = 'UTC'): string {
  let fmt: Intl.DateTimeFormat;
  try {
    fmt = new Intl.DateTimeFormat('en-US', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23', weekday: 'long', timeZoneName: 'longOffset' });
  } catch {
    return formatNow(date, 'UTC');
  }
  const p = Object.fromEntries(fmt.formatToParts(date).map((x) => [x.type, x.value]));
  const offset = (p.timeZoneName ?? 'GMT').replace('GMT', '') || '+00:00';
  return `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}:${p.second}${offset} (${p.weekday}, ${timeZone})`;
}

export interface RenderOptions {
  /** The account's IANA time zone for `{{now}}` (default UTC). */
  timeZone?: string;
  /** The agent's default `variables`; the call's own variables override them. */
  defaults?: Record<string, string> | undefined;
  /** Original tool name → the name the model sees, for `{{function.x}}` mentions. */
  toolNames?: ReadonlyMap<string, string>;
  /** For tests: the clock. */
  now?: Date;
}

/**
 * Fills `{{caller.number}}`, `{{call.direction}}`, `{{call.id}}`, `{{now}}` and variables (the agent's
 * defaults, then an outbound call's), and renders `{{function.name(args)}}` as a plain mention
 * `name(args)` using the name the model is offered. Unknown placeholders stay as they are; values are
 * inserted literally, never rendered again.
 */
export function renderPrompt(template: string, call: CallStarted, opts: RenderOptions = {}): string {
  // Built-ins come last: variables passed with an outbound call cannot impersonate the caller's number.
  const vars: Record<string, string> = {
    ...(opts.defaults ?? {}),
    ...(call.variables ?? {}),
    'caller.number': call.from,
    'call.direction': call.direction,
    'call.id': call.callId,
    now: formatNow(opts.now ?? new Date(), opts.timeZone),
  };
  const withTools = template.replace(FUNCTION_REF, (_m, name: string, args: string | undefined) => {
    const shown = opts.toolNames?.get(name) ?? name;
    return args === undefined ? shown : `${shown}(${args.trim()})`;
  });
  return withTools.replace(VARIABLE, (m, k: string) => vars[k] ?? m);
}
