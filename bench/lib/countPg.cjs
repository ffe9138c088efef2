// Preloaded into a team-store server under test (`node --require bench/lib/countPg.cjs cli.js serve
// --store postgres://…`) to count database round trips: every `query()` on a `pg` Client (pool
// queries, transaction statements, LISTEN) and every new connection. The server bundle must take
// `pg` from node_modules (bench/team.mjs builds it with `pg` external), or this patches a copy the
// server never uses. On SIGUSR2 it appends a JSON snapshot of the counters to the file named by
// AKR_PG_COUNT_FILE, so the bench can diff two snapshots around a measured run.
'use strict';
const fs = require('node:fs');
const pg = require('pg');

const counts = { queries: 0, connects: 0, bySql: {} };
const query = pg.Client.prototype.query;
pg.Client.prototype.query = function (...args) {
  counts.queries++;
  // The statement's first words (no parameters, so never a value): which statements a call costs.
  const text = typeof args[0] === 'string' ? args[0] : (args[0]?.text ?? '?');
  const key = String(text).replace(/\s+/g, ' ').trim().slice(0, 60);
  counts.bySql[key] = (counts.bySql[key] ?? 0) + 1;
  return query.apply(this, args);
};
const connect = pg.Client.prototype.connect;
pg.Client.prototype.connect = function (...args) {
  counts.connects++;
  return connect.apply(this, args);
};

process.on('SIGUSR2', () => {
  const file = process.env.AKR_PG_COUNT_FILE;
  if (file) {
    fs.appendFileSync(file, JSON.stringify({ ...counts, bySql: { ...counts.bySql } }) + '\n');
  }
});
