export { AccountStore, ApiKeyStore, CallStore, destinationAllowed } from './store.ts';
export type { ApiKeyRecord, CallRecord, TranscriptEntry } from './store.ts';
