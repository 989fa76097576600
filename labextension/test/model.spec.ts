/**
 * The builder's state: alias resolution from the server's table, the menus'
 * choices by task, field keys of the server's issues, step shapes.
 */
import { ISpecIssue } from '../src/api';
import { hasComments, PipelineModel, parseStratumCell } from '../src/model';

import { CATALOG, SPEC_SCHEMA } from './fixtures';

// the model's only server call (validation) is not made by these tests
jest.mock('../src/api', () => ({ StratumAPI: { validate: jest.fn() } }));

function model(): PipelineModel {
  return new PipelineModel(CATALOG, SPEC_SCHEMA, { validateDelay: 1e9 });
}

const issue = (path: (string | number)[], field = ''): ISpecIssue => ({ line: 3, path, field, message: 'bad' });

describe('entry (the server resolves aliases)', () => {
  it('finds a name or a class name as it is', () => {
    const m = model();
    expect(m.entry('ridge')?.name).toBe('ridge');
    expect(m.entry('RandomForestRegressor')?.name).toBe('random_forest_regressor');
    expect(m.entry('nope')).toBeUndefined();
  });

  it("resolves an alias by the task, with the server's default while the task is unset", () => {
    const m = model();
    m.dispose();
    expect(m.entry('random_forest')?.name).toBe('random_forest_classifier');
    m.fields.task = { raw: '"regression"', search: false };
    expect(m.task).toBe('regression');
    expect(m.entry('random_forest')?.name).toBe('random_forest_regressor');
  });
});

describe('menus offer what fits', () => {
  it('preprocessing offers transformers only', () => {
    expect(
      model()
        .choices('preprocess')
        .map(e => e.name)
    ).toEqual(['standard_scaler']);
  });

  it('a classification task offers no regressor', () => {
    const m = model();
    m.fields.task = { raw: '"classification"', search: false };
    expect(m.kindsFor('models')).toEqual(['classifier']);
    expect(m.choices('models').map(e => e.name)).toEqual(['logistic_regression', 'random_forest_classifier']);
  });

  it('every estimator while the task is unset', () => {
    expect(model().kindsFor('models')).toEqual(['classifier', 'regressor']);
    expect(model().choices('models')).toHaveLength(4);
  });
});

describe('fieldKeyOf', () => {
  const m = model();
  m.loadDocument(
    {
      data: 'sklearn:iris',
      split: { cv: 3 },
      preprocess: ['standard_scaler'],
      models: [{ logistic_regression: { C: -1 } }, 'random_forest'],
      metric: 'accuracy'
    },
    'iris'
  );
  m.dispose();

  it.each<[(string | number)[], string, string]>([
    [['data'], '', 'data'],
    [['split', 'cv'], '', 'split.cv'],
    [['models', 0, 'params', 'C'], '', 'models.0.C'],
    [['models', 0, 'algorithm'], '', 'models.0'],
    [['models', 1, 'params', 'n_estimators'], '', 'models.1.n_estimators'],
    [['models', 7, 'params', 'C'], '', 'models'],
    [['preprocess', 0, 'params', 'with_mean'], '', 'preprocess.0.with_mean'],
    [['metric'], '', 'metric'],
    [[], 'data', 'data'],
    [[], '', '']
  ])('routes an issue at %j (field %j) to %j', (path, field, key) => {
    expect(m.fieldKeyOf(issue(path, field))).toBe(key);
  });

  it('groups issues by field', () => {
    m.validation = {
      ok: false,
      yaml: null,
      spec: null,
      errors: [issue(['models', 0, 'params', 'C']), issue(['models', 0, 'params', 'C']), issue(['data'])]
    };
    const byField = m.issuesByField();
    expect(byField.get('models.0.C')).toHaveLength(2);
    expect(byField.get('data')).toHaveLength(1);
  });
});

describe('loading a cell', () => {
  it('reads fields and steps from a spec document', () => {
    const m = model();
    m.loadDocument({ data: 'sklearn:wine', split: { cv: 4 }, models: [{ logistic_regression: { C: [0.1, 1] } }] }, 'w');
    m.dispose();
    expect(m.fields['data']).toEqual({ raw: 'sklearn:wine', search: false });
    expect(m.fields['split.cv']).toEqual({ raw: '4', search: false });
    expect(m.models[0].params.C).toEqual({ raw: '0.1, 1', search: true });
    expect(m.toDocument()).toEqual({
      data: 'sklearn:wine',
      split: { cv: 4 },
      models: [{ logistic_regression: { C: [0.1, 1] } }]
    });
  });

  it.each<[unknown, string, Record<string, unknown>]>([
    ['ridge', 'ridge', {}],
    [{ ridge: { alpha: 2 } }, 'ridge', { alpha: 2 }],
    [{ ridge: null }, 'ridge', {}],
    [{ name: 'standard_scaler', params: { with_mean: false } }, 'standard_scaler', { with_mean: false }]
  ])('stepOf(%j)', (item, name, params) => {
    expect(PipelineModel.stepOf(item)).toEqual({ name, params });
  });

  it('splits a %%stratum train cell', () => {
    expect(parseStratumCell('%%stratum train churn --cluster tcp://x:8786\ndata: a.csv\n')).toEqual({
      name: 'churn',
      options: '--cluster tcp://x:8786',
      body: 'data: a.csv\n'
    });
    expect(parseStratumCell('%stratum cluster')).toBeNull();
    expect(parseStratumCell('print(1)')).toBeNull();
  });
});

describe('hasComments', () => {
  it('finds a YAML comment in the body, not in the magic line', () => {
    expect(hasComments('%%stratum train a\n# why\ndata: x.csv\n')).toBe(true);
    expect(hasComments('%%stratum train a\ndata: x.csv  # the raw export\n')).toBe(true);
    expect(hasComments('%%stratum train a\ndata: x.csv\nmodels: [ridge]\n')).toBe(false);
    expect(hasComments('%%stratum train a#b\ndata: x.csv\n')).toBe(false);
    expect(hasComments('%%stratum train a\ndata: data#1.csv\n')).toBe(false);
  });
});

describe('a validation request that fails on the way', () => {
  const { StratumAPI } = jest.requireMock('../src/api') as { StratumAPI: { validate: jest.Mock } };
  const answer = { ok: true, errors: [], spec: {}, yaml: 'data: x\n' };

  afterEach(() => {
    jest.useRealTimers();
    StratumAPI.validate.mockReset();
  });

  it('is asked again with a growing wait until the server answers', async () => {
    jest.useFakeTimers();
    StratumAPI.validate
      .mockRejectedValueOnce(new Error('503 busy'))
      .mockRejectedValueOnce(new Error('503 busy'))
      .mockResolvedValue(answer);
    const m = model();
    await m.validateNow();
    expect(m.requestError).toBe('503 busy');
    expect(m.validation).toBeNull();
    await jest.advanceTimersByTimeAsync(999);
    expect(StratumAPI.validate).toHaveBeenCalledTimes(1);
    await jest.advanceTimersByTimeAsync(1);
    expect(StratumAPI.validate).toHaveBeenCalledTimes(2);
    await jest.advanceTimersByTimeAsync(1999);
    expect(StratumAPI.validate).toHaveBeenCalledTimes(2);
    await jest.advanceTimersByTimeAsync(1);
    expect(StratumAPI.validate).toHaveBeenCalledTimes(3);
    expect(m.requestError).toBeNull();
    expect(m.validation).toEqual(answer);
    m.dispose();
  });

  it('is not asked again when the server extension is missing', async () => {
    jest.useFakeTimers();
    const missing = Object.assign(new Error('pip install jupyter-stratum'), { missingExtension: true });
    StratumAPI.validate.mockRejectedValue(missing);
    const m = model();
    await m.validateNow();
    await jest.advanceTimersByTimeAsync(60_000);
    expect(StratumAPI.validate).toHaveBeenCalledTimes(1);
    m.dispose();
  });

  it('stops asking once the model is disposed', async () => {
    jest.useFakeTimers();
    StratumAPI.validate.mockRejectedValue(new Error('down'));
    const m = model();
    await m.validateNow();
    m.dispose();
    await jest.advanceTimersByTimeAsync(60_000);
    expect(StratumAPI.validate).toHaveBeenCalledTimes(1);
  });
});
