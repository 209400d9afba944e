export { AgentRegistry, interpolateEnv, loadAgents, validateAgentDefinition } from './loader.ts';
export { AgentStore, agentNumberKey } from './agent-store.ts';
export type { StoredAgent } from './agent-store.ts';
export { AgentDirectory } from './directory.ts';
