import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { ErrorCodes, SwitchboardError } from '@switchboard/contracts';

/** One ajv instance for bus contracts; compiled validators are cached per schema object. */
const ajv = new Ajv({ allErrors: true, strict: false, useDefaults: true });
const cache = new WeakMap<object, ValidateFunction>();

export function validatorFor(schema: object): ValidateFunction {
  let fn = cache.get(schema);
  if (!fn) {
    fn = ajv.compile(schema);
    cache.set(schema, fn);
  }
  return fn;
}

/** Human-readable schema errors: `/field must be string`. */
export function describeErrors(errors: ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}${e.params && 'additionalProperty' in e.params ? ` (${String(e.params.additionalProperty)})` : ''}`);
}

/** Validates `value` against `schema` or throws BUS_INVALID_MESSAGE naming the contract and every problem. */
export function assertValid(schema: object, value: unknown, what: string): void {
  const validate = validatorFor(schema);
  if (!validate(value)) {
    const problems = describeErrors(validate.errors);
    throw new SwitchboardError(ErrorCodes.BUS_INVALID_MESSAGE, `${what}: ${problems.join('; ')}`, { details: { problems } });
  }
}
