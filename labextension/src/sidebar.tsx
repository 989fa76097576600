/**
 * The Stratum sidebar: Pipeline, Models and Deployments tabs, wired to the
 * notebook tracker (cells written, `%%stratum` cells loaded back, registry
 * refreshed after a `%stratum` cell runs).
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { InputDialog, ReactWidget } from '@jupyterlab/apputils';
import { Cell } from '@jupyterlab/cells';
import { INotebookTracker, NotebookActions } from '@jupyterlab/notebook';
import { LabIcon } from '@jupyterlab/ui-components';
import { Signal } from '@lumino/signaling';
import * as React from 'react';

import {
  IClusterInfo,
  ICatalog,
  IMetricInfo,
  JSONSchema,
  SERVER_EXTENSION_HINT,
  StratumAPI,
  StratumAPIError
} from './api';
import { ILinkedCell, PipelineBuilder } from './builder';
import { hasComments, PipelineModel, parseStratumCell } from './model';
import { NotebookBridge } from './notebook';
import { DeploymentsPanel, ModelsPanel } from './registry';
import { ClusterPanel } from './cluster';

/** The sidebar's icon: three strata. */
export const stratumIcon = new LabIcon({
  name: 'jupyter-stratum:icon',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16"><g class="jp-icon3" fill="#616161">' +
    '<path d="M12 2 2 7l10 5 10-5z"/><path d="m2 12 10 5 10-5-2.2-1.1L12 14.8l-7.8-3.9z"/>' +
    '<path d="m2 17 10 5 10-5-2.2-1.1L12 19.8l-7.8-3.9z"/></g></svg>'
});

type Tab = 'pipeline' | 'models' | 'deployments' | 'cluster';

/** The Stratum sidebar widget. */
export class StratumSidebar extends ReactWidget {
  /** Build the sidebar; it starts loading the catalog at once. */
  constructor(options: StratumSidebar.IOptions) {
    super();
    this.id = 'jp-stratum-sidebar';
    this.addClass('jp-stratum-sidebar');
    this.title.icon = stratumIcon;
    this.title.caption = 'Stratum: pipelines, models, deployments';
    this._tracker = options.tracker;
    this._bridge = new NotebookBridge(options.tracker, options.shell ?? null);
    this._tracker.activeCellChanged.connect((_, cell) => void this._onActiveCell(cell), this);
    NotebookActions.executed.connect((_, args) => {
      const source = args.cell.model.sharedModel.getSource();
      if (/^\s*%%?stratum\b/m.test(source)) {
        this._refreshKey++;
        this.update();
      }
    }, this);
    this.ready = this._load();
  }

  /** Resolves when the catalog has loaded (or failed to). */
  readonly ready: Promise<void>;

  /** The builder's state, once the catalog has loaded. */
  get pipeline(): PipelineModel | null {
    return this._model;
  }

  /** Show a tab. */
  showTab(tab: Tab): void {
    this._tab = tab;
    if (tab !== 'pipeline') {
      this._refreshKey++;
    }
    this.update();
  }

  /** Write the builder's pipeline into a new cell of the notebook (and run it with `run`). */
  async writePipeline(run: boolean): Promise<string> {
    const model = this._model;
    if (!model) {
      throw new Error(this._error || 'The sidebar is still loading.');
    }
    await model.validateNow();
    const source = model.cellSource();
    if (!source) {
      throw new Error('Fix the problems marked in red first.');
    }
    return this._write(source, run);
  }

  /** Load the active cell into the builder if it is a `%%stratum train` cell. */
  async loadActiveCell(): Promise<void> {
    await this._onActiveCell(this._tracker.activeCell, true);
  }

  protected render(): JSX.Element {
    if (this._error) {
      return (
        <div className="jp-stratum-root" data-stratum-ready="error">
          <div className="jp-stratum-title">Stratum</div>
          <div className="jp-stratum-banner" role="alert">
            {this._error}
          </div>
          <button className="jp-mod-styled" onClick={() => void this._retry()}>
            Retry
          </button>
        </div>
      );
    }
    const model = this._model;
    const tab = this._tab;
    const tabButton = (id: Tab, label: string) => (
      <button
        role="tab"
        aria-selected={tab === id}
        className={`jp-stratum-tab${tab === id ? ' jp-mod-active' : ''}`}
        data-stratum-tab={id}
        onClick={() => this.showTab(id)}
      >
        {label}
      </button>
    );
    const registryProps = {
      refreshKey: this._refreshKey,
      // Deploy/Monitor cells are new cells: they never replace the builder's linked cell
      onInsert: (source: string) => this._insert(source),
      ask: async (title: string, label: string, placeholder: string) => {
        const result = await InputDialog.getText({ title, label, placeholder });
        return result.button.accept && result.value ? result.value : null;
      }
    };
    return (
      <div className="jp-stratum-root" data-stratum-ready={model ? 'true' : 'loading'}>
        <div className="jp-stratum-title">Stratum</div>
        <div className="jp-stratum-tabs" role="tablist">
          {tabButton('pipeline', 'Pipeline')}
          {tabButton('models', 'Models')}
          {tabButton('deployments', 'Deployments')}
        </div>
        {this._notice && <div className="jp-stratum-notice">{this._notice}</div>}
        <div className="jp-stratum-content">
          {tab === 'pipeline' &&
            (model ? (
              <PipelineBuilder
                model={model}
                linked={this._linkedInfo()}
                onWrite={(source, run) => this._write(source, run)}
                onUpdate={source => this._update(source)}
                onReset={() => this._reset()}
              />
            ) : (
              <div className="jp-stratum-muted">Loading the catalog…</div>
            ))}
          {tab === 'models' && <ModelsPanel {...registryProps} />}
          {tab === 'deployments' && <DeploymentsPanel {...registryProps} />}
          {tab === 'cluster' && <ClusterPanel {...registryProps} />}
        </div>
        <button
          className={`jp-stratum-cluster${tab === 'cluster' ? ' jp-mod-active' : ''}`}
          data-stratum-tab="cluster"
          title="Show the cluster's workers (threads, memory, GPUs)"
          onClick={() => this.showTab('cluster')}
        >
          Cluster: {this._cluster ? this._cluster.scheduler || 'embedded local Dask cluster' : 'unknown'}
        </button>
      </div>
    );
  }

  /** Stop listening to the notebook tracker. */
  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    Signal.disconnectReceiver(this);
    this._model?.dispose();
    super.dispose();
  }

  private async _load(): Promise<void> {
    performance.mark('stratum:load-start');
    try {
      const [catalog, schema, metrics, cluster] = await Promise.all([
        StratumAPI.catalog(),
        StratumAPI.specSchema().catch((): JSONSchema | null => null),
        StratumAPI.metrics().catch((): IMetricInfo[] => []),
        StratumAPI.cluster(false).catch((): IClusterInfo | null => null)
      ]);
      this._catalog = catalog;
      this._schema = schema;
      this._metrics = metrics;
      this._cluster = cluster;
      this._error = null;
      this._reset();
      performance.mark('stratum:catalog-loaded');
    } catch (error) {
      const e = error as StratumAPIError;
      this._error = e.missingExtension ? SERVER_EXTENSION_HINT : `The Stratum server extension failed: ${e.message}`;
      this.update();
    }
  }

  private async _retry(): Promise<void> {
    this._error = null;
    this.update();
    await this._load();
  }

  private _reset(): void {
    this._model?.dispose();
    this._model = new PipelineModel(this._catalog, this._schema, { metrics: this._metrics });
    this._linked = null;
    this._notice = '';
    this.update();
    void this._model.validateNow();
  }

  /**
   * Insert the pipeline as a new cell below the active one (Run: and run it)
   * and link the builder to it. Run on a linked cell that already holds
   * exactly this pipeline runs that cell instead of adding another.
   */
  private async _write(source: string, run: boolean): Promise<string> {
    const linked = this._linkedCell();
    this._lastWritten = source;
    let cell: Cell;
    if (run && linked && linked.model.sharedModel.getSource() === source) {
      cell = await this._bridge.runCell(linked);
    } else {
      cell = await this._bridge.insertCell(source, { run });
    }
    this._linked = cell;
    this.update();
    if (run) {
      this._refreshKey++;
      this.update();
      return 'Ran the cell: its output shows the leaderboard; the model is in the Models tab.';
    }
    return 'Inserted a new cell.';
  }

  /** Rewrite the linked cell with the pipeline: only on the user's explicit Update. */
  private async _update(source: string): Promise<string> {
    const linked = this._linkedCell();
    if (!linked) {
      throw new Error('No cell is linked to the builder: use Insert cell.');
    }
    if (hasComments(linked.model.sharedModel.getSource())) {
      throw new Error('The linked cell has comments that an update would lose: use Insert cell.');
    }
    this._lastWritten = source;
    await this._bridge.updateCell(linked, source);
    this.update();
    return 'Updated the linked cell.';
  }

  /** Insert a new cell (not linked to the builder) below the active cell. */
  private async _insert(source: string): Promise<string> {
    await this._bridge.insertCell(source);
    return 'Inserted a new cell.';
  }

  /** The linked cell if it is still in the current notebook. */
  private _linkedCell(): Cell | null {
    const cell = this._linked;
    const panel = this._tracker.currentWidget;
    if (!cell || cell.isDisposed || !panel || panel.content.widgets.indexOf(cell) < 0) {
      return null;
    }
    return cell;
  }

  /** What the builder shows of its linked cell: its magic line and where it is. */
  private _linkedInfo(): ILinkedCell | null {
    const cell = this._linkedCell();
    const panel = this._tracker.currentWidget;
    if (!cell || !panel) {
      return null;
    }
    const source = cell.model.sharedModel.getSource();
    const widgets = panel.content.widgets;
    return {
      header: source.split('\n', 1)[0].trim(),
      where: `cell ${widgets.indexOf(cell) + 1} of ${widgets.length} in ${panel.context.path}`,
      hasComments: hasComments(source)
    };
  }

  private async _onActiveCell(cell: Cell | null, force = false): Promise<void> {
    const model = this._model;
    if (!model || !cell || cell.model.type !== 'code') {
      return;
    }
    const source = cell.model.sharedModel.getSource();
    const parsed = parseStratumCell(source);
    if (!parsed) {
      return;
    }
    if (!force && (cell === this._linked || source === this._lastWritten)) {
      this._linked = cell;
      return;
    }
    try {
      const answer = await StratumAPI.validate(parsed.body, null);
      if (answer.ok && answer.spec) {
        model.loadDocument(answer.spec, parsed.name, parsed.options);
        this._linked = cell;
        this._lastWritten = source;
        this._notice = '';
      } else {
        const first = answer.errors[0];
        this._notice =
          `This %%stratum cell has ${answer.errors.length} problem(s)` +
          (first ? ` (${first.line ? 'line ' + first.line + ': ' : ''}${first.message})` : '') +
          '; fix it in the cell to edit it here.';
      }
    } catch (error) {
      this._notice = (error as Error).message;
    }
    this.update();
  }

  private _bridge: NotebookBridge;
  private _catalog: ICatalog = { algorithms: [], task_kinds: {}, resolves: {} };
  private _cluster: IClusterInfo | null = null;
  private _error: string | null = null;
  private _lastWritten = '';
  private _linked: Cell | null = null;
  private _metrics: IMetricInfo[] = [];
  private _model: PipelineModel | null = null;
  private _notice = '';
  private _refreshKey = 0;
  private _schema: JSONSchema | null = null;
  private _tab: Tab = 'pipeline';
  private _tracker: INotebookTracker;
}

/** Options of the sidebar. */
export namespace StratumSidebar {
  /** Construction options. */
  export interface IOptions {
    /** The notebook tracker: where cells are written and read from. */
    tracker: INotebookTracker;
    /** The application shell: the notebook written to is brought to the front. */
    shell?: JupyterFrontEnd.IShell;
  }
}
