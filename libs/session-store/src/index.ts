export { ApiKeyStore, CallStore } from './store.ts';
export type { ApiKeyRecord, CallRecord, TranscriptEntry } from './store.ts';
