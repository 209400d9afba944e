export {
  ErrorCodes,
  SwitchboardError,
  isRetryableCode,
  isRetryableStatus,
  toEnvelope,
} from './errors.ts';
export type { ErrorCode, ErrorEnvelope, ToolFallbackEnvelope } from './errors.ts';
export { accountSettingsSchema } from './accounts.ts';
export type { AccountSettings } from './accounts.ts';
export { dialReplySchema, dialRequestSchema } from './gateway.ts';
export type { DialReply, DialRequest } from './gateway.ts';
export { listenReplySchema, listenRequestSchema, speakReplySchema, speakRequestSchema } from './orchestrator.ts';
export type { ListenReply, ListenRequest, SpeakReply, SpeakRequest } from './orchestrator.ts';
export { toolCancelRequestedSchema, toolProgressedSchema } from './broker.ts';
export type { ToolCancelRequested, ToolProgressed } from './broker.ts';
export { scheduleActionSchema, scheduleCreateSchema, scheduleListSchema, schedulePageSchema, scheduleSchema, scheduleWhenSchema } from './scheduler.ts';
export type { Schedule, ScheduleCreate, ScheduleList, SchedulePage, ScheduleRef } from './scheduler.ts';
export {
  TOOL_NAME_PATTERN,
  customToolSchema,
  officeHoursSchema,
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
