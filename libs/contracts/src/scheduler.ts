/**
 * Contracts owned by the scheduler (schedules). Schemas live beside their contracts;
 * build subjects with the builders of ./contract.ts. Merged into `contracts` in ./subjects.ts.
 */
export const schedulerContracts = {} as const;
