/**
 * A small JSON Schema (draft 2020-12) validator for exactly the keywords the
 * generator emits, so the published schemas can be checked against real
 * objects without adding a dependency. It refuses any keyword it does not
 * know: if zod starts emitting something new, the test says so instead of
 * silently accepting everything.
 */

export type JsonSchema = boolean | { [keyword: string]: unknown };

/** Keywords that only annotate (no effect on validity). */
const ANNOTATIONS = new Set(['$schema', '$comment', 'title', 'description', 'format', 'default', 'examples']);
const ASSERTIONS = new Set([
  'type',
  'const',
  'enum',
  'pattern',
  'minLength',
  'maxLength',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'properties',
  'required',
  'additionalProperties',
  'propertyNames',
  'items',
  'minItems',
  'maxItems',
  'anyOf',
  'oneOf',
  'allOf',
]);

/** Every problem found, as `path: message`; empty when `value` is valid. */
export function validate(schema: JsonSchema, value: unknown, at = '$'): string[] {
  if (schema === true) return [];
  if (schema === false) return [`${at}: no value is allowed here`];
  for (const keyword of Object.keys(schema)) {
    if (!ANNOTATIONS.has(keyword) && !ASSERTIONS.has(keyword)) throw new Error(`validator does not know the keyword "${keyword}" (at ${at})`);
  }
  const problems: string[] = [];
  const fail = (message: string) => problems.push(`${at}: ${message}`);
  const s = schema;

  if (s.type !== undefined && !hasType(value, s.type as string | string[])) {
    fail(`expected ${JSON.stringify(s.type)}`);
    return problems;
  }
  if ('const' in s && !jsonEqual(value, s.const)) fail(`expected ${JSON.stringify(s.const)}`);
  if (Array.isArray(s.enum) && !s.enum.some((option) => jsonEqual(value, option))) fail(`expected one of ${JSON.stringify(s.enum)}`);

  if (typeof value === 'string') {
    const length = [...value].length; // code points, as JSON Schema counts
    if (typeof s.minLength === 'number' && length < s.minLength) fail(`shorter than ${s.minLength}`);
    if (typeof s.maxLength === 'number' && length > s.maxLength) fail(`longer than ${s.maxLength}`);
    if (typeof s.pattern === 'string' && !new RegExp(s.pattern, 'u').test(value)) fail(`does not match ${s.pattern}`);
  }
  if (typeof value === 'number') {
    if (typeof s.minimum === 'number' && value < s.minimum) fail(`below ${s.minimum}`);
    if (typeof s.maximum === 'number' && value > s.maximum) fail(`above ${s.maximum}`);
    if (typeof s.exclusiveMinimum === 'number' && value <= s.exclusiveMinimum) fail(`not above ${s.exclusiveMinimum}`);
    if (typeof s.exclusiveMaximum === 'number' && value >= s.exclusiveMaximum) fail(`not below ${s.exclusiveMaximum}`);
  }
  if (Array.isArray(value)) {
    if (typeof s.minItems === 'number' && value.length < s.minItems) fail(`fewer than ${s.minItems} items`);
    if (typeof s.maxItems === 'number' && value.length > s.maxItems) fail(`more than ${s.maxItems} items`);
    if (s.items !== undefined) value.forEach((item, i) => problems.push(...validate(s.items as JsonSchema, item, `${at}[${i}]`)));
  }
  if (isObject(value)) problems.push(...validateObject(s, value, at));

  if (Array.isArray(s.allOf)) for (const sub of s.allOf) problems.push(...validate(sub as JsonSchema, value, at));
  if (Array.isArray(s.anyOf) && !s.anyOf.some((sub) => validate(sub as JsonSchema, value, at).length === 0)) fail('matches none of anyOf');
  if (Array.isArray(s.oneOf)) {
    const matching = s.oneOf.filter((sub) => validate(sub as JsonSchema, value, at).length === 0).length;
    if (matching !== 1) fail(`matches ${matching} of oneOf, not exactly one`);
  }
  return problems;
}

function validateObject(s: { [keyword: string]: unknown }, value: Record<string, unknown>, at: string): string[] {
  const problems: string[] = [];
  const properties = (s.properties ?? {}) as Record<string, JsonSchema>;
  for (const key of (s.required ?? []) as string[]) if (!Object.hasOwn(value, key)) problems.push(`${at}: missing "${key}"`);
  for (const [key, item] of Object.entries(value)) {
    if (s.propertyNames !== undefined) problems.push(...validate(s.propertyNames as JsonSchema, key, `${at}{${key}}`));
    const sub = Object.hasOwn(properties, key) ? properties[key] : (s.additionalProperties as JsonSchema | undefined);
    if (sub !== undefined) problems.push(...validate(sub, item, `${at}.${key}`));
  }
  return problems;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function hasType(value: unknown, type: string | string[]): boolean {
  const types = Array.isArray(type) ? type : [type];
  return types.some((t) => {
    switch (t) {
      case 'object':
        return isObject(value);
      case 'array':
        return Array.isArray(value);
      case 'string':
        return typeof value === 'string';
      case 'integer':
        return Number.isInteger(value);
      case 'number':
        return typeof value === 'number' && Number.isFinite(value);
      case 'boolean':
        return typeof value === 'boolean';
      case 'null':
        return value === null;
      default:
        throw new Error(`validator does not know the type "${t}"`);
    }
  });
}

/** JSON equality (objects by keys, not key order). */
function jsonEqual(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]));
  }
  if (isObject(a) && isObject(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k], b[k]));
  }
  return a === b;
}
