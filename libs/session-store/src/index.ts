export { AccountStore, ApiKeyStore, CallStore, destinationAllowed, hasScope } from './store.ts';
export type { ApiKeyOptions, ApiKeyRecord, CallRecord, TranscriptEntry } from './store.ts';
