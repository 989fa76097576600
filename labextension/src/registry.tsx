/**
 * Models and Deployments panels: what the registry holds, read through the
 * server extension, with buttons that write `%stratum deploy` and
 * `%stratum monitor` cells.
 */
import * as React from 'react';

import {
  IActionPermission,
  IDeployment,
  IDeploymentHost,
  IModelDetail,
  IModelSummary,
  IModelVersion,
  StratumAPI
} from './api';

/** Props shared by the registry panels. */
export interface IRegistryPanelProps {
  /** Changes whenever the registry may have changed (a `%stratum` cell ran). */
  refreshKey: number;
  /** Write a cell into the current notebook (not run); resolves with a status message. */
  onInsert: (source: string) => Promise<string>;
  /** Ask the user for a line of text (e.g. an inventory path). */
  ask: (title: string, label: string, placeholder: string) => Promise<string | null>;
}

function fmtScore(x: unknown): string {
  return typeof x === 'number' && Number.isFinite(x) ? x.toFixed(4) : '—';
}

function fmtDate(x: unknown): string {
  if (typeof x !== 'string' && typeof x !== 'number') {
    return '';
  }
  const d = new Date(x);
  return Number.isNaN(d.getTime()) ? String(x) : d.toLocaleString();
}

/** Load `fetch()` whenever `key` changes; returns data, error and a reload function. */
export function useLoad<T>(fetch: () => Promise<T>, key: unknown): [T | null, string | null, boolean, () => void] {
  const [data, setData] = React.useState<T | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const [loading, setLoading] = React.useState(false);
  const [tick, setTick] = React.useState(0);
  React.useEffect(() => {
    let live = true;
    setLoading(true);
    fetch()
      .then(d => {
        if (live) {
          setData(d);
          setError(null);
        }
      })
      .catch(e => live && setError((e as Error).message))
      .finally(() => live && setLoading(false));
    return () => {
      live = false;
    };
  }, [key, tick]);
  return [data, error, loading, () => setTick(t => t + 1)];
}

/** Fields of a version shown elsewhere than its lineage table (the summary line, the YAML block). */
const NOT_IN_TABLE = new Set(['name', 'version', 'spec_yaml']);

/** Whether a lineage value is worth a row (not null, not an empty string, list or dict). */
function hasValue(v: unknown): boolean {
  if (v === null || v === undefined || v === '') {
    return false;
  }
  if (Array.isArray(v)) {
    return v.length > 0;
  }
  return typeof v !== 'object' || Object.keys(v as object).length > 0;
}

function Value(props: { value: unknown }): JSX.Element {
  const v = props.value;
  if (typeof v === 'number') {
    return <>{Number.isInteger(v) ? String(v) : v.toPrecision(6)}</>;
  }
  if (v === null || v === undefined) {
    return <>—</>;
  }
  if (typeof v === 'object') {
    return <code className="jp-stratum-json">{JSON.stringify(v)}</code>;
  }
  return <>{String(v)}</>;
}

function VersionDetail(props: { version: IModelVersion; fields: string[] }): JSX.Element {
  const v = props.version;
  const keys = props.fields.filter(k => !NOT_IN_TABLE.has(k) && hasValue(v[k]));
  return (
    <details className="jp-stratum-version">
      <summary>
        v{v.version} · {v.algorithm} · {v.metric ?? ''} {fmtScore(v.cv_score)} · holdout {fmtScore(v.holdout_score)}
      </summary>
      <table className="jp-stratum-kv">
        <tbody>
          {keys.map(k => (
            <tr key={k}>
              <th>{k}</th>
              <td>
                <Value value={v[k]} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {v.spec_yaml && <pre className="jp-stratum-yaml">{v.spec_yaml}</pre>}
    </details>
  );
}

/** The buttons of a model card: the action, its label and what the team registry says about it. */
const ACTIONS: { action: string; label: string }[] = [
  { action: 'alias', label: 'Alias…' },
  { action: 'deploy', label: 'Deploy…' }
];

/**
 * The permission the service sent for `action`; outside a team registry (no `actions`) every action is
 * allowed. Nothing here decides a permission: a missing answer for one action is not a refusal.
 */
export function permissionOf(model: IModelSummary, action: string): IActionPermission {
  return model.actions?.[action] ?? { allowed: true, reason: '' };
}

/** Owner, team, aliases and last deployment of a model in the team registry (nothing outside one). */
export function TeamLine(props: { model: IModelSummary }): JSX.Element | null {
  const m = props.model;
  if (m.team === undefined) {
    return null;
  }
  const last = m.last_deployment;
  return (
    <div className="jp-stratum-model-team" data-stratum-team={m.team}>
      {m.owner && <span data-stratum-owner={m.owner}>trained by {m.owner}</span>}
      <span className="jp-stratum-muted">team {m.team}</span>
      {(m.aliases ?? []).map(a => (
        <span
          key={a.alias}
          className="jp-stratum-badge"
          data-stratum-alias={a.alias}
          title={`set by ${a.updated_by}, ${fmtDate(a.updated_at)}`}
        >
          @{a.alias} → v{a.version}
        </span>
      ))}
      <span className="jp-stratum-muted" data-stratum-last-deployment={last ? `v${last.version}` : ''}>
        {last
          ? `last deployed v${last.version}${last.fleet ? ` to ${last.fleet}` : ''}${last.user ? ` by ${last.user}` : ''}, ${fmtDate(last.time)}`
          : 'not deployed yet'}
      </span>
    </div>
  );
}

/** One model of the Models panel: its card, the actions (disabled with the service's reason) and its versions. */
export function ModelRow(props: { model: IModelSummary } & IRegistryPanelProps): JSX.Element {
  const m = props.model;
  const [open, setOpen] = React.useState(false);
  const [detail, setDetail] = React.useState<IModelDetail | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  const [message, setMessage] = React.useState('');
  React.useEffect(() => {
    if (open) {
      StratumAPI.model(m.name)
        .then(setDetail)
        .catch(e => setError((e as Error).message));
    }
  }, [open, m.name, m.latest_version, props.refreshKey]);

  const alias = async () => {
    const name = await props.ask(
      `Alias for ${m.name}@${m.latest_version}`,
      'Alias to point at this version (moved if it exists)',
      'champion'
    );
    if (!name) {
      return;
    }
    try {
      setMessage(await props.onInsert(`%stratum alias ${m.name}@${m.latest_version} ${name}`));
    } catch (e) {
      setMessage((e as Error).message);
    }
  };

  const deploy = async () => {
    const inventory = await props.ask(
      `Deploy ${m.name}@${m.latest_version}`,
      'Ansible inventory (INI or YAML) of the edge hosts',
      'inventory.ini'
    );
    if (!inventory) {
      return;
    }
    try {
      setMessage(await props.onInsert(`%stratum deploy ${m.name}@${m.latest_version} --edge ${inventory}`));
    } catch (e) {
      setMessage((e as Error).message);
    }
  };
  const run: Record<string, () => Promise<void>> = { alias, deploy };
  const denied = ACTIONS.filter(a => !permissionOf(m, a.action).allowed);

  return (
    <li className="jp-stratum-model" data-stratum-model={m.name}>
      <div className="jp-stratum-model-head">
        <button className="jp-stratum-card-toggle" aria-expanded={open} onClick={() => setOpen(!open)}>
          <span className={`jp-stratum-caret${open ? ' jp-mod-open' : ''}`} />
          <span className="jp-stratum-card-name">{m.name}</span>
          <span className="jp-stratum-badge">v{m.latest_version}</span>
        </button>
        {ACTIONS.map(({ action, label }) => {
          const permission = permissionOf(m, action);
          return (
            <button
              key={action}
              className="jp-mod-styled jp-stratum-small"
              data-stratum-action={action}
              disabled={!permission.allowed}
              title={permission.reason || undefined}
              onClick={() => void run[action]()}
            >
              {label}
            </button>
          );
        })}
      </div>
      <TeamLine model={m} />
      <div className="jp-stratum-model-meta">
        <span>{m.algorithm ?? ''}</span>
        <span>
          {m.metric ?? 'score'} {fmtScore(m.cv_score)} (cv) · {fmtScore(m.holdout_score)} (holdout)
        </span>
        <span className="jp-stratum-muted">
          {m.n_versions} version{m.n_versions === 1 ? '' : 's'} · {fmtDate(m.updated_at)}
        </span>
      </div>
      {denied.map(({ action, label }) => (
        <div key={action} className="jp-stratum-denied" data-stratum-denied={action}>
          {label.replace('…', '')}: {permissionOf(m, action).reason}
        </div>
      ))}
      {message && <div className="jp-stratum-message">{message}</div>}
      {open && (
        <div className="jp-stratum-model-detail">
          {error && <div className="jp-stratum-field-error">{error}</div>}
          {!detail && !error && <div className="jp-stratum-muted">loading…</div>}
          {detail?.versions.map(v => (
            <VersionDetail key={v.version} version={v} fields={detail.fields} />
          ))}
          {detail && detail.deployments.length > 0 && (
            <div className="jp-stratum-muted">Deployed to {detail.deployments.length} target(s); see Deployments.</div>
          )}
        </div>
      )}
    </li>
  );
}

/** Registered models, newest first, with their lineage and a Deploy… button. */
export function ModelsPanel(props: IRegistryPanelProps): JSX.Element {
  const [models, error, loading, reload] = useLoad(StratumAPI.models, props.refreshKey);
  return (
    <div className="jp-stratum-panel" data-stratum-panel="models">
      <div className="jp-stratum-panel-bar">
        <span>{models ? `${models.length} model${models.length === 1 ? '' : 's'}` : ''}</span>
        <button
          className="jp-stratum-icon-button"
          title="Refresh"
          data-stratum-action="refresh-models"
          onClick={reload}
        >
          ⟳
        </button>
      </div>
      {error && <div className="jp-stratum-banner">{error}</div>}
      {loading && !models && <div className="jp-stratum-muted">loading…</div>}
      {models && models.length === 0 && (
        <div className="jp-stratum-muted">No model yet: build a pipeline and press Run.</div>
      )}
      <ul className="jp-stratum-list">
        {models?.map(m => (
          <ModelRow key={m.name} model={m} {...props} />
        ))}
      </ul>
    </div>
  );
}

function hostAddress(h: IDeploymentHost): string {
  return h.address ? `${h.address}${h.port ? ':' + h.port : ''}` : '';
}

/** The model name of a deployment (`NAME` of its `NAME@VERSION`). */
function modelName(d: IDeployment): string {
  return d.model.split('@')[0];
}

/** Deployments recorded in the registry: hosts, status, and a Monitor button. */
export function DeploymentsPanel(props: IRegistryPanelProps): JSX.Element {
  const [deployments, error, loading, reload] = useLoad(() => StratumAPI.deployments(), props.refreshKey);
  const [message, setMessage] = React.useState('');
  const monitor = async (name: string) => {
    try {
      setMessage(await props.onInsert(`%stratum monitor ${name}`.trim()));
    } catch (e) {
      setMessage((e as Error).message);
    }
  };
  return (
    <div className="jp-stratum-panel" data-stratum-panel="deployments">
      <div className="jp-stratum-panel-bar">
        <span>{deployments ? `${deployments.length} deployment${deployments.length === 1 ? '' : 's'}` : ''}</span>
        <button className="jp-stratum-icon-button" title="Refresh" onClick={reload}>
          ⟳
        </button>
      </div>
      {error && <div className="jp-stratum-banner">{error}</div>}
      {loading && !deployments && <div className="jp-stratum-muted">loading…</div>}
      {deployments && deployments.length === 0 && (
        <div className="jp-stratum-muted">Nothing deployed yet: Models → Deploy… writes a `%stratum deploy` cell.</div>
      )}
      {message && <div className="jp-stratum-message">{message}</div>}
      <ul className="jp-stratum-list">
        {deployments?.map(d => {
          const name = modelName(d);
          return (
            <li key={d.id} className="jp-stratum-model" data-stratum-deployment={name}>
              <div className="jp-stratum-model-head">
                <span className="jp-stratum-card-name">{d.model}</span>
                <span className={`jp-stratum-badge jp-stratum-status-${d.status.toLowerCase()}`}>
                  {[d.action, d.status].filter(Boolean).join(': ')}
                </span>
                <span className="jp-stratum-spacer" />
                <button
                  className="jp-mod-styled jp-stratum-small"
                  data-stratum-action="monitor"
                  onClick={() => void monitor(name)}
                >
                  Monitor
                </button>
              </div>
              <div className="jp-stratum-model-meta">
                {d.inventory && <span>inventory: {d.inventory}</span>}
                <span className="jp-stratum-muted">
                  {fmtDate(d.time)}
                  {d.user ? ` · ${d.user}` : ''}
                </span>
              </div>
              <ul className="jp-stratum-hosts">
                {d.hosts.map(h => (
                  <li key={h.host} title={h.error || undefined}>
                    <span
                      className={`jp-stratum-dot jp-stratum-dot-${h.status.toLowerCase().replace(/[^a-z]/g, '')}`}
                    />
                    {h.host} {h.address && <span className="jp-stratum-muted">{hostAddress(h)}</span>}{' '}
                    <span className="jp-stratum-muted">{h.status}</span>
                    {h.error && <div className="jp-stratum-field-error">{h.error}</div>}
                  </li>
                ))}
              </ul>
            </li>
          );
        })}
      </ul>
    </div>
  );
}
