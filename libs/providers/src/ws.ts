import WebSocket from 'ws';
import type { IncomingMessage } from 'node:http';
import { ErrorCodes, SwitchboardError, isRetryableStatus } from '@switchboard/contracts';
import { providerMessage } from './errors.ts';

export interface ConnectOptions {
  /** Request headers of the upgrade (auth). */
  headers: Record<string, string>;
  /** Deadline for the handshake, ms. */
  timeoutMs: number;
  /** Provider name for error messages ("deepgram", "elevenlabs"). */
  what: string;
}

/** `http(s)://` becomes `ws(s)://`, so a base URL can be given either way. */
export function toWebSocketUrl(url: string): string {
  return url.replace(/^http(s?):\/\//i, 'ws$1://');
}

/**
 * Opens a WebSocket and hands it to `wrap` synchronously inside the 'open' event, so the wrapper's
 * listeners are in place before the first server message is parsed (a server may send one in the
 * same packet as the upgrade response, and it would be lost if listeners were added after an await).
 * A refused upgrade becomes PROVIDER_FAILED with the provider's status and message
 * (retryable by status: 401 is not, 5xx and 429 are); no socket is PROVIDER_FAILED retryable; no
 * handshake within `timeoutMs` is PROVIDER_TIMEOUT. Aborting `signal` rejects with its reason.
 */
export function connectWebSocket<T>(url: string, opts: ConnectOptions, wrap: (ws: WebSocket) => T, signal?: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const ws = new WebSocket(url, { headers: opts.headers, handshakeTimeout: opts.timeoutMs });
    let settled = false;
    const settle = (err: unknown): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      ws.off('open', onOpen);
      if (err === undefined) {
        resolve(wrap(ws));
        return;
      }
      ws.removeAllListeners('message');
      // A terminated socket still emits 'error'/'close'; keep one listener so nothing is unhandled.
      ws.on('error', () => undefined);
      if (ws.readyState !== WebSocket.CLOSED) ws.terminate();
      reject(err);
    };
    const onOpen = (): void => {
      ws.off('error', onError);
      ws.off('unexpected-response', onUnexpected);
      settle(undefined);
    };
    const onError = (err: Error): void => {
      if (/handshake has timed out|Opening handshake/i.test(err.message)) {
        settle(new SwitchboardError(ErrorCodes.PROVIDER_TIMEOUT, `${opts.what} did not accept the WebSocket within ${opts.timeoutMs} ms`));
        return;
      }
      settle(new SwitchboardError(ErrorCodes.PROVIDER_FAILED, `${opts.what} unreachable (${err.message})`, { retryable: true }));
    };
    const onUnexpected = (_req: unknown, res: IncomingMessage): void => {
      const status = res.statusCode ?? 0;
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        if (size < 4096) chunks.push(c);
        size += c.length;
      });
      const done = (): void => {
        const detail = providerMessage(Buffer.concat(chunks).toString('utf8'));
        settle(
          new SwitchboardError(ErrorCodes.PROVIDER_FAILED, `${opts.what} refused the WebSocket (HTTP ${status}${detail ? `: ${detail}` : ''})`, {
            retryable: isRetryableStatus(status),
            details: { status },
          }),
        );
      };
      res.on('end', done);
      res.on('error', done);
      res.on('close', done);
    };
    const onAbort = (): void => settle(signal?.reason);
    ws.on('open', onOpen);
    ws.on('error', onError);
    ws.on('unexpected-response', onUnexpected);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The error for a socket the provider (or the network) ended while we still wanted it. */
export function closedUnexpectedly(what: string, code: number, reason: string): SwitchboardError {
  // 1008 policy violation (bad key, quota) and 4xxx application codes for bad requests are not worth retrying as-is.
  const retryable = !(code === 1008 || code === 1003 || (code >= 4000 && code < 4500));
  return new SwitchboardError(ErrorCodes.PROVIDER_FAILED, `${what} closed the stream (${code}${reason ? ` ${reason}` : ''})`, {
    retryable,
    details: { closeCode: code, ...(reason ? { closeReason: reason } : {}) },
  });
}
