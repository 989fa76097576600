/**
 * The Models panel's cards in team mode: owner, team, aliases, last deployment, and actions the
 * service refused shown disabled with the service's own reason (the panel decides no permission).
 */
import * as React from 'react';
import { renderToStaticMarkup } from 'react-dom/server';

import { IModelSummary } from '../src/api';
import { ModelRow, permissionOf } from '../src/registry';

// the cards only call the server when opened, which these tests do not do
jest.mock('../src/api', () => ({ StratumAPI: { model: jest.fn() } }));

const DENIED =
  "ana may not deploy 'fraud-gbm': that needs the deployer role for fleet 'plant-a' " +
  "(hub group 'fleet-plant-a-deployers'). Ask a hub admin to add you to it.";

/** What `GET jupyter-stratum/models` sends for ana on the team registry (the service's answer). */
const TEAM_MODEL: IModelSummary = {
  name: 'fraud-gbm',
  latest_version: 2,
  n_versions: 2,
  task: 'classification',
  algorithm: 'DecisionTreeClassifier',
  metric: 'accuracy',
  cv_score: 0.9,
  holdout_score: 0.88,
  updated_at: '2026-12-01T04:00:00+00:00',
  team: 'fraud',
  owner: 'ana',
  aliases: [
    { name: 'fraud-gbm', alias: 'champion', version: 1, updated_at: '2026-12-01T04:01:00+00:00', updated_by: 'ben' }
  ],
  last_deployment: {
    version: 1,
    fleet: 'plant-a',
    user: 'ben',
    time: '2026-12-01T04:02:00+00:00',
    action: 'deploy',
    status: 'ok'
  },
  actions: {
    register: { allowed: true, reason: '' },
    alias: { allowed: false, reason: DENIED.replace("deploy 'fraud-gbm'", "move the aliases of 'fraud-gbm'") },
    deploy: { allowed: false, reason: DENIED }
  }
};

function render(model: IModelSummary): HTMLElementLike {
  const html = renderToStaticMarkup(
    React.createElement(ModelRow, {
      model,
      refreshKey: 0,
      onInsert: async () => '',
      ask: async () => null
    })
  );
  return new HTMLElementLike(html);
}

/** Just enough of a DOM query over the static markup (the tests run in Node). */
class HTMLElementLike {
  constructor(readonly html: string) {}
  /** The opening tag of the element with `attr="value"`. */
  tag(attr: string, value: string): string {
    const found = this.html.match(new RegExp(`<[a-z]+[^>]*${attr}="${escape(value)}"[^>]*>`));
    if (!found) {
      throw new Error(`no element with ${attr}="${value}" in ${this.html}`);
    }
    return found[0];
  }
  /** The text of the element with `attr="value"` (up to its closing tag, tags stripped). */
  text(attr: string, value: string): string {
    const start = this.html.indexOf(this.tag(attr, value));
    const rest = this.html.slice(start);
    const name = rest.match(/^<([a-z]+)/)![1];
    const end = rest.indexOf(`</${name}>`);
    return decode(rest.slice(0, end).replace(/<[^>]+>/g, ''));
  }
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function decode(s: string): string {
  return s
    .replace(/&#x27;/g, "'")
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

describe('a model card on the team registry', () => {
  it('says who trained it, its team, aliases and last deployment', () => {
    const card = render(TEAM_MODEL);
    expect(card.text('data-stratum-owner', 'ana')).toBe('trained by ana');
    expect(card.text('data-stratum-team', 'fraud')).toContain('team fraud');
    expect(card.text('data-stratum-alias', 'champion')).toBe('@champion → v1');
    expect(card.text('data-stratum-last-deployment', 'v1')).toMatch(/^last deployed v1 to plant-a by ben, /);
  });

  it('disables the actions the service refused, with the service’s reason', () => {
    const card = render(TEAM_MODEL);
    const deploy = card.tag('data-stratum-action', 'deploy');
    expect(deploy).toContain('disabled=""');
    expect(decode(deploy)).toContain(`title="${DENIED}"`);
    expect(card.text('data-stratum-denied', 'deploy')).toBe(`Deploy: ${DENIED}`);
    expect(card.text('data-stratum-denied', 'alias')).toContain("move the aliases of 'fraud-gbm'");
  });

  it('keeps an allowed action enabled, without a reason', () => {
    const ben: IModelSummary = {
      ...TEAM_MODEL,
      actions: { ...TEAM_MODEL.actions, deploy: { allowed: true, reason: '' } }
    };
    const card = render(ben);
    const deploy = card.tag('data-stratum-action', 'deploy');
    expect(deploy).not.toContain('disabled');
    expect(deploy).not.toContain('title=');
    expect(card.html).not.toContain('data-stratum-denied="deploy"');
    expect(card.html).toContain('data-stratum-denied="alias"');
  });

  it('shows a never-deployed model as such', () => {
    const card = render({ ...TEAM_MODEL, last_deployment: null, aliases: [] });
    expect(card.text('data-stratum-last-deployment', '')).toBe('not deployed yet');
    expect(card.html).not.toContain('data-stratum-alias');
  });
});

describe('a model card on the embedded registry', () => {
  const { team, owner, aliases, last_deployment, actions, ...embedded } = TEAM_MODEL;

  it('has no team line and every action enabled (no service, no permissions)', () => {
    void [team, owner, aliases, last_deployment, actions];
    const card = render(embedded as IModelSummary);
    expect(card.html).not.toContain('data-stratum-team');
    expect(card.html).not.toContain('disabled');
    expect(card.html).not.toContain('data-stratum-denied');
    expect(permissionOf(embedded as IModelSummary, 'deploy')).toEqual({ allowed: true, reason: '' });
  });
});
