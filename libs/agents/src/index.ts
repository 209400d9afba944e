export { AgentRegistry, interpolateEnv, loadAgents, validateAgentDefinition } from './loader.ts';
