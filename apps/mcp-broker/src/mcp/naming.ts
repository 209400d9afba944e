import { createHash } from 'node:crypto';

/** Model providers accept only `^[a-zA-Z0-9_-]{1,64}$` as function names. */
export const PROVIDER_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

/**
 * The provider-safe name of an MCP tool: prefixed (`<prefix>_<name>`, agtOS namespacing), every other
 * character replaced with `_`, and a name longer than 64 characters cut to 57 plus `_` and 6 hex
 * characters of a hash of the full name, so two long names that share a beginning stay distinct.
 * The original name travels beside it in the descriptor (`originalName`) and is what the broker sends.
 */
export function providerSafeName(name: string, prefix?: string): string {
  const full = prefix ? `${prefix}_${name}` : name;
  const safe = full.replace(/[^a-zA-Z0-9_-]/g, '_') || 'tool';
  if (safe.length <= 64) return safe;
  return `${safe.slice(0, 57)}_${createHash('sha256').update(full).digest('hex').slice(0, 6)}`;
}

/** `*` wildcard pattern → RegExp over the whole name. */
export function globToRegExp(pattern: string): RegExp {
  return new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);
}
