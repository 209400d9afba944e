import type { Redis } from 'ioredis';
import type { CallQueue, DirectoryUser } from '@switchboard/contracts';

const usersKey = (account: string) => `sb:users:${account}`;
const queuesKey = (account: string) => `sb:queues:${account}`;

/** Whether a user takes calls now: not on Do Not Disturb and not offline. */
export function isAvailable(user: DirectoryUser): boolean {
  return user.dnd !== true && user.status !== 'offline';
}

/** The account's users (numbers, DND, presence) and call queues, in Redis. */
export class DirectoryStore {
  constructor(private readonly redis: Redis) {}

  async user(accountId: string, id: string): Promise<DirectoryUser | undefined> {
    const raw = await this.redis.hget(usersKey(accountId), id);
    return raw ? (JSON.parse(raw) as DirectoryUser) : undefined;
  }

  async putUser(accountId: string, user: DirectoryUser): Promise<void> {
    await this.redis.hset(usersKey(accountId), user.id, JSON.stringify(user));
  }

  async removeUser(accountId: string, id: string): Promise<boolean> {
    return (await this.redis.hdel(usersKey(accountId), id)) > 0;
  }

  async queue(accountId: string, id: string): Promise<CallQueue | undefined> {
    const raw = await this.redis.hget(queuesKey(accountId), id);
    return raw ? (JSON.parse(raw) as CallQueue) : undefined;
  }

  async putQueue(accountId: string, queue: CallQueue): Promise<void> {
    await this.redis.hset(queuesKey(accountId), queue.id, JSON.stringify(queue));
  }

  async removeQueue(accountId: string, id: string): Promise<boolean> {
    return (await this.redis.hdel(queuesKey(accountId), id)) > 0;
  }
}
