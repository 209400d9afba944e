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

/**
 * A `oneOf` whose branches each pin a property with `const` (a tagged union such as a schedule's
 * action) makes ajv report every branch's errors. Keep only what helps: the errors of the branch the
 * tag selects, or, when the tag matches no branch, one error listing the allowed tags.
 */
function collapseTaggedUnions(errors: ErrorObject[]): ErrorObject[] {
  let out = errors;
  for (const union of errors.filter((e) => e.keyword === 'oneOf')) {
    const prefix = `${union.schemaPath}/`;
    const branches = new Map<number, ErrorObject[]>();
    for (const e of errors) {
      if (!e.schemaPath.startsWith(prefix)) continue;
      const index = Number.parseInt(e.schemaPath.slice(prefix.length), 10);
      branches.set(index, [...(branches.get(index) ?? []), e]);
    }
    const tagMiss = (list: ErrorObject[]) => list.find((e) => e.keyword === 'const' && e.instancePath.startsWith(`${union.instancePath}/`) && !e.instancePath.slice(union.instancePath.length + 1).includes('/'));
    const misses = [...branches.values()].map(tagMiss).filter((e): e is ErrorObject => e !== undefined);
    if (misses.length === 0) continue;
    const selected = [...branches.values()].filter((list) => !tagMiss(list));
    const noise = new Set([union, ...[...branches.values()].flat()]);
    out = out.filter((e) => !noise.has(e));
    if (selected.length === 1) out.push(...selected[0]!);
    else if (selected.length === 0) {
      const allowed = misses.map((e) => String((e.params as { allowedValue: unknown }).allowedValue));
      out.push({ ...misses[0]!, keyword: 'enum', message: `must be one of ${allowed.join(', ')}`, params: { allowedValues: allowed } });
    } else out.push(union);
  }
  return out;
}

/** Human-readable schema errors: `/field must be string`. */
export function describeErrors(errors: ErrorObject[] | null | undefined): string[] {
  return collapseTaggedUnions(errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}${e.params && 'additionalProperty' in e.params ? ` (${String(e.params.additionalProperty)})` : ''}`);
}

/** Validates `value` against `schema` or throws BUS_INVALID_MESSAGE naming the contract and every problem. */
export function assertValid(schema: object, value: unknown, what: string): void {
  const validate = validatorFor(schema);
  if (!validate(value)) {
    const problems = describeErrors(validate.errors);
    throw new SwitchboardError(ErrorCodes.BUS_INVALID_MESSAGE, `${what}: ${problems.join('; ')}`, { details: { problems } });
  }
}
