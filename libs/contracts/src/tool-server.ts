/**
 * Contracts owned by the mcp-tool-server (leads, contacts, workflows). Schemas live beside their contracts;
 * build subjects with the builders of ./contract.ts. Merged into `contracts` in ./subjects.ts.
 */
export const toolServerContracts = {} as const;
