/**
 * The sidebar's only door to the server: `requestAPI()` and the shapes of
 * what the `jupyter_stratum.server` REST API answers. Every rule (schemas,
 * validation, messages) comes from there; nothing here checks a value.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** URL namespace of the server extension, under the server's base URL. */
export const API_NAMESPACE = 'jupyter-stratum';

/** What to tell the user when the server extension does not answer. */
export const SERVER_EXTENSION_HINT =
  'The jupyter-stratum server extension is not answering. Install it with ' +
  '`pip install jupyter-stratum` in the environment that runs JupyterLab, ' +
  'check `jupyter server extension list` shows "jupyter_stratum OK", then restart JupyterLab.';

/** An error from the REST API, with the core's message when there is one. */
export class StratumAPIError extends Error {
  /** Build from an HTTP status and the server's message. */
  constructor(
    message: string,
    readonly status: number,
    readonly missingExtension = false
  ) {
    super(message);
  }
}

/**
 * Call the server extension. `endPoint` is relative to
 * `{baseUrl}/jupyter-stratum/`; the answer is parsed JSON.
 */
export async function requestAPI<T>(
  endPoint = '',
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  const url = URLExt.join(settings.baseUrl, API_NAMESPACE, endPoint);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new StratumAPIError(`Cannot reach the Jupyter server (${String(error)}).`, 0, true);
  }
  const text = await response.text();
  let data: any = null;
  if (text.length > 0) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!response.ok) {
    if (response.status === 404 && !(data && data.area)) {
      throw new StratumAPIError(SERVER_EXTENSION_HINT, 404, true);
    }
    const message = (data && (data.message as string)) || `${response.status} ${response.statusText} from ${endPoint}`;
    throw new StratumAPIError(message, response.status);
  }
  return data as T;
}

/** A JSON Schema fragment (the subset the property editor reads). */
export interface JSONSchema {
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  anyOf?: JSONSchema[];
  oneOf?: JSONSchema[];
  allOf?: JSONSchema[];
  items?: JSONSchema;
  properties?: Record<string, JSONSchema>;
  required?: string[];
  $ref?: string;
  $defs?: Record<string, JSONSchema>;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  title?: string;
  description?: string;
  examples?: unknown[];
  [key: string]: unknown;
}

/** One algorithm of the catalog. */
export interface ICatalogEntry {
  name: string;
  class_name: string;
  kind: 'classifier' | 'regressor' | 'transformer' | string;
  aliases: string[];
  source: string;
  doc: string;
  schema: JSONSchema;
}

/** One problem in a spec, as the core reports it. */
export interface ISpecIssue {
  line: number | null;
  path: (string | number)[];
  field: string;
  message: string;
}

/** Answer of `spec/validate`. */
export interface IValidation {
  ok: boolean;
  errors: ISpecIssue[];
  yaml: string | null;
  spec: Record<string, any> | null;
}

/** Whether the user may take an action, as the team registry service decided it. */
export interface IActionPermission {
  allowed: boolean;
  /** The service's refusal: the missing role and who can grant it ("" when allowed). */
  reason: string;
}

/** `NAME@ALIAS` points at `version` (the registry's `Alias` record). */
export interface IModelAlias {
  name: string;
  alias: string;
  version: number;
  updated_at: string;
  updated_by: string;
}

/** The newest deployment recorded for a model (team registry). */
export interface ILastDeployment {
  version: number;
  fleet: string;
  user: string;
  /** ISO-8601, UTC. */
  time: string;
  action: string;
  status: string;
}

/** A registered model (latest version). */
export interface IModelSummary {
  name: string;
  latest_version: number;
  n_versions: number;
  task: string | null;
  algorithm: string | null;
  metric: string | null;
  cv_score: number | null;
  holdout_score: number | null;
  updated_at: string | null;
  /** Team registry only: the team the model belongs to. */
  team?: string;
  /** Team registry only: the hub user who trained the latest version. */
  owner?: string;
  /** Team registry only: the model's aliases. */
  aliases?: IModelAlias[];
  /** Team registry only: its newest deployment, or null when never deployed. */
  last_deployment?: ILastDeployment | null;
  /** Team registry only: what the user may do (`register`, `alias`, `deploy`), decided by the service. */
  actions?: Record<string, IActionPermission>;
  [key: string]: unknown;
}

/** The catalog as the server sends it: the algorithms and how the core resolves an alias. */
export interface ICatalog {
  algorithms: ICatalogEntry[];
  /** The estimator kind each task takes (`classification` → `classifier`). */
  task_kinds: Record<string, string>;
  /** What each alias means by task (`default`: when the task is not known yet). */
  resolves: Record<string, Record<string, string>>;
}

/** One version of a registered model (the registry's `ModelVersion` record). */
export interface IModelVersion {
  name: string;
  version: number;
  algorithm: string;
  metric: string | null;
  cv_score: number | null;
  holdout_score: number | null;
  spec_yaml: string;
  [field: string]: unknown;
}

/** One model with its versions, deployments and the lineage fields to show. */
export interface IModelDetail {
  name: string;
  versions: IModelVersion[];
  deployments: IDeployment[];
  /** The fields of a version record, in the registry's order. */
  fields: string[];
}

/** Where one edge host stands after a deployment action. */
export interface IDeploymentHost {
  host: string;
  address: string;
  port: number;
  /** changed | unchanged | rolled_back | failed | unreachable | removed | checked */
  status: string;
  /** Release id serving now ("" when none). */
  serving: string;
  /** Model version serving now. */
  version: string;
  changed: number;
  error: string;
}

/** A deployment record as the registry keeps it. */
export interface IDeployment {
  id: number;
  /** `NAME@VERSION` */
  model: string;
  action: string;
  status: string;
  changed: number;
  hosts: IDeploymentHost[];
  inventory: string;
  limit: string | null;
  project: string;
  duration_s: number;
  user: string;
  /** ISO-8601, UTC. */
  time: string;
}

/** One metric of the evaluator. */
export interface IMetricInfo {
  name: string;
  task: string;
  greater_is_better: boolean;
  description: string;
}

/** A Dask worker as the scheduler reports it. */
export interface IWorkerInfo {
  name: string;
  address: string;
  nthreads: number;
  memory_limit: number;
  resources: Record<string, number>;
}

/** Answer of `cluster`: the configured scheduler and (unless asked not to) its workers. */
export interface IClusterInfo {
  scheduler: string | null;
  embedded: boolean;
  workers?: IWorkerInfo[];
  resources?: Record<string, number>;
  dashboard_link?: string | null;
  /** The scheduler did not answer: what to do. */
  error?: string | null;
}

/** Typed calls of the REST API. */
export namespace StratumAPI {
  /** Algorithms and the JSON Schemas of their hyperparameters. */
  export function catalog(): Promise<ICatalog> {
    return requestAPI<ICatalog>('catalog');
  }
  /** JSON Schema of `PipelineSpec`. */
  export function specSchema(): Promise<JSONSchema> {
    return requestAPI<JSONSchema>('spec/schema');
  }
  /** Validate a spec text (YAML, of which JSON is a subset). */
  export function validate(yaml: string, task: string | null = null): Promise<IValidation> {
    return requestAPI<IValidation>('spec/validate', {
      method: 'POST',
      body: JSON.stringify({ yaml, task })
    });
  }
  /** Registered models. */
  export function models(): Promise<IModelSummary[]> {
    return requestAPI<IModelSummary[]>('models');
  }
  /** One model's versions and deployments. */
  export function model(name: string): Promise<IModelDetail> {
    return requestAPI<IModelDetail>(`models/${encodeURIComponent(name)}`);
  }
  /** Recorded deployments. */
  export function deployments(name: string | null = null): Promise<IDeployment[]> {
    const query = name ? `?name=${encodeURIComponent(name)}` : '';
    return requestAPI<IDeployment[]>(`deployments${query}`);
  }
  /** Metrics a spec may name. */
  export function metrics(): Promise<IMetricInfo[]> {
    return requestAPI<IMetricInfo[]>('metrics');
  }
  /** The configured Dask scheduler, if any; with `workers`, what its workers offer. */
  export function cluster(workers = true): Promise<IClusterInfo> {
    return requestAPI<IClusterInfo>(workers ? 'cluster' : 'cluster?workers=0');
  }
}
