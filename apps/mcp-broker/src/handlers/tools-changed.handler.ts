import type { ToolsChanged } from '@switchboard/contracts';
import type { Broker } from '../mcp/broker.ts';

/** `evt.mcp.tools-changed` (every instance): another broker refreshed a list; drop the in-memory copy so the next call start reads Redis. */
export function toolsChangedHandler(broker: Broker): (evt: ToolsChanged) => void {
  return (evt) => broker.onToolsChanged(evt);
}
