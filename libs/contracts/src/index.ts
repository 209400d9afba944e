export {
  ErrorCodes,
  SwitchboardError,
  isRetryableCode,
  isRetryableStatus,
  toEnvelope,
} from './errors.ts';
export type { ErrorCode, ErrorEnvelope, ToolFallbackEnvelope } from './errors.ts';
export {
  TOOL_NAME_PATTERN,
  agentDefinitionSchema,
  mcpServerObjectSchema,
  normalizeMcpServers,
  webhookToolSchema,
} from './agent.ts';
export type { AgentDefinition, McpServerConfig, McpServerEntry, McpServerObject, WebhookTool } from './agent.ts';
export {
  callControlReplySchema,
  callEndedSchema,
  callStartedSchema,
  callToolReplySchema,
  callToolRequestSchema,
  hangupRequestSchema,
  healthReplySchema,
  listToolsReplySchema,
  listToolsRequestSchema,
  mediaControlSchema,
  mediaEventSchema,
  sessionClaimedSchema,
  toolDescriptorSchema,
  transferRequestSchema,
  transcriptAppendedSchema,
} from './messages.ts';
export type {
  CallContext,
  CallControlReply,
  CallEnded,
  CallStarted,
  CallToolReply,
  CallToolRequest,
  HangupRequest,
  HealthReply,
  ListToolsReply,
  ListToolsRequest,
  MediaControl,
  MediaEvent,
  SessionClaimed,
  ToolDescriptor,
  TranscriptAppended,
  TransferRequest,
} from './messages.ts';
export { CALL_EVENTS_STREAM, Headers, INTERNAL_AUDIO, audioSubjects, contracts } from './subjects.ts';
export { subjectToken } from './contract.ts';
export type { CommandContract, EventContract, PayloadOf, ReplyOf, RequestOf, SubjectParam } from './contract.ts';
