/**
 * @jest-environment jsdom
 *
 * The builder's view follows its model: a change the model emits after the view first rendered
 * but before React subscribed (a validation answered quickly on a busy page) still shows.
 */
import * as React from 'react';
import { createRoot } from 'react-dom/client';

import { useModel } from '../src/builder';
import { PipelineModel } from '../src/model';

import { CATALOG, SPEC_SCHEMA } from './fixtures';

jest.mock('../src/api', () => ({ StratumAPI: { validate: jest.fn() } }));

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;
const act = (React as unknown as { act: (fn: () => void) => void }).act;

function NameView(props: { model: PipelineModel }): JSX.Element {
  useModel(props.model);
  return <span data-name={props.model.name}>{props.model.name}</span>;
}

/** Changes the model while React commits, before the passive effects (where views subscribe) run. */
function RenameOnCommit(props: { model: PipelineModel; name: string }): null {
  React.useLayoutEffect(() => props.model.setName(props.name), [props.model, props.name]);
  return null;
}

describe('useModel', () => {
  it('shows a change emitted between the first render and the subscription', () => {
    const model = new PipelineModel(CATALOG, SPEC_SCHEMA, { validateDelay: 1e9 });
    const container = document.createElement('div');
    const root = createRoot(container);
    act(() =>
      root.render(
        <>
          <NameView model={model} />
          <RenameOnCommit model={model} name="churn" />
        </>
      )
    );
    expect(container.textContent).toBe('churn');
    act(() => model.setName('fraud'));
    expect(container.textContent).toBe('fraud');
    act(() => root.unmount());
    model.dispose();
  });

  it('counts every change it emits', () => {
    const model = new PipelineModel(CATALOG, SPEC_SCHEMA, { validateDelay: 1e9 });
    const before = model.version;
    model.setName('a');
    model.toggleStep('models', 0);
    expect(model.version).toBe(before + 2);
    model.dispose();
  });
});
