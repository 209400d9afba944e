/**
 * Contracts owned by the mcp-broker (registration, progress). Schemas live beside their contracts;
 * build subjects with the builders of ./contract.ts. Merged into `contracts` in ./subjects.ts.
 */
export const brokerContracts = {} as const;
