/**
 * Writing and running `%stratum` cells in the active notebook.
 *
 * The sidebar never writes into a cell the user did not choose: it inserts a
 * new cell below the active one, and rewrites a cell only when asked to
 * update that very cell.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { Cell, ICodeCellModel } from '@jupyterlab/cells';
import { INotebookTracker, NotebookActions, NotebookPanel } from '@jupyterlab/notebook';

/** The line that loads the magics; inserted once per notebook when missing. */
export const LOAD_EXT = '%load_ext jupyter_stratum';

/** Insert and run cells in the notebook the user works in. */
export class NotebookBridge {
  /** Build on the notebook tracker; with `shell`, the notebook written to is brought to the front. */
  constructor(
    readonly tracker: INotebookTracker,
    readonly shell: JupyterFrontEnd.IShell | null = null
  ) {}

  /** The current notebook, or an error that tells the user to open one. */
  get panel(): NotebookPanel {
    const panel = this.tracker.currentWidget;
    if (!panel) {
      throw new Error('Open a notebook first: the sidebar writes its cells into the current notebook.');
    }
    return panel;
  }

  /**
   * Insert `source` as a new code cell below the active cell (the other cells
   * are left as they are). The notebook gets a `%load_ext jupyter_stratum`
   * cell above it if it has none. With `run`, the cells are executed.
   * Returns the new cell.
   */
  async insertCell(source: string, options: { run?: boolean } = {}): Promise<Cell> {
    const panel = await this._ready();
    const notebook = panel.content;
    const index = notebook.widgets.length ? notebook.activeCellIndex + 1 : 0;
    notebook.model!.sharedModel.insertCell(index, { cell_type: 'code', source });
    return this._finish(panel, index, options.run);
  }

  /**
   * Replace the source of `target`, a cell the user chose to update, and
   * clear its outputs (they came from the old source). Throws if the cell is
   * no longer in the current notebook.
   */
  async updateCell(target: Cell, source: string, options: { run?: boolean } = {}): Promise<Cell> {
    const panel = await this._ready();
    const index = panel.content.widgets.indexOf(target);
    if (index < 0 || target.isDisposed) {
      throw new Error('The linked cell is no longer in this notebook: use Insert cell.');
    }
    target.model.sharedModel.setSource(source);
    if (target.model.type === 'code') {
      (target.model as ICodeCellModel).clearExecution();
    }
    return this._finish(panel, index, options.run);
  }

  /** Run a cell that already holds what the builder would write. */
  async runCell(target: Cell): Promise<Cell> {
    const panel = await this._ready();
    const index = panel.content.widgets.indexOf(target);
    if (index < 0) {
      throw new Error('The linked cell is no longer in this notebook: use Insert cell.');
    }
    return this._finish(panel, index, true);
  }

  /** The current notebook, in front, with its model loaded. */
  private async _ready(): Promise<NotebookPanel> {
    const panel = this.panel;
    // A notebook just opened fills its model from the file when its context is
    // ready; a cell written before that would be replaced by the file's cells.
    await panel.context.ready;
    if (!panel.content.model) {
      throw new Error('The notebook is still loading; try again in a moment.');
    }
    // the user sees the cell: the notebook may be behind another tab (a Launcher, a file)
    if (this.shell) {
      this.shell.activateById(panel.id);
    }
    return panel;
  }

  /** Add `%load_ext` when missing, select the cell at `index`, scroll to it, run with `run`. */
  private async _finish(panel: NotebookPanel, index: number, run?: boolean): Promise<Cell> {
    const notebook = panel.content;
    let loadCell: Cell | null = null;
    if (!this._hasLoadExt(panel)) {
      notebook.model!.sharedModel.insertCell(index, { cell_type: 'code', source: LOAD_EXT });
      loadCell = notebook.widgets[index];
      index += 1;
    }
    const cell = notebook.widgets[index];
    notebook.activeCellIndex = index;
    notebook.deselectAll();
    void notebook.scrollToItem(index);
    if (run) {
      await panel.sessionContext.ready;
      const toRun = loadCell ? [loadCell, cell] : [cell];
      if (!loadCell) {
        // make sure the magics are loaded even if the load_ext cell was never run
        const kernel = panel.sessionContext.session?.kernel;
        if (kernel) {
          await kernel.requestExecute({ code: LOAD_EXT, silent: true, store_history: false }).done;
        }
      }
      await NotebookActions.runCells(notebook, toRun, panel.sessionContext);
    }
    return cell;
  }

  private _hasLoadExt(panel: NotebookPanel): boolean {
    return panel.content.widgets.some(
      c => c.model.type === 'code' && c.model.sharedModel.getSource().includes(LOAD_EXT)
    );
  }
}
