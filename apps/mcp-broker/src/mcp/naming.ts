/** Model providers accept only `^[a-zA-Z0-9_-]{1,64}$` as function names. */
export function providerSafeName(name: string, prefix?: string): string {
  const full = prefix ? `${prefix}_${name}` : name;
  const safe = full.replace(/[^a-zA-Z0-9_-]/g, '_');
  return (safe.length ? safe : 'tool').slice(0, 64);
}
