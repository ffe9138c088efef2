import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AnomalyEngine, type Assessment } from '../../../src/core/policy/anomalyEngine';
import {
  DEFAULT_ANOMALY_CONFIG,
  type AgentMeta,
  type AnomalyConfig,
  type AnomalyRuleId,
  type RuleAction,
} from '../../../src/core/model';
import { FakeClock } from '../../fakes/fakeClock';
import { DAY_MS, HOUR_MS, MINUTE_MS, makeAgent, makeCredential, seededRandom } from './helpers';

const MONDAY = Date.parse('2026-03-02T00:00:00Z');
const at = (day: number, hhmm: string) => {
  const [h, m] = hhmm.split(':').map(Number);
  return MONDAY + day * DAY_MS + h * HOUR_MS + m * MINUTE_MS;
};

function config(
  over: Partial<AnomalyConfig> = {},
  actions: Partial<Record<AnomalyRuleId, RuleAction>> = {},
): AnomalyConfig {
  return { ...DEFAULT_ANOMALY_CONFIG, ...over, actions: { ...DEFAULT_ANOMALY_CONFIG.actions, ...actions } };
}

/** An agent that has used `search_api` before, so first_use stays quiet unless a test wants it. */
const seasoned = (over: Partial<AgentMeta> = {}) =>
  makeAgent({ first_used: { search_api: '2026-01-05T10:00:00.000Z' }, ...over });
const cred = makeCredential();
const rules = (a: Assessment) => a.fired.map((f) => f.rule);

function setup(start = at(0, '10:00'), cfg: AnomalyConfig = DEFAULT_ANOMALY_CONFIG) {
  const clock = new FakeClock(start);
  const engine = new AnomalyEngine({ config: cfg, clock });
  return { clock, engine };
}

describe('AnomalyEngine: quiet path', () => {
  it('an ordinary request fires nothing', () => {
    const { engine } = setup();
    const a = engine.assess({
      agent: seasoned({ active_hours: '08:00-20:00' }),
      credential: cred,
      scope: 'search_read',
    });
    assert.deepEqual(a, { action: 'allow', fired: [] });
  });
});

describe('AnomalyEngine: outside active hours', () => {
  it('03:00 outside 08:00-20:00 → deny (anomaly_denied), telling what to do', () => {
    const { engine } = setup(at(0, '03:00'));
    const a = engine.assess({
      agent: seasoned({ active_hours: '08:00-20:00' }),
      credential: cred,
      scope: 'search_read',
    });
    assert.equal(a.action, 'deny');
    assert.equal(a.code, 'anomaly_denied');
    assert.deepEqual(rules(a), ['outside_active_hours']);
    assert.match(a.message ?? '', /03:00 local time, outside its active hours \(08:00-20:00\)/);
    assert.match(a.message ?? '', /widen active_hours/);
  });

  it('edges follow the window: 07:59 denied, 08:00 and 19:59 allowed, 20:00 denied', () => {
    const { clock, engine } = setup(at(0, '07:59'));
    const agent = seasoned({ active_hours: '08:00-20:00' });
    const expect: [string, string][] = [
      ['07:59', 'deny'],
      ['08:00', 'allow'],
      ['19:59', 'allow'],
      ['20:00', 'deny'],
    ];
    for (const [t, action] of expect) {
      clock.set(at(0, t));
      assert.equal(engine.assess({ agent, credential: cred, scope: 'search_read' }).action, action, t);
    }
  });

  it('uses the clock’s local time, not UTC', () => {
    // 02:00 UTC is 10:00 at UTC+8.
    const clock = new FakeClock(at(0, '02:00'), 8 * 60);
    const engine = new AnomalyEngine({ config: DEFAULT_ANOMALY_CONFIG, clock });
    const a = engine.assess({
      agent: seasoned({ active_hours: '08:00-20:00' }),
      credential: cred,
      scope: 'search_read',
    });
    assert.equal(a.action, 'allow');
  });

  it('a window that wraps midnight admits 03:00; no active_hours means no limit', () => {
    const { engine } = setup(at(0, '03:00'));
    assert.equal(
      engine.assess({
        agent: seasoned({ active_hours: '22:00-06:00' }),
        credential: cred,
        scope: 'search_read',
      }).action,
      'allow',
    );
    assert.equal(
      engine.assess({
        agent: seasoned({ id: 'other', first_used: { search_api: 'x' } }),
        credential: cred,
        scope: 'search_read',
      }).action,
      'allow',
    );
  });

  it('an unreadable active_hours fails closed', () => {
    const { engine } = setup(at(0, '12:00'));
    const a = engine.assess({
      agent: seasoned({ active_hours: 'nine to five' }),
      credential: cred,
      scope: 'search_read',
    });
    assert.equal(a.action, 'deny');
    assert.match(a.message ?? '', /cannot be read.*fix active_hours/);
  });
});

describe('AnomalyEngine: agent_id mismatch', () => {
  it('a claimed id that differs from the token’s agent → deny', () => {
    const { engine } = setup();
    const a = engine.assess({
      agent: seasoned(),
      credential: cred,
      scope: 'search_read',
      claimedAgentId: 'admin-agent',
    });
    assert.equal(a.action, 'deny');
    assert.equal(a.code, 'anomaly_denied');
    assert.deepEqual(rules(a), ['agent_id_mismatch']);
    assert.match(a.message ?? '', /'admin-agent'.*'research-agent'.*Omit agent_id or pass 'research-agent'/);
  });

  it('the same id, an empty one, null or none is fine', () => {
    const { engine } = setup();
    for (const claimedAgentId of ['research-agent', '', '  ', null, undefined]) {
      const a = engine.assess({ agent: seasoned(), credential: cred, scope: 'search_read', claimedAgentId });
      assert.equal(a.action, 'allow', String(claimedAgentId));
    }
  });

  it('a claimed id that is not a valid id is not echoed back (it could be anything)', () => {
    const { engine } = setup();
    const CANARY = 'SK-live-' + 'Zx9'.repeat(10);
    const a = engine.assess({
      agent: seasoned(),
      credential: cred,
      scope: 'search_read',
      claimedAgentId: CANARY,
    });
    assert.equal(a.action, 'deny');
    assert.ok(!JSON.stringify(a).includes(CANARY));
    assert.match(a.message ?? '', /a different agent id/);
  });
});

describe('AnomalyEngine: sensitive scope', () => {
  it('publish → approve; the configured list decides what is sensitive', () => {
    const { engine } = setup();
    const a = engine.assess({ agent: seasoned(), credential: cred, scope: 'publish' });
    assert.equal(a.action, 'approve');
    assert.equal(a.code, undefined);
    assert.deepEqual(rules(a), ['sensitive_scope']);
    assert.match(a.message ?? '', /'publish' on 'search_api' is sensitive/);
    for (const s of ['write', 'admin', 'delete']) {
      assert.equal(engine.assess({ agent: seasoned(), credential: cred, scope: s }).action, 'approve', s);
    }
    engine.setConfig(config({ sensitive_scopes: ['search_read'] }));
    assert.equal(engine.assess({ agent: seasoned(), credential: cred, scope: 'publish' }).action, 'allow');
    assert.equal(
      engine.assess({ agent: seasoned(), credential: cred, scope: 'search_read' }).action,
      'approve',
    );
  });
});

describe('AnomalyEngine: burst', () => {
  it('61 requests in a minute → the 61st is rate_limited; allowed again once the window slides', () => {
    const { clock, engine } = setup();
    const agent = seasoned();
    const t0 = clock.now();
    for (let i = 1; i <= 60; i++) {
      const a = engine.assess({ agent, credential: cred, scope: 'search_read' });
      assert.equal(a.action, 'allow', `request ${i}`);
      clock.advance(500);
    }
    clock.set(t0 + 30_000);
    const denied = engine.assess({ agent, credential: cred, scope: 'search_read' });
    assert.equal(denied.action, 'deny');
    assert.equal(denied.code, 'rate_limited');
    assert.deepEqual(rules(denied), ['burst']);
    // Requests 2..61 sit at t0+0.5s … t0+30s; a retry works once t0+0.5s and t0+1s have left the window.
    assert.equal(denied.retry_after_seconds, 31);
    assert.match(denied.message ?? '', /more than 60 requests in the last minute.*retry after 31 s/);

    // Other agents are not affected.
    assert.equal(
      engine.assess({ agent: seasoned({ id: 'coder' }), credential: cred, scope: 'search_read' }).action,
      'allow',
    );

    clock.set(t0 + 60_000);
    assert.equal(
      engine.assess({ agent, credential: cred, scope: 'search_read' }).code,
      'rate_limited',
      'still too many at +60s',
    );
    clock.set(t0 + 61_000);
    const again = engine.assess({ agent, credential: cred, scope: 'search_read' });
    assert.equal(again.action, 'allow');
  });

  it('a steady 60/min forever is fine; a long pause clears everything', () => {
    const { clock, engine } = setup();
    const agent = seasoned();
    for (let i = 0; i < 300; i++) {
      assert.equal(
        engine.assess({ agent, credential: cred, scope: 'search_read' }).action,
        'allow',
        `request ${i}`,
      );
      clock.advance(1000);
    }
  });

  it('follows burst_per_minute', () => {
    const { engine } = setup(at(0, '10:00'), config({ burst_per_minute: 3 }));
    const actions = Array.from(
      { length: 5 },
      () => engine.assess({ agent: seasoned(), credential: cred, scope: 'search_read' }).action,
    );
    assert.deepEqual(actions, ['allow', 'allow', 'allow', 'deny', 'deny']);
  });
});

describe('AnomalyEngine: probing', () => {
  it('5 denials in 10 minutes → every request denied for 15 minutes, then unlocked', () => {
    const { clock, engine } = setup();
    const agent = seasoned();
    for (let i = 0; i < 4; i++) {
      engine.recordDecision(agent.id, true);
      clock.advance(2 * MINUTE_MS);
    }
    assert.equal(
      engine.assess({ agent, credential: cred, scope: 'search_read' }).action,
      'allow',
      'four denials are not enough',
    );
    engine.recordDecision(agent.id, true); // the fifth, at +8 min
    const lockStart = clock.now();
    const a = engine.assess({ agent, credential: cred, scope: 'search_read' });
    assert.equal(a.action, 'deny');
    assert.equal(a.code, 'anomaly_denied');
    assert.deepEqual(rules(a), ['probing']);
    const unlock = new Date(lockStart + 15 * MINUTE_MS).toISOString();
    assert.ok(a.message?.includes(unlock), a.message);
    assert.match(a.message ?? '', /locked out.*about 15 min.*5 refused requests within 10 minutes/);
    assert.equal(a.retry_after_seconds, 15 * 60);
    assert.equal(engine.lockedUntil(agent.id), lockStart + 15 * MINUTE_MS);

    // Denials during the lockout (including its own) do not extend it.
    for (let i = 0; i < 10; i++) {
      engine.recordDecision(agent.id, true);
      clock.advance(MINUTE_MS);
    }
    clock.set(lockStart + 15 * MINUTE_MS - 1);
    assert.equal(engine.assess({ agent, credential: cred, scope: 'search_read' }).action, 'deny');
    clock.set(lockStart + 15 * MINUTE_MS);
    assert.equal(engine.assess({ agent, credential: cred, scope: 'search_read' }).action, 'allow');
    assert.equal(engine.lockedUntil(agent.id), undefined);

    // The count starts afresh: one more denial does not relock.
    engine.recordDecision(agent.id, true);
    assert.equal(engine.assess({ agent, credential: cred, scope: 'search_read' }).action, 'allow');
  });

  it('after a lockout shorter than the window, the denial count starts afresh', () => {
    const { clock, engine } = setup(at(0, '10:00'), config({ probing_lockout_minutes: 1 }));
    const agent = seasoned();
    for (let i = 0; i < 5; i++) {
      engine.recordDecision(agent.id, true);
    }
    assert.equal(engine.assess({ agent, credential: cred, scope: 'search_read' }).action, 'deny');
    clock.advance(MINUTE_MS);
    engine.recordDecision(agent.id, true);
    assert.equal(
      engine.assess({ agent, credential: cred, scope: 'search_read' }).action,
      'allow',
      'one denial after unlocking',
    );
    for (let i = 0; i < 4; i++) {
      engine.recordDecision(agent.id, true);
    }
    assert.equal(
      engine.assess({ agent, credential: cred, scope: 'search_read' }).action,
      'deny',
      'five fresh denials relock',
    );
  });

  it('denials spread wider than the window never lock', () => {
    const { clock, engine } = setup();
    const agent = seasoned();
    for (let i = 0; i < 20; i++) {
      engine.recordDecision(agent.id, true);
      engine.recordDecision(agent.id, false);
      clock.advance(3 * MINUTE_MS); // at most 4 within any 10 minutes
    }
    assert.equal(engine.assess({ agent, credential: cred, scope: 'search_read' }).action, 'allow');
  });

  it('locks only the agent that probed', () => {
    const { engine } = setup();
    for (let i = 0; i < 5; i++) {
      engine.recordDecision('research-agent', true);
    }
    assert.equal(engine.assess({ agent: seasoned(), credential: cred, scope: 'search_read' }).action, 'deny');
    assert.equal(
      engine.assess({ agent: seasoned({ id: 'coder' }), credential: cred, scope: 'search_read' }).action,
      'allow',
    );
  });

  it('burst refusals recorded as denials escalate to a lockout', () => {
    const { engine } = setup(at(0, '10:00'), config({ burst_per_minute: 2 }));
    const agent = seasoned();
    const codes: (string | undefined)[] = [];
    for (let i = 0; i < 9; i++) {
      const a = engine.assess({ agent, credential: cred, scope: 'search_read' });
      codes.push(a.code);
      engine.recordDecision(agent.id, a.action === 'deny');
    }
    assert.deepEqual(codes.slice(0, 7), [
      undefined,
      undefined,
      'rate_limited',
      'rate_limited',
      'rate_limited',
      'rate_limited',
      'rate_limited',
    ]);
    assert.deepEqual(codes.slice(7), ['anomaly_denied', 'anomaly_denied']);
  });

  it('loadHistory replays denials, so a lockout survives a restart', () => {
    const { clock, engine } = setup(at(0, '10:05'));
    const events = [0, 1, 2, 3, 4].map((i) => ({
      agent_id: 'research-agent',
      ts: new Date(at(0, '10:00') + i * MINUTE_MS).toISOString(),
      decision: 'deny',
    }));
    engine.loadHistory(events);
    assert.equal(engine.lockedUntil('research-agent'), at(0, '10:19'));
    assert.equal(engine.assess({ agent: seasoned(), credential: cred, scope: 'search_read' }).action, 'deny');
    clock.set(at(0, '10:19'));
    assert.equal(
      engine.assess({ agent: seasoned(), credential: cred, scope: 'search_read' }).action,
      'allow',
    );
  });
});

describe('AnomalyEngine: first use', () => {
  it('alerts on first use, then not once first_used is set', () => {
    const { engine } = setup();
    const fresh = makeAgent({ first_used: { other_api: '2026-01-01T00:00:00.000Z' } });
    const a = engine.assess({ agent: fresh, credential: cred, scope: 'search_read' });
    assert.equal(a.action, 'alert');
    assert.deepEqual(rules(a), ['first_use']);
    assert.match(a.message ?? '', /First use of 'search_api' by agent 'research-agent'/);
    assert.equal(
      engine.assess({ agent: makeAgent(), credential: cred, scope: 'search_read' }).action,
      'alert',
      'no first_used at all',
    );
    const used = { ...fresh, first_used: { ...fresh.first_used, search_api: '2026-03-02T10:00:00.000Z' } };
    assert.equal(engine.assess({ agent: used, credential: cred, scope: 'search_read' }).action, 'allow');
  });

  it('a credential named like an Object property is still a first use', () => {
    const { engine } = setup();
    const a = engine.assess({
      agent: makeAgent({ first_used: {} }),
      credential: makeCredential({ name: 'constructor' }),
      scope: 'search_read',
    });
    assert.deepEqual(rules(a), ['first_use']);
  });
});

describe('AnomalyEngine: learned usual hours', () => {
  /** Observes the agent every 30 minutes from 09:00 to 17:30 on days [from, to). */
  function workdays(engine: AnomalyEngine, agentId: string, from: number, to: number) {
    for (let d = from; d < to; d++) {
      for (let m = 9 * 60; m < 18 * 60; m += 30) {
        engine.observe(agentId, MONDAY + d * DAY_MS + m * MINUTE_MS);
      }
    }
  }

  it('after 7 days of 09:00–18:00 history, a 03:00 request → alert; before 7 days, nothing', () => {
    const { clock, engine } = setup(at(0, '09:00'));
    const agent = seasoned();
    workdays(engine, agent.id, 0, 7); // day 0 09:00 … day 6 17:30

    clock.set(at(6, '23:59')); // 6 days 15 h of history
    assert.deepEqual(rules(engine.assess({ agent, credential: cred, scope: 'search_read' })), []);
    clock.set(at(7, '03:00')); // 6 days 18 h
    assert.deepEqual(
      rules(engine.assess({ agent, credential: cred, scope: 'search_read' })),
      [],
      'still learning',
    );

    clock.set(at(8, '03:00'));
    const a = engine.assess({ agent, credential: cred, scope: 'search_read' });
    assert.equal(a.action, 'alert');
    assert.deepEqual(rules(a), ['unusual_hours']);
    assert.match(a.message ?? '', /never been active between 03:00 and 04:00 local time/);

    clock.set(at(8, '10:15'));
    assert.deepEqual(
      rules(engine.assess({ agent, credential: cred, scope: 'search_read' })),
      [],
      'a usual hour',
    );
    clock.set(at(8, '18:00'));
    assert.deepEqual(
      rules(engine.assess({ agent, credential: cred, scope: 'search_read' })),
      ['unusual_hours'],
      '18:00 was never seen',
    );
  });

  it('another agent’s history does not count, and an observed hour stops alerting', () => {
    const { clock, engine } = setup(at(0, '09:00'));
    workdays(engine, 'research-agent', 0, 8);
    engine.observe('coder', at(0, '03:00'));
    clock.set(at(9, '03:30'));
    assert.deepEqual(rules(engine.assess({ agent: seasoned(), credential: cred, scope: 'search_read' })), [
      'unusual_hours',
    ]);
    engine.observe('research-agent', clock.now());
    assert.deepEqual(rules(engine.assess({ agent: seasoned(), credential: cred, scope: 'search_read' })), []);
  });

  it('loadHistory rebuilds the histogram from served audit events only', () => {
    const { clock, engine } = setup(at(10, '03:00'));
    const events: { agent_id: string | null; ts: string | number; decision: string }[] = [];
    for (let d = 0; d < 9; d++) {
      events.push({
        agent_id: 'research-agent',
        ts: new Date(at(d, '10:00')).toISOString(),
        decision: 'allow',
      });
      events.push({ agent_id: 'research-agent', ts: at(d, '11:00'), decision: 'approved' });
      // Refusals and user actions at 03:00 are not "activity".
      events.push({
        agent_id: 'research-agent',
        ts: at(d, '03:00') + d * 7 * MINUTE_MS * 3,
        decision: 'deny',
      });
      events.push({ agent_id: 'research-agent', ts: at(d, '03:00'), decision: 'agent_added' });
      events.push({ agent_id: null, ts: at(d, '03:00'), decision: 'allow' });
      events.push({ agent_id: 'research-agent', ts: 'garbage', decision: 'allow' });
    }
    engine.loadHistory(events);
    assert.deepEqual(rules(engine.assess({ agent: seasoned(), credential: cred, scope: 'search_read' })), [
      'unusual_hours',
    ]);
    clock.set(at(10, '11:30'));
    assert.deepEqual(rules(engine.assess({ agent: seasoned(), credential: cred, scope: 'search_read' })), []);
  });
});

describe('AnomalyEngine: a normal day raises nothing', () => {
  it('3 agents, 10 days of history, then 200 requests 09:00–18:00 → no rule fires', () => {
    const rnd = seededRandom(20260302);
    const agents: AgentMeta[] = [
      makeAgent({
        id: 'research-agent',
        active_hours: '08:00-20:00',
        first_used: { search_api: 'x', docs_api: 'x' },
      }),
      makeAgent({ id: 'coder', first_used: { github_token: 'x', search_api: 'x' } }),
      makeAgent({
        id: 'ci-bot',
        active_hours: '07:00-19:00',
        first_used: { github_token: 'x', npm_read: 'x' },
      }),
    ];
    const scopesFor: Record<string, string> = {
      search_api: 'search_read',
      docs_api: 'docs_read',
      github_token: 'repo_read',
      npm_read: 'read',
    };
    const day = 10;
    const { clock, engine } = setup(at(day, '08:00'));

    // History: the previous 10 working days in the same hours, from the audit log.
    const history = [];
    for (let d = 0; d < day; d++) {
      for (const a of agents) {
        for (let i = 0; i < 20; i++) {
          history.push({
            agent_id: a.id,
            ts: new Date(at(d, '09:00') + Math.floor(rnd() * 9 * HOUR_MS)).toISOString(),
            decision: 'allow',
          });
        }
      }
    }
    history.sort((x, y) => x.ts.localeCompare(y.ts));
    engine.loadHistory(history);

    // Today: 200 requests at random times, plus one agent's quick burst of 25, plus a few refusals.
    const times = Array.from({ length: 175 }, () => at(day, '09:00') + Math.floor(rnd() * 9 * HOUR_MS));
    const burstStart = at(day, '14:00');
    for (let i = 0; i < 25; i++) {
      times.push(burstStart + i * 1500);
    }
    times.sort((x, y) => x - y);
    const refusalsAt = new Set([times[20], times[90], times[160]]);

    let raised = 0;
    for (const [i, t] of times.entries()) {
      clock.set(t);
      const agent = t >= burstStart && t < burstStart + 40_000 ? agents[1] : agents[i % 3];
      const creds = Object.keys(agent.first_used ?? {});
      const name = creds[Math.floor(rnd() * creds.length)];
      if (refusalsAt.has(t)) {
        // A scope the credential does not allow: refused by policy, never assessed.
        engine.recordDecision(agent.id, true);
        continue;
      }
      const a = engine.assess({
        agent,
        credential: makeCredential({ name }),
        scope: scopesFor[name],
        claimedAgentId: i % 4 === 0 ? agent.id : undefined,
      });
      if (a.fired.length > 0) {
        raised++;
        assert.fail(
          `request ${i} at ${new Date(t).toISOString()} by ${agent.id} raised ${JSON.stringify(a.fired)}`,
        );
      }
      engine.recordDecision(agent.id, false);
      engine.observe(agent.id, t);
    }
    assert.equal(times.length, 200);
    assert.equal(raised, 0);
  });
});

describe('AnomalyEngine: configurable actions', () => {
  const ALL_RULES = Object.keys(DEFAULT_ANOMALY_CONFIG.actions) as AnomalyRuleId[];

  /** One request that trips all seven rules at once under `cfg`. */
  function everythingWrong(cfg: AnomalyConfig): Assessment {
    const { clock, engine } = setup(at(0, '09:00'), { ...cfg, burst_per_minute: 1 });
    for (let d = 0; d < 8; d++) {
      engine.observe('research-agent', at(d, '10:00'));
    }
    clock.set(at(8, '03:00'));
    for (let i = 0; i < 5; i++) {
      engine.recordDecision('research-agent', true);
    }
    const agent = makeAgent({ active_hours: '08:00-20:00' });
    engine.assess({ agent, credential: cred, scope: 'search_read' }); // uses up the burst allowance
    return engine.assess({ agent, credential: cred, scope: 'publish', claimedAgentId: 'someone-else' });
  }

  it('with every rule on alert, all seven fire and the request is allowed with an alert', () => {
    const cfg = config({}, Object.fromEntries(ALL_RULES.map((r) => [r, 'alert'])));
    const a = everythingWrong(cfg);
    assert.deepEqual(rules(a), ALL_RULES);
    assert.equal(a.action, 'alert');
    assert.equal(a.code, undefined);
  });

  it('with every rule off, nothing fires', () => {
    const a = everythingWrong(config({}, Object.fromEntries(ALL_RULES.map((r) => [r, 'off']))));
    assert.deepEqual(a, { action: 'allow', fired: [] });
  });

  for (const rule of ALL_RULES) {
    for (const action of ['off', 'alert', 'approve', 'deny'] as RuleAction[]) {
      it(`${rule} → ${action}: the combined action follows`, () => {
        const actions = Object.fromEntries(ALL_RULES.map((r) => [r, r === rule ? action : 'off']));
        const a = everythingWrong(config({}, actions));
        if (action === 'off') {
          assert.deepEqual(a.fired, []);
          assert.equal(a.action, 'allow');
          return;
        }
        assert.deepEqual(
          a.fired.map((f) => [f.rule, f.action]),
          [[rule, action]],
        );
        assert.equal(a.action, action);
        assert.equal(
          a.code,
          action === 'deny' ? (rule === 'burst' ? 'rate_limited' : 'anomaly_denied') : undefined,
        );
        assert.equal(a.message, a.fired[0].message);
      });
    }
  }

  it('the strongest action wins: alert < approve < deny', () => {
    const a1 = everythingWrong(
      config(
        {},
        {
          ...Object.fromEntries(ALL_RULES.map((r) => [r, 'off'])),
          first_use: 'alert',
          sensitive_scope: 'approve',
        },
      ),
    );
    assert.equal(a1.action, 'approve');
    assert.equal(
      a1.message,
      a1.fired.find((f) => f.rule === 'sensitive_scope')?.message,
      'message comes from the deciding rules',
    );
    const a2 = everythingWrong(
      config(
        {},
        {
          ...Object.fromEntries(ALL_RULES.map((r) => [r, 'off'])),
          first_use: 'deny',
          sensitive_scope: 'approve',
          unusual_hours: 'alert',
        },
      ),
    );
    assert.equal(a2.action, 'deny');
    assert.deepEqual(rules(a2), ['sensitive_scope', 'first_use', 'unusual_hours']);
  });

  it('burst plus another denying rule is anomaly_denied, not merely rate_limited', () => {
    const a = everythingWrong(
      config(
        {},
        { ...Object.fromEntries(ALL_RULES.map((r) => [r, 'off'])), burst: 'deny', agent_id_mismatch: 'deny' },
      ),
    );
    assert.equal(a.code, 'anomaly_denied');
    assert.equal(a.retry_after_seconds, undefined, 'a mismatch is not cured by waiting');
    assert.match(a.message ?? '', /agent_id.*more than 1 requests/s);
  });

  it('default actions: everything wrong at once is a deny', () => {
    const a = everythingWrong(DEFAULT_ANOMALY_CONFIG);
    assert.equal(a.action, 'deny');
    assert.equal(a.code, 'anomaly_denied');
    assert.deepEqual(
      a.fired.map((f) => [f.rule, f.action]),
      ALL_RULES.map((r) => [r, DEFAULT_ANOMALY_CONFIG.actions[r]]),
    );
  });

  it('setConfig takes effect on the next request', () => {
    const { engine } = setup();
    const agent = seasoned();
    assert.equal(engine.assess({ agent, credential: cred, scope: 'publish' }).action, 'approve');
    engine.setConfig(config({}, { sensitive_scope: 'deny' }));
    assert.equal(engine.assess({ agent, credential: cred, scope: 'publish' }).action, 'deny');
    engine.setConfig(config({}, { sensitive_scope: 'off' }));
    assert.equal(engine.assess({ agent, credential: cred, scope: 'publish' }).action, 'allow');
  });
});
