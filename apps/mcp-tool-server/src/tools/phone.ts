import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js';

/**
 * A phone number as E.164 (`+15551234567`), or undefined when it is not a plausible number.
 * Numbers without a country code are read in `region`; `00`/`011` international prefixes, spaces,
 * dashes, dots and brackets are understood (libphonenumber's rules).
 */
export function toE164(input: string, region: string): string | undefined {
  const trimmed = input.trim();
  if (!trimmed || trimmed.length > 40) return undefined;
  const parsed = parsePhoneNumberFromString(trimmed, { defaultCountry: region as CountryCode, extract: false });
  if (!parsed?.isPossible()) return undefined;
  return parsed.number;
}
