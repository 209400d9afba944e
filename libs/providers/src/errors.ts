/** The human message inside a provider's error body, whichever shape it uses. */
export function providerMessage(body: string): string {
  const text = body.trim();
  if (!text) return '';
  try {
    const j = JSON.parse(text) as Record<string, unknown>;
    const pick = (v: unknown): string | undefined => (typeof v === 'string' && v ? v : undefined);
    const obj = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {});
    return (
      pick(obj(j['error'])['message']) ?? // OpenAI, Anthropic
      pick(j['err_msg']) ?? // Deepgram
      pick(obj(j['detail'])['message']) ?? // ElevenLabs
      pick(j['detail']) ??
      pick(j['message']) ??
      pick(j['error']) ??
      text.slice(0, 200)
    );
  } catch {
    return text.slice(0, 200);
  }
}
