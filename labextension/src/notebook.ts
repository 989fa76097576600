/**
 * Writing and running `%stratum` cells in the active notebook.
 */
import { Cell } from '@jupyterlab/cells';
import { INotebookTracker, NotebookActions, NotebookPanel } from '@jupyterlab/notebook';

/** The line that loads the magics; inserted once per notebook when missing. */
export const LOAD_EXT = '%load_ext jupyter_stratum';

/** Insert and run cells in the notebook the user works in. */
export class NotebookBridge {
  /** Build on the notebook tracker. */
  constructor(readonly tracker: INotebookTracker) {}

  /** The current notebook, or an error that tells the user to open one. */
  get panel(): NotebookPanel {
    const panel = this.tracker.currentWidget;
    if (!panel) {
      throw new Error('Open a notebook first: the sidebar writes its cells into the current notebook.');
    }
    return panel;
  }

  /**
   * Put `source` in a code cell: replace `target` if it is still in the
   * notebook, else insert below the active cell. The notebook gets a
   * `%load_ext jupyter_stratum` cell above it if it has none. With `run`,
   * the cells are executed. Returns the cell that holds `source`.
   */
  async writeCell(source: string, options: { run?: boolean; target?: Cell | null } = {}): Promise<Cell> {
    const panel = this.panel;
    // A notebook just opened fills its model from the file when its context is
    // ready; a cell written before that would be replaced by the file's cells.
    await panel.context.ready;
    const notebook = panel.content;
    const model = notebook.model;
    if (!model) {
      throw new Error('The notebook is still loading; try again in a moment.');
    }
    let index = options.target ? notebook.widgets.indexOf(options.target) : -1;
    if (index >= 0) {
      options.target!.model.sharedModel.setSource(source);
    } else {
      index = notebook.widgets.length ? notebook.activeCellIndex + 1 : 0;
      const active = notebook.activeCell;
      if (active && active.model.type === 'code' && active.model.sharedModel.getSource().trim() === '') {
        index = notebook.activeCellIndex; // fill the empty cell the user is on
        active.model.sharedModel.setSource(source);
      } else {
        model.sharedModel.insertCell(index, { cell_type: 'code', source });
      }
    }
    let loadCell: Cell | null = null;
    if (!this._hasLoadExt(panel)) {
      model.sharedModel.insertCell(index, { cell_type: 'code', source: LOAD_EXT });
      loadCell = notebook.widgets[index];
      index += 1;
    }
    const cell = notebook.widgets[index];
    notebook.activeCellIndex = index;
    notebook.deselectAll();
    void notebook.scrollToItem(index);
    if (options.run) {
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
