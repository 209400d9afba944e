export { SafeFetchError, safeFetch } from './safe-fetch.ts';
export type { SafeFetchFailure, SafeFetchOptions, SafeResponse } from './safe-fetch.ts';
