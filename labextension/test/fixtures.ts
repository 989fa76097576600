/**
 * What the server sends, cut down to what the unit tests read: the shape of
 * `GET jupyter-stratum/spec/schema` (`PipelineSpec.model_json_schema()`) and of
 * `GET jupyter-stratum/catalog` (`catalog.catalog_json()`).
 */
import { ICatalog, ICatalogEntry, JSONSchema } from '../src/api';

/** `PipelineSpec`'s JSON Schema, as pydantic writes it. */
export const SPEC_SCHEMA: JSONSchema = {
  $defs: {
    Split: {
      type: 'object',
      properties: {
        test_size: { default: 0.2, exclusiveMaximum: 1, exclusiveMinimum: 0, type: 'number' },
        cv: { default: 5, maximum: 50, minimum: 2, type: 'integer' },
        seed: { default: 0, minimum: 0, type: 'integer' }
      }
    }
  },
  type: 'object',
  properties: {
    data: { type: 'string', examples: ['sklearn:iris', 'sklearn:wine'] },
    target: { anyOf: [{ type: 'string' }, { type: 'null' }], default: null },
    task: { anyOf: [{ enum: ['classification', 'regression'], type: 'string' }, { type: 'null' }], default: null },
    split: { $ref: '#/$defs/Split' },
    metric: { anyOf: [{ type: 'string' }, { type: 'null' }], default: null },
    metrics: { anyOf: [{ items: { type: 'string' }, type: 'array' }, { type: 'null' }], default: null }
  },
  required: ['data', 'models']
};

function algorithm(
  name: string,
  kind: string,
  aliases: string[],
  properties: Record<string, JSONSchema>
): ICatalogEntry {
  return {
    name,
    class_name: name
      .split('_')
      .map(w => w[0].toUpperCase() + w.slice(1))
      .join(''),
    kind,
    aliases,
    source: 'sklearn',
    doc: '',
    schema: { type: 'object', properties }
  };
}

/** Three estimators, two sharing the alias `random_forest`, and a transformer. */
export const CATALOG: ICatalog = {
  algorithms: [
    algorithm('logistic_regression', 'classifier', [], {
      C: { type: 'number', exclusiveMinimum: 0, default: 1 },
      penalty: { anyOf: [{ enum: ['l1', 'l2'], type: 'string' }, { type: 'null' }], default: 'l2' }
    }),
    algorithm('random_forest_classifier', 'classifier', ['random_forest'], {
      n_estimators: { type: 'integer', minimum: 1, default: 100 },
      criterion: { enum: ['gini', 'entropy'], type: 'string', default: 'gini' }
    }),
    algorithm('random_forest_regressor', 'regressor', ['random_forest'], {
      n_estimators: { type: 'integer', minimum: 1, default: 100 },
      max_depth: { anyOf: [{ type: 'integer', minimum: 1 }, { type: 'null' }], default: null }
    }),
    algorithm('ridge', 'regressor', [], { alpha: { anyOf: [{ type: 'number' }, { type: 'array' }], default: 1 } }),
    algorithm('standard_scaler', 'transformer', [], { with_mean: { type: 'boolean', default: true } })
  ],
  task_kinds: { classification: 'classifier', regression: 'regressor' },
  resolves: {
    random_forest: {
      classification: 'random_forest_classifier',
      regression: 'random_forest_regressor',
      default: 'random_forest_classifier'
    }
  }
};
