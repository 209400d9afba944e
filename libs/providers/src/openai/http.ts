import { ErrorCodes, SwitchboardError, isRetryableStatus } from '@switchboard/contracts';

export interface OpenAICompatibleOptions {
  /** Base URL including `/v1` (OpenAI, Groq, vLLM, Ollama, LocalAI, or the bundled fake). */
  baseUrl: string;
  apiKey?: string | undefined;
  /** Per-request deadline (ms) for the response headers. */
  timeoutMs?: number;
}

/** POSTs to an OpenAI-compatible endpoint; HTTP errors become PROVIDER_FAILED with the provider's message. */
export async function postOpenAI(opts: OpenAICompatibleOptions, path: string, body: string | FormData, contentType: string | undefined, signal?: AbortSignal): Promise<Response> {
  const timeout = AbortSignal.timeout(opts.timeoutMs ?? 15_000);
  const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
  let res: Response;
  try {
    res = await fetch(`${opts.baseUrl.replace(/\/$/, '')}${path}`, {
      method: 'POST',
      headers: {
        ...(contentType ? { 'content-type': contentType } : {}),
        ...(opts.apiKey ? { authorization: `Bearer ${opts.apiKey}` } : {}),
      },
      body,
      signal: combined,
    });
  } catch (err) {
    if (signal?.aborted) throw err;
    if (timeout.aborted) throw new SwitchboardError(ErrorCodes.PROVIDER_TIMEOUT, `${path} did not answer within ${opts.timeoutMs ?? 15_000} ms`);
    throw new SwitchboardError(ErrorCodes.PROVIDER_FAILED, `${path} unreachable (${(err as Error).message})`, { retryable: true });
  }
  if (!res.ok) {
    let message = `HTTP ${res.status}`;
    try {
      const j = (await res.json()) as { error?: { message?: string } };
      if (j.error?.message) message = `${message}: ${j.error.message}`;
    } catch {
      /* body not JSON: keep the status line */
    }
    throw new SwitchboardError(ErrorCodes.PROVIDER_FAILED, `${path} failed (${message})`, { retryable: isRetryableStatus(res.status), details: { status: res.status } });
  }
  return res;
}
