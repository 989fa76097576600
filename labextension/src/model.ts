/**
 * State of the pipeline builder: what the user put in each block, the spec
 * document it makes, and the server's verdict on it.
 *
 * The spec document has the shape of a `%%stratum train` cell body (data,
 * target, task, split, preprocess, models, metric). It is sent to
 * `spec/validate` as JSON (a subset of YAML); the cell gets the core's own
 * normalised YAML back, so the builder never writes YAML itself.
 */
import { ISignal, Signal } from '@lumino/signaling';

import { ICatalog, ICatalogEntry, ISpecIssue, IValidation, JSONSchema, StratumAPI } from './api';
import { fromSpecValue, IRawValue, resolveRef, toSpecValue } from './schema';

/** Sections of the spec edited as lists of catalog steps. */
export type StepSection = 'preprocess' | 'models';

/** One preprocessing step or one candidate model (a card in the builder). */
export interface IStep {
  /** Stable id for React keys. */
  id: number;
  /** Catalog name (e.g. `random_forest`). */
  name: string;
  /** Parameters the user set, by parameter name; unset ones keep the core's default. */
  params: Record<string, IRawValue>;
  /** Whether the card's property editor is open. */
  open: boolean;
}

/** Top-level fields of the spec, grouped by builder block. */
export const BLOCK_FIELDS: Record<string, string[]> = {
  data: ['data', 'target', 'task'],
  split: ['split'],
  evaluate: ['metric', 'metrics']
};

/** The catalog kind of a preprocessing step (what the core resolves `preprocess` names among). */
const TRANSFORMER = 'transformer';

const CELL_HEADER = /^%%stratum\s+train(?:\s+(\S+))?([^\n]*)$/;

/** Split a `%%stratum train NAME [options]` cell into name, options and body, or null. */
export function parseStratumCell(source: string): { name: string; options: string; body: string } | null {
  const newline = source.indexOf('\n');
  const header = (newline < 0 ? source : source.slice(0, newline)).trim();
  const match = CELL_HEADER.exec(header);
  if (!match) {
    return null;
  }
  return {
    name: match[1] || '',
    options: (match[2] || '').trim(),
    body: newline < 0 ? '' : source.slice(newline + 1)
  };
}

/**
 * Whether a `%%stratum` cell's YAML body has comments, which a rewrite from
 * the builder (the core's normalised YAML) would lose. A `#` inside a quoted
 * value may count too: the cell is then left alone, which is the safe side.
 */
export function hasComments(source: string): boolean {
  return source
    .split('\n')
    .slice(1)
    .some(line => /(^|\s)#/.test(line));
}

/** The pipeline builder's state and its live validation. */
export class PipelineModel {
  /** Build with the catalog and the `PipelineSpec` JSON Schema from the server. */
  constructor(
    readonly catalog: ICatalog,
    readonly specSchema: JSONSchema | null,
    options: PipelineModel.IOptions = {}
  ) {
    this._delay = options.validateDelay ?? 350;
    this.metrics = options.metrics || [];
  }

  /** Metrics the core knows (name and task), for suggestions. */
  readonly metrics: { name: string; task: string }[];

  /** Emits after every change of state or validation. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** Counts the emissions of `changed`: a view compares it to know it missed none. */
  get version(): number {
    return this._version;
  }

  /** Model name: the `NAME` of `%%stratum train NAME`. */
  name = 'pipeline';
  /** Extra options of the magic line kept from a loaded cell (e.g. `--cluster ...`). */
  options = '';
  /** Top-level fields by dotted path (`data`, `split.cv`, `metric`, ...). */
  fields: Record<string, IRawValue> = {};
  /** Preprocessing steps, in order. */
  preprocess: IStep[] = [];
  /** Candidate models, in order. */
  models: IStep[] = [];
  /** Last validation answer (null before the first one). */
  validation: IValidation | null = null;
  /** Message when validation could not be asked (server down). */
  requestError: string | null = null;
  /** True while a validation request is outstanding or scheduled. */
  validating = false;
  /** Counts the user's changes (not validations): what a message about the last click is valid for. */
  revision = 0;

  /**
   * Catalog entry of a step name, or of an alias: the algorithm the core
   * resolves it to for the task (the server's `resolves` table).
   */
  entry(name: string): ICatalogEntry | undefined {
    const algorithms = this.catalog.algorithms;
    const exact = algorithms.find(e => e.name === name || e.class_name === name);
    if (exact) {
      return exact;
    }
    const byTask = this.catalog.resolves[name];
    const resolved = byTask ? (byTask[this.task ?? 'default'] ?? byTask['default']) : undefined;
    return resolved === undefined ? undefined : algorithms.find(e => e.name === resolved);
  }

  /**
   * Catalog entries a section may add: transformers for `preprocess`; for
   * `models`, the estimators of the task's kind (every estimator kind while
   * the task is not set).
   */
  choices(section: StepSection): ICatalogEntry[] {
    const kinds = this.kindsFor(section);
    return this.catalog.algorithms.filter(e => kinds.includes(e.kind));
  }

  /** The catalog kinds a section takes, in menu order. */
  kindsFor(section: StepSection): string[] {
    if (section === 'preprocess') {
      return [TRANSFORMER];
    }
    const kinds = this.catalog.task_kinds;
    const task = this.task;
    return task && kinds[task] ? [kinds[task]] : Object.values(kinds);
  }

  /** Schema of a top-level field by dotted path, resolved. */
  fieldSchema(path: string): JSONSchema {
    let schema: JSONSchema | undefined = this.specSchema || undefined;
    for (const part of path.split('.')) {
      schema = schema ? resolveRef(schema, this.specSchema || undefined) : undefined;
      schema = this._objectBranch(schema)?.properties?.[part];
    }
    return schema ? resolveRef(schema, this.specSchema || undefined) : {};
  }

  /** Sub-fields of an object-valued top-level field (e.g. `split` → test_size, cv, seed). */
  subFields(path: string): string[] {
    const obj = this._objectBranch(this.fieldSchema(path));
    return obj?.properties ? Object.keys(obj.properties) : [];
  }

  /** The task set in the `task` field, or null (the core infers it from the data when it runs). */
  get task(): string | null {
    const typed = toSpecValue(this.fields['task'], this.fieldSchema('task'));
    return typeof typed === 'string' && typed ? typed : null;
  }

  /** Set the model name. */
  setName(name: string): void {
    this.name = name;
    this._update(false);
  }

  /** Set (or clear, with undefined) a top-level field. */
  setField(path: string, value: IRawValue | undefined): void {
    if (value === undefined || value.raw === '') {
      delete this.fields[path];
    } else {
      this.fields[path] = value;
    }
    this._update();
  }

  /** Add a step to a section. */
  addStep(section: StepSection, name: string): void {
    this[section] = [...this[section], { id: this._nextId++, name, params: {}, open: true }];
    this._update();
  }

  /** Remove the step at `index`. */
  removeStep(section: StepSection, index: number): void {
    this[section] = this[section].filter((_, i) => i !== index);
    this._update();
  }

  /** Move the step at `index` by `delta` places. */
  moveStep(section: StepSection, index: number, delta: number): void {
    const steps = [...this[section]];
    const target = index + delta;
    if (target < 0 || target >= steps.length) {
      return;
    }
    [steps[index], steps[target]] = [steps[target], steps[index]];
    this[section] = steps;
    this._update();
  }

  /** Open or close a step's property editor. */
  toggleStep(section: StepSection, index: number): void {
    this[section] = this[section].map((s, i) => (i === index ? { ...s, open: !s.open } : s));
    this._update(false);
  }

  /** Set (or clear) one parameter of a step. */
  setParam(section: StepSection, index: number, param: string, value: IRawValue | undefined): void {
    this[section] = this[section].map((step, i) => {
      if (i !== index) {
        return step;
      }
      const params = { ...step.params };
      if (value === undefined || (value.raw === '' && !value.search)) {
        delete params[param];
      } else {
        params[param] = value;
      }
      return { ...step, params };
    });
    this._update();
  }

  /** The spec document (cell body as data) the builder's state makes. */
  toDocument(): Record<string, unknown> {
    const doc: Record<string, any> = {};
    const root = this.specSchema || undefined;
    for (const [path, raw] of Object.entries(this.fields)) {
      const value = toSpecValue(raw, this.fieldSchema(path), root);
      if (value === undefined) {
        continue;
      }
      const parts = path.split('.');
      let target = doc;
      for (const part of parts.slice(0, -1)) {
        target = target[part] = target[part] ?? {};
      }
      target[parts[parts.length - 1]] = value;
    }
    const steps = (list: IStep[]) =>
      list.map(step => {
        const schema = this.entry(step.name)?.schema || {};
        const params: Record<string, unknown> = {};
        for (const [key, raw] of Object.entries(step.params)) {
          const value = toSpecValue(raw, schema.properties?.[key] || {}, schema);
          if (value !== undefined) {
            params[key] = value;
          }
        }
        return Object.keys(params).length ? { [step.name]: params } : step.name;
      });
    if (this.preprocess.length) {
      doc.preprocess = steps(this.preprocess);
    }
    if (this.models.length) {
      doc.models = steps(this.models);
    }
    return doc;
  }

  /** The text sent to `spec/validate`: the document as JSON, one key per line. */
  toSpecText(): string {
    return JSON.stringify(this.toDocument(), null, 1) + '\n';
  }

  /** The `%%stratum train` cell for the last valid state, or null if it is not valid. */
  cellSource(): string | null {
    const v = this.validation;
    if (!v || !v.ok || v.yaml === null || this.validating) {
      return null;
    }
    const options = this.options ? ` ${this.options}` : '';
    return `%%stratum train ${this.name || 'pipeline'}${options}\n${v.yaml.replace(/\n+$/, '')}\n`;
  }

  /** Validate now (cancelling a scheduled validation) and return the answer. */
  async validateNow(): Promise<IValidation | null> {
    if (this._timer !== null) {
      clearTimeout(this._timer);
      this._timer = null;
    }
    const ticket = ++this._ticket;
    const text = this.toSpecText();
    this.validating = true;
    this._emitChanged();
    try {
      const answer = await StratumAPI.validate(text, null);
      if (ticket === this._ticket) {
        this.validation = answer;
        this.requestError = null;
      }
      this._failures = 0;
    } catch (error) {
      if (ticket === this._ticket) {
        this.validation = null;
        this.requestError = (error as Error).message;
        this._retryLater(ticket, error);
      }
    } finally {
      if (ticket === this._ticket) {
        this.validating = false;
        this._emitChanged();
      }
    }
    return this.validation;
  }

  /**
   * Load a spec (the `spec` of a validation answer or the data of a cell
   * body) into the builder: the round trip of an existing `%%stratum` cell.
   */
  loadDocument(doc: Record<string, any>, name: string, options = ''): void {
    const root = this.specSchema || undefined;
    this.name = name;
    this.options = options;
    this.fields = {};
    for (const block of Object.values(BLOCK_FIELDS)) {
      for (const key of block) {
        const value = doc[key];
        if (value === undefined || value === null) {
          continue;
        }
        const subs = this.subFields(key);
        if (subs.length && typeof value === 'object' && !Array.isArray(value)) {
          for (const sub of subs) {
            if (value[sub] !== undefined && value[sub] !== null) {
              this.fields[`${key}.${sub}`] = fromSpecValue(value[sub], this.fieldSchema(`${key}.${sub}`), root);
            }
          }
        } else {
          this.fields[key] = fromSpecValue(value, this.fieldSchema(key), root);
        }
      }
    }
    const steps = (list: unknown): IStep[] =>
      (Array.isArray(list) ? list : []).map(item => {
        const { name, params } = PipelineModel.stepOf(item);
        const schema = this.entry(name)?.schema || {};
        const raw: Record<string, IRawValue> = {};
        for (const [key, value] of Object.entries(params)) {
          if (value !== undefined) {
            raw[key] = fromSpecValue(value, schema.properties?.[key] || {}, schema);
          }
        }
        return { id: this._nextId++, name, params: raw, open: false };
      });
    this.preprocess = steps(doc.preprocess);
    this.models = steps(doc.models);
    this._update();
  }

  /** Problems the server reported, grouped by the builder field they belong to. */
  issuesByField(): Map<string, ISpecIssue[]> {
    const out = new Map<string, ISpecIssue[]>();
    const add = (key: string, issue: ISpecIssue) => {
      out.set(key, [...(out.get(key) || []), issue]);
    };
    for (const issue of this.validation?.errors || []) {
      add(this.fieldKeyOf(issue), issue);
    }
    return out;
  }

  /**
   * The builder field an issue belongs to: `data`, `split.cv`,
   * `models.1.C`, `models.1` (the card), a block (`evaluate`) or `` (general).
   */
  fieldKeyOf(issue: ISpecIssue): string {
    const path = (issue.path || []).map(p => (typeof p === 'number' ? p : String(p)));
    const head = path.length ? String(path[0]) : issue.field || '';
    if (head === 'models' || head === 'preprocess') {
      const index = Number(path[1]);
      const steps = this[head];
      if (!Number.isInteger(index) || index < 0 || index >= steps.length) {
        return head;
      }
      const schema = this.entry(steps[index].name)?.schema;
      const names = schema?.properties || {};
      for (let i = path.length - 1; i >= 2; i--) {
        const p = path[i];
        if (typeof p === 'string' && p in names) {
          return `${head}.${index}.${p}`;
        }
      }
      if (issue.field && issue.field in names) {
        return `${head}.${index}.${issue.field}`;
      }
      return `${head}.${index}`;
    }
    for (const [block, keys] of Object.entries(BLOCK_FIELDS)) {
      if (keys.includes(head)) {
        const sub = path.length > 1 && typeof path[1] === 'string' ? `${head}.${path[1]}` : head;
        return this.subFields(head).length && sub !== head ? sub : head || block;
      }
    }
    return '';
  }

  /** Name and params of one `preprocess` / `models` item, in any shape the core returns. */
  static stepOf(item: unknown): { name: string; params: Record<string, unknown> } {
    if (typeof item === 'string') {
      return { name: item, params: {} };
    }
    if (item && typeof item === 'object') {
      const obj = item as Record<string, any>;
      if (typeof obj.name === 'string') {
        const params = obj.params && typeof obj.params === 'object' ? obj.params : {};
        return { name: obj.name, params };
      }
      const keys = Object.keys(obj);
      if (keys.length === 1) {
        const params = obj[keys[0]];
        return { name: keys[0], params: params && typeof params === 'object' ? params : {} };
      }
    }
    return { name: String(item), params: {} };
  }

  /** Release the scheduled validation. */
  dispose(): void {
    if (this._timer !== null) {
      clearTimeout(this._timer);
    }
    this._ticket++;
  }

  private _objectBranch(schema: JSONSchema | undefined): JSONSchema | undefined {
    if (!schema) {
      return undefined;
    }
    const root = this.specSchema || undefined;
    const s = resolveRef(schema, root);
    if (s.properties) {
      return s;
    }
    for (const alt of s.anyOf || s.oneOf || []) {
      const r = resolveRef(alt, root);
      if (r.properties) {
        return r;
      }
    }
    return undefined;
  }

  private _update(revalidate = true): void {
    this.revision++;
    if (revalidate) {
      this.validating = true;
      if (this._timer !== null) {
        clearTimeout(this._timer);
      }
      this._timer = setTimeout(() => {
        this._timer = null;
        void this.validateNow();
      }, this._delay);
    }
    this._emitChanged();
  }

  /**
   * Ask again after a request that failed on the way (the server busy, restarting,
   * or briefly unreachable): 1, 2, 4, 8 then every 10 seconds while nothing else
   * asked meanwhile. A missing server extension is not retried: its message says what to do.
   */
  private _retryLater(ticket: number, error: unknown): void {
    const missing = (error as { missingExtension?: boolean }).missingExtension === true;
    if (missing || this._timer !== null) {
      return;
    }
    const wait = Math.min(1000 * 2 ** this._failures, 10000);
    this._failures++;
    this._timer = setTimeout(() => {
      this._timer = null;
      if (ticket === this._ticket && this.requestError !== null) {
        void this.validateNow();
      }
    }, wait);
  }

  private _emitChanged(): void {
    this._version++;
    this._changed.emit();
  }

  private _changed = new Signal<this, void>(this);
  private _delay: number;
  private _failures = 0;
  private _nextId = 1;
  private _ticket = 0;
  private _timer: ReturnType<typeof setTimeout> | null = null;
  private _version = 0;
}

/** Options of the pipeline model. */
export namespace PipelineModel {
  /** Construction options. */
  export interface IOptions {
    /** Milliseconds of quiet before a change is validated (default 350). */
    validateDelay?: number;
    /** Metrics the core knows (from the `metrics` endpoint). */
    metrics?: { name: string; task: string }[];
  }
}
