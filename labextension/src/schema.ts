/**
 * Reading the catalog's JSON Schemas for display: which widget a property
 * gets, its hint, and how the text a user typed becomes a YAML value.
 *
 * Nothing here rejects a value: text that does not fit the schema is sent as
 * typed, and the server's `spec/validate` says what is wrong with it.
 */
import { JSONSchema } from './api';

/** What the user has put in one field: raw text, and whether it is a search space. */
export interface IRawValue {
  /** Text as typed (booleans: 'true' / 'false'; enum choices: JSON of the choice). */
  raw: string;
  /** A comma-separated list of candidate values (one candidate per value). */
  search: boolean;
}

/** The widget a property is edited with. */
export type WidgetKind = 'enum' | 'boolean' | 'list' | 'text';

/** Resolve `$ref`s against the root schema's `$defs` / `definitions`. */
export function resolveRef(schema: JSONSchema, root?: JSONSchema): JSONSchema {
  let current = schema;
  for (let hops = 0; current && current.$ref && hops < 16; hops++) {
    const ref = current.$ref;
    const match = /^#\/(\$defs|definitions)\/(.+)$/.exec(ref);
    const defs = match && root ? (root[match[1]] as Record<string, JSONSchema>) : undefined;
    const target = defs ? defs[match![2]] : undefined;
    if (!target) {
      break;
    }
    const { $ref: _ignored, ...rest } = current;
    current = { ...target, ...rest };
  }
  return current;
}

/** The alternatives of a union (anyOf / oneOf), or the schema itself. */
export function branches(schema: JSONSchema, root?: JSONSchema): JSONSchema[] {
  const s = resolveRef(schema, root);
  const alts = s.anyOf || s.oneOf;
  if (!alts) {
    return [s];
  }
  return alts.flatMap(alt => branches(alt, root));
}

/** Every JSON type the schema admits ('number', 'integer', 'string', 'null', ...). */
export function typesOf(schema: JSONSchema, root?: JSONSchema): Set<string> {
  const types = new Set<string>();
  for (const b of branches(schema, root)) {
    if (Array.isArray(b.type)) {
      b.type.forEach(t => types.add(t));
    } else if (typeof b.type === 'string') {
      types.add(b.type);
    } else if ('const' in b) {
      types.add(b.const === null ? 'null' : typeof b.const);
    } else if (b.enum) {
      b.enum.forEach(v => types.add(v === null ? 'null' : typeof v));
    }
  }
  return types;
}

/** The fixed choices of an enum-only schema (enum / const in every branch), else null. */
export function choicesOf(schema: JSONSchema, root?: JSONSchema): unknown[] | null {
  const out: unknown[] = [];
  for (const b of branches(schema, root)) {
    if (b.enum) {
      out.push(...b.enum);
    } else if ('const' in b) {
      out.push(b.const);
    } else if (b.type === 'null') {
      out.push(null);
    } else {
      return null;
    }
  }
  return out.length ? out : null;
}

/** Which widget edits this property. */
export function widgetKind(schema: JSONSchema, root?: JSONSchema): WidgetKind {
  if (choicesOf(schema, root)) {
    return 'enum';
  }
  const types = typesOf(schema, root);
  types.delete('null'); // an optional value is left empty
  if (types.size === 1 && types.has('boolean')) {
    return 'boolean';
  }
  if (types.size === 1 && types.has('array')) {
    return 'list';
  }
  return 'text';
}

/** How a value is written for a person (YAML-like: null, true, 0.1, 'auto'). */
export function displayValue(value: unknown): string {
  if (value === undefined) {
    return '';
  }
  if (value === null) {
    return 'null';
  }
  if (typeof value === 'string') {
    return value;
  }
  return JSON.stringify(value);
}

function describeOne(b: JSONSchema): string {
  if ('const' in b) {
    return JSON.stringify(b.const);
  }
  if (b.enum) {
    return b.enum.map(v => JSON.stringify(v)).join(' | ');
  }
  const t = Array.isArray(b.type) ? b.type.join(' | ') : b.type || 'any';
  const bounds: string[] = [];
  if (b.exclusiveMinimum !== undefined) {
    bounds.push(`> ${b.exclusiveMinimum}`);
  }
  if (b.minimum !== undefined) {
    bounds.push(`≥ ${b.minimum}`);
  }
  if (b.exclusiveMaximum !== undefined) {
    bounds.push(`< ${b.exclusiveMaximum}`);
  }
  if (b.maximum !== undefined) {
    bounds.push(`≤ ${b.maximum}`);
  }
  return bounds.length ? `${t} ${bounds.join(', ')}` : t;
}

/** A short hint of what the schema admits, e.g. "number > 0" or "integer ≥ 1 | null". */
export function describe(schema: JSONSchema, root?: JSONSchema): string {
  const s = resolveRef(schema, root);
  return Array.from(
    new Set(
      branches(s, root).map(b =>
        b.type === 'array' && b.items ? `list of ${describe(b.items, root)}` : describeOne(b)
      )
    )
  ).join(' | ');
}

function coerceScalar(text: string, schema: JSONSchema, root?: JSONSchema): unknown {
  const t = text.trim();
  const choices = choicesOf(schema, root);
  if (choices) {
    const hit = choices.find(c => displayValue(c) === t || JSON.stringify(c) === t);
    if (hit !== undefined) {
      return hit;
    }
  }
  const types = typesOf(schema, root);
  const any = types.size === 0;
  if ((any || types.has('null')) && (t === 'null' || t === 'None' || t === '~')) {
    return null;
  }
  if ((any || types.has('boolean')) && (t === 'true' || t === 'false')) {
    return t === 'true';
  }
  if ((any || types.has('number') || types.has('integer')) && t !== '' && Number.isFinite(Number(t))) {
    return Number(t);
  }
  if (any || types.has('array') || types.has('object')) {
    if (/^[[{]/.test(t)) {
      try {
        return JSON.parse(t);
      } catch {
        return t;
      }
    }
  }
  return t;
}

function splitList(text: string): string[] {
  return text
    .split(',')
    .map(s => s.trim())
    .filter(s => s.length > 0);
}

/**
 * The YAML value of what was typed, or undefined when the field is empty
 * (the core's default applies). Never rejects: the server validates.
 */
export function toSpecValue(value: IRawValue | undefined, schema: JSONSchema, root?: JSONSchema): unknown {
  if (!value || value.raw.trim() === '') {
    return undefined;
  }
  const s = resolveRef(schema, root);
  if (value.search) {
    return splitList(value.raw).map(item => coerceScalar(item, s, root));
  }
  switch (widgetKind(s, root)) {
    case 'enum': {
      try {
        return JSON.parse(value.raw);
      } catch {
        return coerceScalar(value.raw, s, root);
      }
    }
    case 'boolean':
      return value.raw === 'true' ? true : value.raw === 'false' ? false : value.raw;
    case 'list': {
      const array = branches(s, root).find(b => b.type === 'array');
      return splitList(value.raw).map(item => coerceScalar(item, array?.items || {}, root));
    }
    default:
      return coerceScalar(value.raw, s, root);
  }
}

/** The inverse of `toSpecValue`: what a field shows for a value read from a spec. */
export function fromSpecValue(value: unknown, schema: JSONSchema, root?: JSONSchema): IRawValue {
  const s = resolveRef(schema, root);
  const kind = widgetKind(s, root);
  if (Array.isArray(value) && kind !== 'list') {
    return { raw: value.map(displayValue).join(', '), search: true };
  }
  if (Array.isArray(value)) {
    return { raw: value.map(displayValue).join(', '), search: false };
  }
  if (kind === 'enum') {
    return { raw: JSON.stringify(value), search: false };
  }
  return { raw: displayValue(value), search: false };
}
