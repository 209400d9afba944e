/**
 * API keys and account settings of the mcp-tool-server, straight in Redis (REDIS_URL):
 *
 *   npm run keys -- create --account <id> [--scopes calls,directory] [--rate 600] [--label "CRM"]
 *   npm run keys -- revoke <key id>
 *   npm run keys -- list [--account <id>]
 *   npm run keys -- account show --account <id>
 *   npm run keys -- account set --account <id> [--time-zone Europe/Berlin] [--allow "+4930*,+15551234567"] [--name "Acme"]
 *
 * `--json` prints JSON. The plaintext key is printed once, at creation; Redis keeps only its hash.
 */
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { accountSettingsSchema, TOOL_SCOPES, type AccountSettings } from '@switchboard/contracts';
import { describeErrors, validatorFor } from '@switchboard/bus';
import { connectRedis } from '@switchboard/runtime';
import { AccountStore, ApiKeyStore } from '@switchboard/session-store';
import { validScopes, validTimeZone } from '../http/admin.route.ts';

export const USAGE = `usage:
  keys create --account <id> [--scopes a,b] [--rate <per min>] [--label <text>]
  keys revoke <key id>
  keys list [--account <id>]
  keys account show --account <id>
  keys account set --account <id> [--time-zone <IANA zone>] [--allow <+E164 or +prefix*>,...] [--name <text>]
scopes: ${Object.values(TOOL_SCOPES).join(', ')}
add --json for JSON output`;

/** A mistake in the command line: printed with the usage, exit code 2. */
export class UsageError extends Error {}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      account: { type: 'string' },
      scopes: { type: 'string' },
      rate: { type: 'string' },
      label: { type: 'string' },
      'time-zone': { type: 'string' },
      allow: { type: 'string' },
      name: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
}

/** Runs one command against Redis; returns what to print. */
export async function runKeysCli(argv: string[], redis: Redis): Promise<string> {
  let parsed;
  try {
    parsed = parse(argv);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  const keys = new ApiKeyStore(redis);
  const json = (v: unknown) => JSON.stringify(v, null, 2);
  const needAccount = () => {
    if (!values.account) throw new UsageError('--account is required');
    return values.account;
  };
  const [cmd, sub] = positionals;
  switch (cmd) {
    case 'create': {
      const accountId = needAccount();
      const scopes = values.scopes ? validScopes(values.scopes.split(',').map((s) => s.trim()).filter(Boolean)) : ['*'];
      const rate = values.rate === undefined ? undefined : Number(values.rate);
      if (rate !== undefined && (!Number.isInteger(rate) || rate < 1)) throw new UsageError('--rate must be a positive integer (requests per minute)');
      const { key, record } = await keys.create(accountId, scopes, { ...(rate ? { ratePerMin: rate } : {}), ...(values.label ? { label: values.label } : {}) });
      if (values.json) return json({ key, record });
      return `key ${record.id} for account ${accountId} (scopes ${scopes.join(',')}${rate ? `, ${rate}/min` : ''})\n${key}\nStore it now: it is not shown again.`;
    }
    case 'revoke': {
      if (!sub) throw new UsageError('revoke needs a key id');
      const ok = await keys.revoke(sub);
      if (values.json) return json({ revoked: ok, id: sub });
      if (!ok) throw new UsageError(`no key ${sub}`);
      return `revoked key ${sub}`;
    }
    case 'list': {
      const list = await keys.list(values.account);
      if (values.json) return json(list);
      if (!list.length) return values.account ? `no keys for account ${values.account}` : 'no keys';
      return list.map((r) => `${r.id}  ${r.accountId}  ${r.scopes.join(',')}${r.ratePerMin ? `  ${r.ratePerMin}/min` : ''}  ${r.createdAt}${r.label ? `  ${r.label}` : ''}`).join('\n');
    }
    case 'account': {
      const accounts = new AccountStore(redis);
      const accountId = needAccount();
      if (sub === 'show') return json(await accounts.get(accountId));
      if (sub !== 'set') throw new UsageError('account needs show or set');
      const current = await accounts.get(accountId);
      const next: AccountSettings = {
        ...current,
        ...(values['time-zone'] ? { timeZone: values['time-zone'] } : {}),
        ...(values.allow !== undefined ? { allowedDestinations: values.allow.split(',').map((s) => s.trim()).filter(Boolean) } : {}),
        ...(values.name ? { name: values.name } : {}),
      };
      const validate = validatorFor(accountSettingsSchema);
      if (!validate(next)) throw new UsageError(`invalid settings: ${describeErrors(validate.errors).join('; ')}`);
      validTimeZone(next.timeZone ?? 'UTC');
      await accounts.put(next);
      return json(await accounts.get(accountId));
    }
    default:
      throw new UsageError(cmd ? `unknown command ${cmd}` : 'no command');
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  let redis: Redis | undefined;
  try {
    redis = await connectRedis(url, { name: 'switchboard-keys-cli' });
    console.log(await runKeysCli(process.argv.slice(2), redis));
    process.exitCode = 0;
  } catch (err) {
    console.error(`keys: ${(err as Error).message}`);
    if (err instanceof UsageError) console.error(USAGE);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  } finally {
    redis?.disconnect();
  }
}
