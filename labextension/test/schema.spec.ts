/**
 * The property editor's conversions: text typed in a field → the YAML value
 * sent to the server, and back.
 */
import {
  choicesOf,
  describe as describeSchema,
  fromSpecValue,
  IRawValue,
  resolveRef,
  toSpecValue,
  widgetKind
} from '../src/schema';
import { JSONSchema } from '../src/api';

import { SPEC_SCHEMA } from './fixtures';

const raw = (text: string, search = false): IRawValue => ({ raw: text, search });

const NUMBER: JSONSchema = { type: 'number', exclusiveMinimum: 0 };
const INT_OR_NULL: JSONSchema = { anyOf: [{ type: 'integer', minimum: 1 }, { type: 'null' }] };
const ENUM: JSONSchema = { enum: ['gini', 'entropy'], type: 'string' };
const BOOL: JSONSchema = { type: 'boolean' };
const LIST: JSONSchema = { type: 'array', items: { type: 'integer' } };

describe('toSpecValue', () => {
  it('leaves an empty field out (the core default applies)', () => {
    expect(toSpecValue(undefined, NUMBER)).toBeUndefined();
    expect(toSpecValue(raw('  '), NUMBER)).toBeUndefined();
  });

  it('types numbers, null, booleans and enum choices by the schema', () => {
    expect(toSpecValue(raw('0.5'), NUMBER)).toBe(0.5);
    expect(toSpecValue(raw('null'), INT_OR_NULL)).toBeNull();
    expect(toSpecValue(raw('3'), INT_OR_NULL)).toBe(3);
    expect(toSpecValue(raw('true'), BOOL)).toBe(true);
    expect(toSpecValue(raw('false'), BOOL)).toBe(false);
    expect(toSpecValue(raw('"entropy"'), ENUM)).toBe('entropy');
  });

  it('sends text that does not fit as typed, for the server to judge', () => {
    expect(toSpecValue(raw('abc'), NUMBER)).toBe('abc');
    expect(toSpecValue(raw('-1'), NUMBER)).toBe(-1);
  });

  it('makes a search space of a comma-separated list, one candidate per value', () => {
    expect(toSpecValue(raw('0.1, 1,10', true), NUMBER)).toEqual([0.1, 1, 10]);
    expect(toSpecValue(raw('gini, entropy', true), ENUM)).toEqual(['gini', 'entropy']);
    expect(toSpecValue(raw('1, null', true), INT_OR_NULL)).toEqual([1, null]);
  });

  it('reads a list-valued parameter as one list, not a search space', () => {
    expect(toSpecValue(raw('64, 32'), LIST)).toEqual([64, 32]);
  });

  it('resolves $refs against the root schema', () => {
    const cv = resolveRef(SPEC_SCHEMA.properties!.split, SPEC_SCHEMA).properties!.cv;
    expect(toSpecValue(raw('4'), cv, SPEC_SCHEMA)).toBe(4);
  });
});

describe('fromSpecValue', () => {
  it.each<[unknown, JSONSchema]>([
    [0.5, NUMBER],
    [null, INT_OR_NULL],
    [7, INT_OR_NULL],
    [true, BOOL],
    ['entropy', ENUM],
    [[0.1, 1, 10], NUMBER],
    [['gini', 'entropy'], ENUM],
    [[64, 32], LIST]
  ])('round-trips %j through the field', (value, schema) => {
    expect(toSpecValue(fromSpecValue(value, schema), schema)).toEqual(value);
  });

  it('shows a list for a scalar parameter as a search space', () => {
    expect(fromSpecValue([0.1, 1], NUMBER)).toEqual({ raw: '0.1, 1', search: true });
    expect(fromSpecValue([64, 32], LIST)).toEqual({ raw: '64, 32', search: false });
  });
});

describe('widgets and hints', () => {
  it('picks the widget from the schema', () => {
    expect(widgetKind(ENUM)).toBe('enum');
    expect(widgetKind(BOOL)).toBe('boolean');
    expect(widgetKind(LIST)).toBe('list');
    expect(widgetKind(INT_OR_NULL)).toBe('text');
    expect(choicesOf(SPEC_SCHEMA.properties!.task)).toEqual(['classification', 'regression', null]);
  });

  it('describes bounds the way the field hint shows them', () => {
    expect(describeSchema(NUMBER)).toBe('number > 0');
    expect(describeSchema(INT_OR_NULL)).toBe('integer ≥ 1 | null');
    expect(describeSchema(LIST)).toBe('list of integer');
  });
});
