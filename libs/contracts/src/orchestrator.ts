/**
 * Contracts owned by the agent-orchestrator (speak, listen, agents). Schemas live beside their contracts;
 * build subjects with the builders of ./contract.ts. Merged into `contracts` in ./subjects.ts.
 */
export const orchestratorContracts = {} as const;
