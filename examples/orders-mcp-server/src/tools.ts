import { setTimeout as sleep } from 'node:timers/promises';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { ORDER_STATUSES } from './db.ts';
import type { Order, OrdersDb } from './db.ts';

/** Names of the tools this server exposes, in registration order. */
export const TOOL_NAMES = ['check_order_status', 'process_return', 'noop'] as const;
export type ToolName = (typeof TOOL_NAMES)[number];

/** Order states a return can be filed for. */
const RETURNABLE: readonly Order['status'][] = ['shipped', 'delivered'];

export interface OrdersToolDeps {
  db: OrdersDb;
  /** Delay added to every tool call, to simulate a slow backend. */
  latencyMs: number;
  /** Incremented once per tool call that passed input validation. */
  calls: Record<ToolName, number>;
}

const orderIdInput = z
  .string()
  .trim()
  .min(1)
  .describe('Order number, e.g. ORD-1001. A bare number such as 1001 is accepted.');

const orderStatusOutput = {
  order_id: z.string(),
  status: z.enum(ORDER_STATUSES),
  tracking_number: z.string().nullable().describe('Carrier tracking number; null until the order ships'),
  estimated_delivery: z.string().nullable().describe('Expected delivery date, YYYY-MM-DD'),
  total_amount: z.number().describe('Order total in dollars'),
};

const returnOutput = {
  return_id: z.string().describe('Return authorisation number, e.g. RMA-000001'),
  order_id: z.string(),
  status: z.literal('return_initiated'),
};

/** One validator for every per-request server: building a new one per request dominated its profile. */
const sharedValidator = new AjvJsonSchemaValidator();

/**
 * Builds an MCP server with the orders tools over the given store. The HTTP layer builds one per
 * request (stateless streamable HTTP), so construction does no I/O.
 */
export function createOrdersMcpServer(deps: OrdersToolDeps): McpServer {
  const { db, calls } = deps;
  const server = new McpServer(
    { name: 'orders-mcp-server', version: '0.1.0' },
    { instructions: 'Order lookup and returns for an online store. Ask the caller for their order number first.', jsonSchemaValidator: sharedValidator },
  );

  const begin = async (tool: ToolName, signal: AbortSignal): Promise<void> => {
    calls[tool] += 1;
    if (deps.latencyMs > 0) await sleep(deps.latencyMs, undefined, { signal });
  };

  server.registerTool(
    'check_order_status',
    {
      title: 'Check order status',
      description:
        'Get the current status, tracking number, estimated delivery date and total of an order by its order number.',
      inputSchema: { order_id: orderIdInput },
      outputSchema: orderStatusOutput,
      annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    },
    async ({ order_id }, extra) => {
      await begin('check_order_status', extra.signal);
      const id = normalizeOrderId(order_id);
      const order = db.getOrder(id);
      if (!order) return toolError(`Order ${id} not found`);
      return success({
        order_id: order.order_id,
        status: order.status,
        tracking_number: order.tracking_number,
        estimated_delivery: order.estimated_delivery,
        total_amount: order.total_amount,
      });
    },
  );

  server.registerTool(
    'process_return',
    {
      title: 'Start a return',
      description:
        'Start a return for a shipped or delivered order and get its return authorisation number. ' +
        'One return per order. Pass `items` (SKUs or product names) to return only some items; omit it to return the whole order.',
      inputSchema: {
        order_id: orderIdInput,
        reason: z.string().trim().min(1).describe("The caller's reason for the return, in their words"),
        items: z
          .array(z.string().trim().min(1))
          .min(1)
          .optional()
          .describe('SKUs or product names of the items to return; omit to return every item'),
      },
      outputSchema: returnOutput,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    },
    async ({ order_id, reason, items }, extra) => {
      await begin('process_return', extra.signal);
      const id = normalizeOrderId(order_id);
      const order = db.getOrder(id);
      if (!order) return toolError(`Order ${id} not found`);
      if (!RETURNABLE.includes(order.status)) {
        return toolError(`Order ${id} is ${order.status}; only shipped or delivered orders can be returned`);
      }
      const existing = db.findReturnByOrder(id);
      if (existing) return toolError(`A return already exists for ${id}: ${existing.return_id}`);

      const skus: string[] = [];
      const unknown: string[] = [];
      for (const wanted of items ?? order.items.map((i) => i.sku)) {
        const key = wanted.toLowerCase();
        const match = order.items.find((i) => i.sku.toLowerCase() === key || i.name.toLowerCase() === key);
        if (match) skus.push(match.sku);
        else unknown.push(wanted);
      }
      if (unknown.length > 0) {
        const onOrder = order.items.map((i) => `${i.name} (${i.sku})`).join(', ');
        return toolError(`Order ${id} has no item ${unknown.join(', ')}; it contains ${onOrder}`);
      }

      const rma = db.createReturn({ order_id: id, reason, items: [...new Set(skus)] });
      return success({ return_id: rma.return_id, order_id: rma.order_id, status: rma.status });
    },
  );

  server.registerTool(
    'noop',
    {
      title: 'No-op',
      description:
        'Does nothing and returns "ok". For throughput benchmarks of the tool-call path; not useful to an agent.',
      annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    },
    async (extra) => {
      await begin('noop', extra.signal);
      return { content: [{ type: 'text', text: 'ok' }] };
    },
  );

  return server;
}

/** Accepts `ord-1001`, ` ORD-1001 ` and `1001` for `ORD-1001`: callers read order numbers aloud. */
export function normalizeOrderId(raw: string): string {
  const id = raw.trim().toUpperCase();
  return /^\d+$/.test(id) ? `ORD-${id}` : id;
}

/** The seed's `{success, data}` envelope as text, with `data` also as structured content. */
function success(data: Record<string, unknown>): CallToolResult {
  return {
    content: [{ type: 'text', text: JSON.stringify({ success: true, data }) }],
    structuredContent: data,
  };
}

function toolError(message: string): CallToolResult {
  return { isError: true, content: [{ type: 'text', text: message }] };
}
