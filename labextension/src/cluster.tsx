/**
 * Cluster panel: the Dask scheduler training goes to and what its workers
 * offer (threads, memory, resources such as `GPU`), read through the server
 * extension; buttons write `%stratum cluster` cells.
 */
import * as React from 'react';

import { IWorkerInfo, StratumAPI } from './api';
import { IRegistryPanelProps, useLoad } from './registry';

function fmtBytes(n: number): string {
  if (!n) {
    return 'no limit';
  }
  const gib = n / 2 ** 30;
  return gib >= 1 ? `${gib.toFixed(1)} GiB` : `${(n / 2 ** 20).toFixed(0)} MiB`;
}

function WorkerRow(props: { worker: IWorkerInfo }): JSX.Element {
  const w = props.worker;
  const resources = Object.entries(w.resources || {});
  return (
    <tr data-stratum-worker={w.name} title={w.address}>
      <td>{w.name}</td>
      <td>{w.nthreads}</td>
      <td>{fmtBytes(w.memory_limit)}</td>
      <td>
        {resources.length === 0 && <span className="jp-stratum-muted">CPU</span>}
        {resources.map(([k, v]) => (
          <span key={k} className="jp-stratum-badge">
            {k}={v}
          </span>
        ))}
      </td>
    </tr>
  );
}

/** The configured scheduler and its workers, or the embedded default explained. */
export function ClusterPanel(props: IRegistryPanelProps): JSX.Element {
  const [info, error, loading, reload] = useLoad(() => StratumAPI.cluster(true), props.refreshKey);
  const [message, setMessage] = React.useState('');
  const insert = async (source: string) => {
    try {
      setMessage(await props.onInsert(source));
    } catch (e) {
      setMessage((e as Error).message);
    }
  };
  const workers = info?.workers ?? [];
  const gpus = info?.resources?.GPU ?? 0;
  const workerTable = workers.length > 0 && (
    <table className="jp-stratum-kv jp-stratum-workers" data-stratum-workers={workers.length}>
      <thead>
        <tr>
          <th>worker</th>
          <th>threads</th>
          <th>memory</th>
          <th>resources</th>
        </tr>
      </thead>
      <tbody>
        {workers.map(w => (
          <WorkerRow key={w.address} worker={w} />
        ))}
      </tbody>
    </table>
  );
  return (
    <div className="jp-stratum-panel" data-stratum-panel="cluster">
      <div className="jp-stratum-panel-bar">
        <span>
          {info && info.embedded && 'embedded local cluster'}
          {info && !info.embedded && !info.error
            ? `${workers.length} worker${workers.length === 1 ? '' : 's'}${gpus ? ` · ${gpus} GPU` : ''}`
            : ''}
        </span>
        <button className="jp-stratum-icon-button" title="Refresh" onClick={reload}>
          ⟳
        </button>
      </div>
      {error && <div className="jp-stratum-banner">{error}</div>}
      {loading && !info && <div className="jp-stratum-muted">loading…</div>}
      {/* the workers first: what a user opens this panel for */}
      {workerTable}
      {info?.error && (
        <div className="jp-stratum-banner" role="alert">
          {info.error}
        </div>
      )}
      {info && info.embedded && (
        <div className="jp-stratum-muted" data-stratum-cluster="embedded">
          Each kernel starts its own local Dask workers on its first run: <b>Show in notebook</b> lists them. To share
          CPU and GPU workers, set STRATUM_SCHEDULER before starting JupyterLab, or connect a kernel with{' '}
          <code>%stratum cluster connect ADDR</code> (or <code>gateway</code>).
        </div>
      )}
      {info && !info.embedded && (
        <table className="jp-stratum-kv" data-stratum-cluster="scheduler">
          <tbody>
            <tr>
              <th>scheduler</th>
              <td>
                <code>{info.scheduler}</code>
              </td>
            </tr>
            {info.dashboard_link && (
              <tr>
                <th>dashboard</th>
                <td>
                  <a href={info.dashboard_link} target="_blank" rel="noopener noreferrer">
                    {info.dashboard_link}
                  </a>
                </td>
              </tr>
            )}
          </tbody>
        </table>
      )}
      <div className="jp-stratum-actions">
        <button
          className="jp-mod-styled jp-stratum-small"
          data-stratum-action="cluster-show"
          title="The cluster this notebook's kernel trains on, with its workers"
          onClick={() => void insert('%stratum cluster')}
        >
          Show in notebook
        </button>
        {info && !info.embedded && (
          <button
            className="jp-mod-styled jp-stratum-small"
            data-stratum-action="cluster-connect"
            title="Train this notebook's kernel on this scheduler"
            onClick={() => void insert(`%stratum cluster connect ${info.scheduler}`)}
          >
            Connect kernel
          </button>
        )}
      </div>
      {message && <div className="jp-stratum-message">{message}</div>}
    </div>
  );
}
