/**
 * The pipeline builder: Stratum's blocks Data → Preprocess → Models →
 * Evaluate → Best model, each with a property editor generated from the
 * schemas the server sends, validated live by the server.
 */
import * as React from 'react';

import { ICatalogEntry, ISpecIssue } from './api';
import { IssueList, SchemaField } from './fields';
import { IStep, PipelineModel, StepSection } from './model';

/** The notebook cell the builder is linked to (the one it was loaded from or last wrote). */
export interface ILinkedCell {
  /** Its magic line, e.g. `%%stratum train churn`. */
  header: string;
  /** Where it is, e.g. `cell 3 of 5 in churn.ipynb`. */
  where: string;
  /** Whether its YAML has comments (an update from the builder would lose them). */
  hasComments: boolean;
}

/** Props of the builder view. */
export interface IBuilderProps {
  /** The builder's state. */
  model: PipelineModel;
  /** Write the pipeline as a new cell (and run it with `run`); resolves with a message for the status line. */
  onWrite: (source: string, run: boolean) => Promise<string>;
  /** Rewrite the linked cell with the pipeline (the user's explicit choice); resolves with a message. */
  onUpdate: (source: string) => Promise<string>;
  /** Start a new, empty pipeline (forgets the linked cell). */
  onReset: () => void;
  /** The notebook cell the builder is linked to, if any. */
  linked: ILinkedCell | null;
}

/** What a click on Insert/Run says while the pipeline has problems. */
const FIX_FIRST = 'Fix the problems marked in red first.';

/**
 * Re-render a component whenever the model changes. The model's `version` is read again
 * once React has subscribed, so a change emitted between the first render and the
 * subscription (a validation answered before React ran the view's effects, on a busy
 * page) re-renders too instead of leaving the view on "checking…" for good.
 */
export function useModel(model: PipelineModel): number {
  const subscribe = React.useCallback(
    (notify: () => void) => {
      const slot = () => notify();
      model.changed.connect(slot);
      return () => {
        model.changed.disconnect(slot);
      };
    },
    [model]
  );
  return React.useSyncExternalStore(subscribe, () => model.version);
}

function Block(props: { title: string; step: string; name: string; children: React.ReactNode; issues?: ISpecIssue[] }) {
  return (
    <section className="jp-stratum-block" data-stratum-block={props.name}>
      <header className="jp-stratum-block-title">
        <span className="jp-stratum-block-step">{props.step}</span>
        {props.title}
      </header>
      <div className="jp-stratum-block-body">
        {props.children}
        <IssueList issues={props.issues} />
      </div>
    </section>
  );
}

function Arrow(): JSX.Element {
  return <div className="jp-stratum-arrow" aria-hidden="true" />;
}

const KIND_LABELS: Record<string, string> = {
  classifier: 'Classifiers',
  regressor: 'Regressors',
  transformer: 'Transformers'
};

function AddStep(props: { model: PipelineModel; section: StepSection }): JSX.Element {
  const { model, section } = props;
  const kinds = model.kindsFor(section);
  const choices = model.choices(section);
  return (
    <select
      className="jp-stratum-input jp-stratum-add"
      data-stratum-add={section}
      value=""
      onChange={e => {
        if (e.target.value) {
          model.addStep(section, e.target.value);
        }
      }}
    >
      <option value="">{section === 'models' ? '+ Add a model…' : '+ Add a step…'}</option>
      {kinds.map(kind => (
        <optgroup key={kind} label={KIND_LABELS[kind] || kind}>
          {choices
            .filter(entry => entry.kind === kind)
            .map(entry => (
              <option key={entry.name} value={entry.name} title={entry.doc}>
                {entry.name}
              </option>
            ))}
        </optgroup>
      ))}
    </select>
  );
}

function StepCard(props: {
  model: PipelineModel;
  section: StepSection;
  index: number;
  step: IStep;
  issues: Map<string, ISpecIssue[]>;
}): JSX.Element {
  const { model, section, index, step, issues } = props;
  const entry: ICatalogEntry | undefined = model.entry(step.name);
  const schema = entry?.schema || {};
  const names = Object.keys(schema.properties || {});
  const key = `${section}.${index}`;
  const cardIssues = issues.get(key);
  const paramIssueCount = names.reduce((n, p) => n + (issues.get(`${key}.${p}`)?.length || 0), 0);
  const setCount = Object.keys(step.params).length;
  const open = step.open || paramIssueCount > 0;
  return (
    <div
      className={`jp-stratum-card${cardIssues || paramIssueCount ? ' jp-mod-invalid' : ''}`}
      data-stratum-card={key}
      data-stratum-name={step.name}
    >
      <div className="jp-stratum-card-header">
        <button
          className="jp-stratum-card-toggle"
          aria-expanded={open}
          title={entry ? `${entry.class_name} (${entry.source}): ${entry.doc}` : step.name}
          onClick={() => model.toggleStep(section, index)}
        >
          <span className={`jp-stratum-caret${open ? ' jp-mod-open' : ''}`} />
          <span className="jp-stratum-card-name">{step.name}</span>
          {setCount > 0 && <span className="jp-stratum-badge">{setCount} set</span>}
        </button>
        <button
          className="jp-stratum-icon-button"
          title="Move up"
          disabled={index === 0}
          onClick={() => model.moveStep(section, index, -1)}
        >
          ↑
        </button>
        <button
          className="jp-stratum-icon-button"
          title="Move down"
          disabled={index === model[section].length - 1}
          onClick={() => model.moveStep(section, index, 1)}
        >
          ↓
        </button>
        <button
          className="jp-stratum-icon-button"
          title="Remove"
          data-stratum-remove={key}
          onClick={() => model.removeStep(section, index)}
        >
          ✕
        </button>
      </div>
      <IssueList issues={cardIssues} />
      {open && (
        <div className="jp-stratum-card-body">
          {entry?.doc && <div className="jp-stratum-doc">{entry.doc}</div>}
          {names.length === 0 && <div className="jp-stratum-muted">No hyperparameters.</div>}
          {names.map(param => (
            <SchemaField
              key={param}
              fieldKey={`${key}.${param}`}
              label={param}
              schema={schema.properties![param]}
              root={schema}
              value={step.params[param]}
              issues={issues.get(`${key}.${param}`)}
              searchable={section === 'models'}
              onChange={v => model.setParam(section, index, param, v)}
            />
          ))}
        </div>
      )}
    </div>
  );
}

function TopField(props: {
  model: PipelineModel;
  path: string;
  issues: Map<string, ISpecIssue[]>;
  placeholder?: string;
  suggestions?: string[];
}): JSX.Element {
  const { model, path, issues } = props;
  const schema = model.fieldSchema(path);
  return (
    <SchemaField
      fieldKey={path}
      label={schema.title && !path.includes('.') ? path : path.split('.').pop()!}
      schema={schema}
      root={model.specSchema || undefined}
      value={model.fields[path]}
      issues={issues.get(path)}
      placeholder={props.placeholder}
      suggestions={props.suggestions}
      onChange={v => model.setField(path, v)}
    />
  );
}

/** The builder: blocks, live validation, Insert cell and Run. */
export function PipelineBuilder(props: IBuilderProps): JSX.Element {
  const { model, linked } = props;
  useModel(model);
  // a message answers one click: the next change the user makes hides it, so that
  // "Fix the problems…" is never left beside a pipeline that has become valid
  const [note, setNote] = React.useState<{ text: string; revision: number }>({ text: '', revision: -1 });
  const setMessage = (text: string) => setNote({ text, revision: model.revision });
  const message =
    note.revision === model.revision && !(note.text === FIX_FIRST && model.validation?.ok) ? note.text : '';
  const [busy, setBusy] = React.useState(false);
  const issues = model.issuesByField();
  const v = model.validation;
  const splitFields = model.subFields('split');
  const dataExamples = (model.fieldSchema('data').examples as string[] | undefined)?.filter(e => typeof e === 'string');
  const known = new Set<string>(['']);
  for (const key of [
    'data',
    'target',
    'task',
    'metric',
    'metrics',
    'split',
    ...splitFields.map(f => `split.${f}`),
    'models',
    'preprocess'
  ]) {
    known.add(key);
  }
  model.models.forEach((s, i) => {
    known.add(`models.${i}`);
    Object.keys(model.entry(s.name)?.schema.properties || {}).forEach(p => known.add(`models.${i}.${p}`));
  });
  model.preprocess.forEach((s, i) => {
    known.add(`preprocess.${i}`);
    Object.keys(model.entry(s.name)?.schema.properties || {}).forEach(p => known.add(`preprocess.${i}.${p}`));
  });
  const general = [...(issues.get('') || [])];
  for (const [key, list] of issues) {
    if (!known.has(key)) {
      general.push(...list);
    }
  }

  const write = async (how: 'insert' | 'run' | 'update') => {
    setBusy(true);
    try {
      const answer = await model.validateNow();
      const source = model.cellSource();
      if (!answer || !source) {
        setMessage(model.requestError || FIX_FIRST);
        return;
      }
      setMessage(await (how === 'update' ? props.onUpdate(source) : props.onWrite(source, how === 'run')));
    } catch (error) {
      setMessage((error as Error).message);
    } finally {
      setBusy(false);
    }
  };

  let status: JSX.Element;
  if (model.requestError) {
    status = <span className="jp-stratum-status-error">{model.requestError}</span>;
  } else if (model.validating || !v) {
    status = <span className="jp-stratum-muted">checking…</span>;
  } else if (v.ok) {
    status = <span className="jp-stratum-status-ok">✓ valid pipeline</span>;
  } else {
    status = (
      <span className="jp-stratum-status-error">
        {v.errors.length} problem{v.errors.length === 1 ? '' : 's'}
      </span>
    );
  }

  return (
    <div className="jp-stratum-builder">
      <div className="jp-stratum-namebar" data-stratum-field="name">
        <label htmlFor="jp-stratum-name">Model name</label>
        <input
          id="jp-stratum-name"
          className="jp-stratum-input"
          value={model.name}
          spellCheck={false}
          onChange={e => model.setName(e.target.value)}
        />
        <button className="jp-stratum-icon-button" title="New pipeline" onClick={props.onReset}>
          ⟲
        </button>
      </div>
      {linked && (
        <div className="jp-stratum-linked" data-stratum-linked={linked.where}>
          Linked to <code>{linked.header}</code> ({linked.where})
        </div>
      )}

      <Block title="Data" step="1" name="data" issues={issues.get('split')}>
        <TopField
          model={model}
          path="data"
          issues={issues}
          placeholder="sklearn:breast_cancer, a DataFrame name, or a .csv/.parquet path"
          suggestions={dataExamples}
        />
        <TopField model={model} path="target" issues={issues} placeholder="target column" />
        <TopField model={model} path="task" issues={issues} placeholder="inferred from the target" />
        {splitFields.map(f => (
          <TopField key={f} model={model} path={`split.${f}`} issues={issues} />
        ))}
      </Block>
      <Arrow />
      <Block title="Preprocess" step="2" name="preprocess" issues={issues.get('preprocess')}>
        {model.preprocess.map((step, i) => (
          <StepCard key={step.id} model={model} section="preprocess" index={i} step={step} issues={issues} />
        ))}
        <AddStep model={model} section="preprocess" />
      </Block>
      <Arrow />
      <Block title="Models" step="3" name="models" issues={issues.get('models')}>
        {model.models.length === 0 && <div className="jp-stratum-muted">Add one or more candidate algorithms.</div>}
        {model.models.map((step, i) => (
          <StepCard key={step.id} model={model} section="models" index={i} step={step} issues={issues} />
        ))}
        <AddStep model={model} section="models" />
      </Block>
      <Arrow />
      <Block title="Evaluate" step="4" name="evaluate">
        <TopField
          model={model}
          path="metric"
          issues={issues}
          suggestions={model.metrics.filter(m => !model.task || m.task === model.task).map(m => m.name)}
        />
        <TopField model={model} path="metrics" issues={issues} />
      </Block>
      <Arrow />
      <Block title="Best model" step="5" name="best">
        <div className="jp-stratum-muted">
          Refit on the training part, scored on the holdout, registered as <code>{model.name || 'pipeline'}</code>.
        </div>
      </Block>

      <div className="jp-stratum-footer">
        <div
          className="jp-stratum-status"
          data-stratum-status={model.requestError ? 'error' : v ? (v.ok ? 'ok' : 'invalid') : 'unknown'}
        >
          {status}
        </div>
        <IssueList issues={general} className="jp-stratum-issues jp-stratum-general" />
        <div className="jp-stratum-actions">
          <button
            className="jp-mod-styled jp-mod-reject jp-stratum-button"
            data-stratum-action="insert"
            disabled={busy}
            title="Add the pipeline as a new cell below the selected cell"
            onClick={() => void write('insert')}
          >
            Insert cell
          </button>
          {linked && (
            <button
              className="jp-mod-styled jp-mod-reject jp-stratum-button"
              data-stratum-action="update"
              disabled={busy || linked.hasComments}
              title={
                linked.hasComments
                  ? 'The linked cell has comments that an update would lose: Insert cell instead'
                  : `Rewrite the linked cell (${linked.where}) with the pipeline`
              }
              onClick={() => void write('update')}
            >
              Update cell
            </button>
          )}
          <button
            className="jp-mod-styled jp-mod-accept jp-stratum-button"
            data-stratum-action="run"
            disabled={busy}
            title="Add the pipeline as a new cell and run it"
            onClick={() => void write('run')}
          >
            ▶ Run
          </button>
        </div>
        {message && <div className="jp-stratum-message">{message}</div>}
      </div>
    </div>
  );
}
