export { Bus, describeConnectError, rawHeaders } from './bus.ts';
export type { BusOptions, DurableAck, DurablePublishOptions, HandlerContext, RequestOptions, RouteOptions, SubscribeOptions } from './bus.ts';
export { assertValid, describeErrors, validatorFor } from './validation.ts';
