/**
 * jupyter-stratum's JupyterLab extension: the Stratum sidebar and its commands.
 */
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, Notification } from '@jupyterlab/apputils';
import { INotebookTracker } from '@jupyterlab/notebook';

import { StratumSidebar, stratumIcon } from './sidebar';

/** Command ids of the extension. */
export namespace CommandIDs {
  /** Show the Stratum sidebar. */
  export const open = 'stratum:open-sidebar';
  /** Write the builder's pipeline as a `%%stratum train` cell. */
  export const insertPipeline = 'stratum:insert-pipeline';
  /** Write the builder's pipeline and run it. */
  export const runPipeline = 'stratum:run-pipeline';
  /** Load the active `%%stratum train` cell into the builder. */
  export const loadCell = 'stratum:load-cell';
}

/** The sidebar plugin. */
const plugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-stratum:sidebar',
  description: 'Stratum sidebar: pipeline builder, Models and Deployments panels.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ILayoutRestorer, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null
  ) => {
    const sidebar = new StratumSidebar({ tracker, shell: app.shell });
    app.shell.add(sidebar, 'left', { rank: 850 });
    if (restorer) {
      restorer.add(sidebar, sidebar.id);
    }
    const report = (promise: Promise<unknown>) =>
      promise.then(
        message => {
          if (typeof message === 'string' && message) {
            Notification.info(message, { autoClose: 4000 });
          }
        },
        error => Notification.error((error as Error).message, { autoClose: 8000 })
      );

    app.commands.addCommand(CommandIDs.open, {
      label: 'Stratum: Show Sidebar',
      icon: stratumIcon,
      execute: () => app.shell.activateById(sidebar.id)
    });
    app.commands.addCommand(CommandIDs.insertPipeline, {
      label: 'Stratum: Insert Pipeline Cell',
      execute: () => report(sidebar.writePipeline(false))
    });
    app.commands.addCommand(CommandIDs.runPipeline, {
      label: 'Stratum: Run Pipeline',
      execute: () => report(sidebar.writePipeline(true))
    });
    app.commands.addCommand(CommandIDs.loadCell, {
      label: 'Stratum: Edit %%stratum Cell in the Sidebar',
      isEnabled: () => !!tracker.activeCell,
      execute: async () => {
        app.shell.activateById(sidebar.id);
        sidebar.showTab('pipeline');
        await report(sidebar.loadActiveCell());
      }
    });
    if (palette) {
      for (const command of Object.values(CommandIDs)) {
        palette.addItem({ command, category: 'Stratum' });
      }
    }
  }
};

export default plugin;
