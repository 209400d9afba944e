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
export { DIAL_VARIABLES, RESERVED_VARIABLE_PREFIX, callAnsweredSchema, callDtmfReceivedSchema, callRingingSchema, dialReplySchema, dialRequestSchema } from './gateway.ts';
export type { CallAnswered, CallDtmfReceived, CallRinging, DialReply, DialRequest } from './gateway.ts';
export { sendDtmfReplySchema, sendDtmfRequestSchema } from './gateway.ts';
export type { SendDtmfRequest } from './gateway.ts';
export {
  callSummarizedSchema,
  chatReplySchema,
  chatRequestSchema,
  chatToolCallSchema,
  listenReplySchema,
  listenRequestSchema,
  speakReplySchema,
  speakRequestSchema,
  turnMetricsSchema,
} from './orchestrator.ts';
export type { CallSummarized, ChatReply, ChatRequest, ChatToolCall, ListenReply, ListenRequest, SpeakReply, SpeakRequest, TurnMetrics } from './orchestrator.ts';
export {
  registeredServerSchema,
  serversForAgentReplySchema,
  serversForAgentRequestSchema,
  toolCancelRequestedSchema,
  toolCollisionSchema,
  toolProgressedSchema,
  toolSelectionReportSchema,
  toolSelectionRequestSchema,
  toolsChangedSchema,
} from './broker.ts';
export type {
  RegisteredServer,
  ServersForAgentReply,
  ServersForAgentRequest,
  ToolCancelRequested,
  ToolCollision,
  ToolProgressed,
  ToolSelectionReport,
  ToolSelectionRequest,
  ToolsChanged,
} from './broker.ts';
export {
  PUBLISH_SUBJECT_PATTERN,
  platformEventDomains,
  scheduleActionSchema,
  scheduleCreateSchema,
  scheduledEventSubject,
  scheduleFailedSchema,
  scheduleFiredSchema,
  scheduleListSchema,
  schedulePageSchema,
  scheduleSchema,
  scheduleSkippedSchema,
  scheduleWhenSchema,
} from './scheduler.ts';
export type { Schedule, ScheduleCreate, ScheduleFailed, ScheduleFired, ScheduleList, SchedulePage, ScheduleRef, ScheduleSkipped } from './scheduler.ts';
export { LEAD_CLASSIFICATIONS, TOOL_SCOPES, callQueueSchema, contactSchema, directoryUserSchema, leadCaseSchema, leadSchema, workflowDefinitionSchema } from './tool-server.ts';
export type { CallQueue, Contact, DirectoryUser, Lead, LeadCase, ToolScope, WorkflowDefinition, WorkflowStep } from './tool-server.ts';
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
