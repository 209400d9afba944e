/**
 * Contracts owned by the media-gateway (dial, status, DTMF out). Schemas live beside their contracts;
 * build subjects with the builders of ./contract.ts. Merged into `contracts` in ./subjects.ts.
 */
export const gatewayContracts = {} as const;
