import { setTimeout as sleep } from 'node:timers/promises';
import type { CallContext, WebhookTool } from '@switchboard/contracts';
import { SafeFetchError, safeFetch } from '@switchboard/safe-fetch';

export interface WebhookOptions {
  /** Per-attempt deadline unless the tool sets `timeoutMs`. */
  timeoutMs: number;
  /** Reach private, loopback and link-local addresses (development and tests). */
  allowPrivate: boolean;
  /** Attempts in all (Patter: 3). */
  attempts?: number;
  /** Pause between attempts (Patter: 500 ms). */
  retryDelayMs?: number;
  /** Largest response accepted (Patter: 1 MB). */
  maxBytes?: number;
}

export interface WebhookResult {
  /** What goes back to the model: the response body, or the `{"error": …, "fallback": true}` envelope. */
  text: string;
  isError: boolean;
  attempts: number;
}

const envelope = (error: string) => JSON.stringify({ error, fallback: true });

/** 408, 429 and 5xx may succeed on another attempt; other statuses will not. */
const retryableStatus = (s: number) => s === 408 || s === 429 || s >= 500;

/**
 * Runs a webhook tool (Patter's model): POSTs `{tool, arguments, call, attempt}` as JSON to the tool's
 * URL with its headers and an `Idempotency-Key` (the invocation id, the same on every attempt), up to 3
 * attempts 500 ms apart on network failures, timeouts, 408, 429 and 5xx, a 1 MB response cap and the
 * platform's address guard. Never throws: every failure is the fallback envelope.
 */
export async function callWebhookTool(tool: WebhookTool, args: Record<string, unknown>, context: CallContext, invocationId: string, opts: WebhookOptions, signal?: AbortSignal): Promise<WebhookResult> {
  const attempts = opts.attempts ?? 3;
  let last = 'no attempt made';
  for (let attempt = 1; attempt <= attempts; attempt++) {
    if (attempt > 1) {
      try {
        await sleep(opts.retryDelayMs ?? 500, undefined, signal ? { signal } : undefined);
      } catch {
        return { text: envelope(`${tool.name} was cancelled`), isError: true, attempts: attempt - 1 };
      }
    }
    try {
      const res = await safeFetch(tool.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/plain', 'idempotency-key': invocationId, 'user-agent': 'switchboard-agent-orchestrator', ...(tool.headers ?? {}) },
        body: JSON.stringify({ tool: tool.name, arguments: args, call: context, invocationId, attempt }),
        timeoutMs: tool.timeoutMs ?? opts.timeoutMs,
        maxBytes: opts.maxBytes ?? 1024 * 1024,
        allowPrivate: opts.allowPrivate,
        ...(signal ? { signal } : {}),
      });
      const body = res.body.toString('utf8');
      if (res.status >= 200 && res.status < 300) return { text: body || '{"ok":true}', isError: false, attempts: attempt };
      last = `${tool.name} answered HTTP ${res.status}${body ? `: ${body.slice(0, 300)}` : ''}`;
      if (!retryableStatus(res.status)) return { text: envelope(last), isError: true, attempts: attempt };
    } catch (err) {
      const e = err instanceof SafeFetchError ? err : new SafeFetchError('network', (err as Error).message, true);
      last = e.kind === 'too-large' ? `${tool.name} answered more than ${opts.maxBytes ?? 1024 * 1024} bytes` : `${tool.name} failed: ${e.message}`;
      if (!e.retryable) return { text: envelope(last), isError: true, attempts: attempt };
    }
  }
  return { text: envelope(`${last} (after ${attempts} attempts)`), isError: true, attempts };
}
