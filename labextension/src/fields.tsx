/**
 * The property editor: one row per JSON Schema property, its widget chosen
 * from the schema (enums as selects, booleans as checkboxes, numbers and
 * unions as text with their bounds as a hint, lists as search spaces), and
 * the server's errors for the field right below it.
 */
import * as React from 'react';

import { ISpecIssue, JSONSchema } from './api';
import { choicesOf, describe, displayValue, IRawValue, resolveRef, widgetKind } from './schema';

/** Props of one field row. */
export interface IFieldProps {
  /** Key of the field in the builder (`models.0.C`, `split.cv`); also its `data-stratum-field`. */
  fieldKey: string;
  /** Property name shown as the label. */
  label: string;
  /** The property's schema. */
  schema: JSONSchema;
  /** The schema the property belongs to (for `$ref`s). */
  root?: JSONSchema;
  /** What the user set, or undefined for the default. */
  value: IRawValue | undefined;
  /** Called with the new value, or undefined to go back to the default. */
  onChange: (value: IRawValue | undefined) => void;
  /** The server's issues for this field. */
  issues?: ISpecIssue[];
  /** Whether a list of values (one candidate per value) may be given. */
  searchable?: boolean;
  /** Suggestions for free text (a datalist). */
  suggestions?: string[];
  /** Placeholder when the schema has no default. */
  placeholder?: string;
}

/** One property of a schema, edited by the widget its schema calls for. */
export function SchemaField(props: IFieldProps): JSX.Element {
  const { fieldKey, label, root, value, onChange, issues = [], searchable } = props;
  const schema = resolveRef(props.schema, root);
  const kind = widgetKind(schema, root);
  const search = !!value?.search;
  const hasDefault = 'default' in schema;
  // a null default means "the core decides" (e.g. the task is inferred): say nothing
  const defaultText = hasDefault && schema.default !== null ? displayValue(schema.default) : '';
  const hint = describe(schema, root);
  const id = `jp-stratum-f-${fieldKey.replace(/[^A-Za-z0-9_-]/g, '-')}`;
  const invalid = issues.length > 0;
  const listId = props.suggestions?.length ? `${id}-list` : undefined;

  const setRaw = (raw: string) => onChange(raw === '' && !search ? undefined : { raw, search });

  let input: JSX.Element;
  if (!search && kind === 'enum') {
    const choices = (choicesOf(schema, root) || []).filter(c => !(c === null && hasDefault && schema.default === null));
    input = (
      <select
        id={id}
        className="jp-stratum-input"
        aria-invalid={invalid}
        value={value?.raw ?? ''}
        onChange={e => setRaw(e.target.value)}
      >
        <option value="">{defaultText ? `default (${defaultText})` : props.placeholder || 'default'}</option>
        {choices.map(choice => (
          <option key={JSON.stringify(choice)} value={JSON.stringify(choice)}>
            {displayValue(choice)}
          </option>
        ))}
      </select>
    );
  } else if (!search && kind === 'boolean') {
    const checked = value ? value.raw === 'true' : schema.default === true;
    input = (
      <label className="jp-stratum-check">
        <input
          id={id}
          type="checkbox"
          aria-invalid={invalid}
          checked={checked}
          onChange={e => onChange({ raw: e.target.checked ? 'true' : 'false', search: false })}
        />
        <span>{value ? '' : 'default'}</span>
      </label>
    );
  } else {
    const placeholder = search
      ? 'values, comma-separated: one candidate each'
      : kind === 'list'
        ? 'comma-separated'
        : defaultText || props.placeholder || '';
    input = (
      <input
        id={id}
        type="text"
        className="jp-stratum-input"
        spellCheck={false}
        aria-invalid={invalid}
        list={listId}
        value={value?.raw ?? ''}
        placeholder={placeholder}
        onChange={e => setRaw(e.target.value)}
      />
    );
  }

  return (
    <div className={`jp-stratum-field${invalid ? ' jp-mod-invalid' : ''}`} data-stratum-field={fieldKey}>
      <div className="jp-stratum-field-head">
        <label className="jp-stratum-field-label" htmlFor={id} title={schema.description || label}>
          {label}
        </label>
        <span className="jp-stratum-field-hint" title={hint}>
          {hint}
        </span>
      </div>
      <div className="jp-stratum-field-row">
        <div className="jp-stratum-field-input">{input}</div>
        {searchable && (
          <button
            className={`jp-stratum-icon-button jp-stratum-search-toggle${search ? ' jp-mod-active' : ''}`}
            title={
              search
                ? 'Search space: one candidate per value. Click for a single value.'
                : 'Make this a search space (several values)'
            }
            aria-pressed={search}
            onClick={() => onChange(toggleSearch(value, kind, choicesOf(schema, root)))}
          >
            ⋯
          </button>
        )}
        <button
          className="jp-stratum-icon-button"
          title="Back to the default"
          style={{ visibility: value === undefined ? 'hidden' : 'visible' }}
          onClick={() => onChange(undefined)}
        >
          ×
        </button>
      </div>
      {listId && (
        <datalist id={listId}>
          {props.suggestions!.map(s => (
            <option key={s} value={s} />
          ))}
        </datalist>
      )}
      {issues.map((issue, i) => (
        <div key={i} className="jp-stratum-field-error" role="alert">
          {issue.message}
        </div>
      ))}
    </div>
  );
}

/** Switch a value between one value and a search space, keeping what can be kept. */
function toggleSearch(value: IRawValue | undefined, kind: string, choices: unknown[] | null): IRawValue | undefined {
  if (!value?.search) {
    let raw = value?.raw ?? '';
    if (kind === 'enum' && raw) {
      try {
        raw = displayValue(JSON.parse(raw));
      } catch {
        /* keep as typed */
      }
    }
    return { raw, search: true };
  }
  const first = value.raw.split(',')[0].trim();
  if (kind === 'enum') {
    const hit = (choices || []).find(c => displayValue(c) === first);
    return hit === undefined ? undefined : { raw: JSON.stringify(hit), search: false };
  }
  return first ? { raw: first, search: false } : undefined;
}

/** Issues shown at the level of a block or card (not tied to one field). */
export function IssueList(props: { issues?: ISpecIssue[]; className?: string }): JSX.Element | null {
  if (!props.issues || props.issues.length === 0) {
    return null;
  }
  return (
    <div className={props.className || 'jp-stratum-issues'}>
      {props.issues.map((issue, i) => (
        <div key={i} className="jp-stratum-field-error" role="alert">
          {issue.message}
        </div>
      ))}
    </div>
  );
}
