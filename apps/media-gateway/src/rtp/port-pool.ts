import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { ErrorCodes, SwitchboardError } from '@switchboard/contracts';

/**
 * Hands out RTP sockets from the configured port range: even ports only (RTP convention; the odd
 * one above is RTCP's), starting after the last one handed out so a port is not reused by the next
 * call at once (stale packets of the previous call would land in it).
 */
export class RtpPortPool {
  private cursor: number;
  private readonly inUse = new Set<number>();
  private readonly first: number;
  private readonly count: number;

  constructor(
    min: number,
    max: number,
    private readonly host: string,
  ) {
    if (max < min) throw new RangeError(`RTP port range ${min}-${max} is empty`);
    this.first = min % 2 === 0 ? min : min + 1;
    this.count = Math.max(0, Math.floor((max - this.first) / 2) + 1);
    if (this.count === 0) throw new RangeError(`RTP port range ${min}-${max} holds no even port`);
    this.cursor = 0;
  }

  get size(): number {
    return this.count;
  }

  get active(): number {
    return this.inUse.size;
  }

  /** Binds a socket on the next free port of the range; throws CARRIER_FAILED when none is free. */
  async open(): Promise<{ socket: Socket; port: number }> {
    for (let tried = 0; tried < this.count; tried++) {
      const port = this.first + 2 * ((this.cursor + tried) % this.count);
      if (this.inUse.has(port)) continue;
      const socket = createSocket({ type: isIPv6(this.host) ? 'udp6' : 'udp4' });
      const ok = await new Promise<boolean>((resolve) => {
        socket.once('error', () => resolve(false));
        socket.bind(port, this.host, () => resolve(true));
      });
      if (!ok) {
        try {
          socket.close();
        } catch {
          // Never bound: nothing to close.
        }
        continue;
      }
      socket.removeAllListeners('error');
      this.cursor = (this.cursor + tried + 1) % this.count;
      this.inUse.add(port);
      socket.once('close', () => this.inUse.delete(port));
      return { socket, port };
    }
    throw new SwitchboardError(ErrorCodes.CARRIER_FAILED, `no free RTP port in the configured range (${this.count} ports, ${this.inUse.size} in use)`, { retryable: true });
  }
}
