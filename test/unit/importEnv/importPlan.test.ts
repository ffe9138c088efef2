/**
 * Import from .env: the per-key suggestions (name, scopes, "looks like a secret"), reading the
 * file (binary, huge, invalid lines, keys defined twice), the whole-plan check, and the all-or-
 * nothing import with skip / rotate for existing credentials — against a real keyring over
 * in-memory stores. Values are canaries and never appear in a message, a log line or the audit.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { KeyringAdmin } from '../../../src/core/admin';
import { InvalidInputError, KeyringError } from '../../../src/core/errors';
import { decodeEnvFile, MAX_ENV_BYTES, parseEnv, readEnvFile } from '../../../src/core/importEnv/envFile';
import {
  checkImport,
  choiceOf,
  runImport,
  suggestImport,
  summarizeImport,
  type ImportChoice,
} from '../../../src/core/importEnv/importPlan';
import { freeName, looksSecret, suggestName, suggestScopes } from '../../../src/core/importEnv/suggest';
import { SCOPE_PATTERN, SecretValue } from '../../../src/core/model';
import { canary, createTestKeyring, type TestKeyring } from '../../helpers/testKeyring';

const OPENAI = canary('openai');
const NPM = canary('npm');
const GH = canary('gh');
const SERP = canary('serp');
const DB = canary('db');
const CANARIES = [OPENAI, NPM, GH, SERP, DB];

const FIVE = [
  '# app',
  'NODE_ENV=development',
  'PORT=3000',
  `OPENAI_API_KEY=${OPENAI}`,
  `NPM_TOKEN=${NPM}`,
  `GITHUB_TOKEN="${GH}"`,
  `SERPAPI_KEY=${SERP}`,
  `DATABASE_URL=${DB}`,
  '',
].join('\n');

const noCanary = (text: string, where: string): void => {
  for (const c of CANARIES) {
    assert.ok(!text.includes(c), `a value appears in ${where}`);
  }
};

test('suggestName: the key in lower case, as DESIGN names credentials', () => {
  assert.equal(suggestName('OPENAI_API_KEY'), 'openai_api_key');
  assert.equal(suggestName('NPM_TOKEN'), 'npm_token');
  assert.equal(suggestName('Sentry.DSN'), 'sentry.dsn');
});

test('suggestScopes: least privilege from the key name; registries publish; unknown keys read', () => {
  const cases: [string, string[]][] = [
    ['OPENAI_API_KEY', ['inference']],
    ['ANTHROPIC_API_KEY', ['inference']],
    ['GOOGLE_GENERATIVE_AI_API_KEY', ['inference']],
    ['NPM_TOKEN', ['read', 'publish']],
    ['NODE_AUTH_TOKEN', ['read', 'publish']],
    ['PYPI_API_TOKEN', ['read', 'publish']],
    ['GITHUB_TOKEN', ['repo_read']],
    ['GH_TOKEN', ['repo_read']],
    ['GITLAB_PAT', ['repo_read']],
    ['SERPAPI_KEY', ['search_read']],
    ['TAVILY_API_KEY', ['search_read']],
    ['SCAVIO_API_KEY', ['search_read']],
    ['GITHUB_ADMIN_TOKEN', ['admin']],
    ['S3_WRITE_KEY', ['read', 'write']],
    ['STRIPE_SECRET_KEY', ['read']],
    ['DATABASE_URL', ['read']],
    ['MONKEY', ['read']],
  ];
  for (const [key, scopes] of cases) {
    assert.deepEqual(suggestScopes(key).scopes, scopes, key);
    for (const s of scopes) {
      assert.match(s, SCOPE_PATTERN);
    }
  }
  assert.equal(suggestScopes('NPM_TOKEN').why, 'package registry');
  assert.equal(suggestScopes('MONKEY').why, 'default');
});

test('looksSecret: keys, tokens, passwords and connection strings yes; settings and public keys no', () => {
  for (const k of [
    'OPENAI_API_KEY',
    'NPM_TOKEN',
    'GITHUB_TOKEN',
    'DB_PASSWORD',
    'JWT_SECRET',
    'DATABASE_URL',
    'REDIS_URL',
    'SENTRY_DSN',
    'AWS_SECRET_ACCESS_KEY',
    'apikey',
  ]) {
    assert.equal(looksSecret(k), true, k);
  }
  for (const k of [
    'NODE_ENV',
    'PORT',
    'DEBUG',
    'API_URL',
    'STRIPE_PUBLISHABLE_KEY',
    'NEXT_PUBLIC_SUPABASE_ANON_KEY',
    'MONKEY',
  ]) {
    assert.equal(looksSecret(k), false, k);
  }
});

test('freeName: the base, else _2, _3 …, always ≤ 64 characters', () => {
  assert.equal(
    freeName('a', () => false),
    'a',
  );
  const taken = new Set(['npm_token', 'npm_token_2']);
  assert.equal(
    freeName('npm_token', (n) => taken.has(n)),
    'npm_token_3',
  );
  const long = 'x'.repeat(64);
  const got = freeName(long, (n) => n === long);
  assert.equal(got.length, 64);
  assert.ok(got.endsWith('_2'));
});

test('suggestImport: one row per key with a value, in file order, with exists and duplicates', () => {
  const text = `${FIVE}EMPTY=\nnpm_token=${canary('x')}\nNPM_TOKEN=${NPM}\n`;
  const s = suggestImport(parseEnv(text), new Set(['github_token']));
  assert.deepEqual(
    s.map((r) => [r.key, r.name, r.secretLike, r.exists]),
    [
      ['NODE_ENV', 'node_env', false, false],
      ['PORT', 'port', false, false],
      ['OPENAI_API_KEY', 'openai_api_key', true, false],
      ['NPM_TOKEN', 'npm_token', true, false],
      ['GITHUB_TOKEN', 'github_token', true, true],
      ['SERPAPI_KEY', 'serpapi_key', true, false],
      ['DATABASE_URL', 'database_url', true, false],
      // Differs from NPM_TOKEN only in case: its own name.
      ['npm_token', 'npm_token_2', true, false],
    ],
  );
  assert.deepEqual(s.find((r) => r.key === 'NPM_TOKEN')?.lines, [5, 11]);
  noCanary(JSON.stringify(s), 'the suggestions');
});

test('decodeEnvFile / readEnvFile: binary and oversized files are refused by name, never by content', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'akr-env-'));
  try {
    const bin = path.join(dir, 'image.env');
    fs.writeFileSync(bin, Buffer.concat([Buffer.from(`KEY=${OPENAI}\n`), Buffer.from([0, 1, 2, 0xff])]));
    await assert.rejects(readEnvFile(bin, 'image.env'), (e: unknown) => {
      assert.ok(e instanceof InvalidInputError);
      assert.match(e.message, /^image\.env is not a text file/);
      noCanary(e.message, 'the error');
      return true;
    });
    assert.throws(() => decodeEnvFile(Buffer.from([0x4b, 0x3d, 0xc3, 0x28]), '.env'), /not a text file/);
    const huge = path.join(dir, '.env.huge');
    fs.writeFileSync(huge, `KEY=${OPENAI}\n`.padEnd(MAX_ENV_BYTES + 10, '#'));
    await assert.rejects(
      readEnvFile(huge, '.env.huge'),
      /\.env\.huge is 1\.0 MiB; a \.env file for import must be at most 1 MiB/,
    );
    await assert.rejects(readEnvFile(path.join(dir, 'missing'), 'missing'), /missing does not exist/);
    await assert.rejects(readEnvFile(dir, 'dir'), /dir is not a file/);
    const ok = path.join(dir, '.env');
    fs.writeFileSync(ok, FIVE, { mode: 0o600 });
    const read = await readEnvFile(ok, '.env');
    assert.equal(read.text, FIVE);
    assert.equal(read.mode, 0o600);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('parseEnv: lines dotenv cannot read are listed by number (multi-line values are not)', () => {
  const text = ['A=1', 'MY KEY=x', 'B="two', 'lines"', '  # comment', '', 'just words', 'export C=3'].join(
    '\n',
  );
  assert.deepEqual(parseEnv(text).invalidLines, [2, 7]);
  assert.deepEqual(parseEnv(FIVE).invalidLines, []);
});

test('checkImport: every problem at once, nothing imported, no value in the message', () => {
  const text = `${FIVE}EMPTY=\nNPM_TOKEN=${canary('again')}\n`;
  const parsed = parseEnv(text);
  const good: ImportChoice = {
    key: 'OPENAI_API_KEY',
    name: 'openai',
    scopes: ['inference'],
    agents: [],
    ifExists: 'skip',
  };
  assert.doesNotThrow(() => checkImport(parsed, [good], '.env'));
  const bad: ImportChoice[] = [
    good,
    { ...good, key: 'SERPAPI_KEY', name: 'openai' },
    { ...good, key: 'NPM_TOKEN', name: 'npm_token' },
    { ...good, key: 'EMPTY', name: 'empty' },
    { ...good, key: 'MISSING', name: 'missing' },
    { ...good, key: 'GITHUB_TOKEN', name: 'Bad Name!' },
    { ...good, key: 'DATABASE_URL', name: 'db', scopes: ['Not A Scope'] },
  ];
  assert.throws(
    () => checkImport(parsed, bad, '.env'),
    (e: unknown) => {
      assert.ok(e instanceof InvalidInputError);
      const m = e.message;
      assert.match(m, /'SERPAPI_KEY' and 'OPENAI_API_KEY' would both become 'openai'/);
      assert.match(m, /'NPM_TOKEN' is defined 2 times in \.env \(lines 5 and 10\)/);
      assert.match(m, /'EMPTY' has no value in \.env/);
      assert.match(m, /\.env defines no key 'MISSING'/);
      assert.match(m, /'GITHUB_TOKEN': name: /);
      assert.match(m, /'DATABASE_URL': allowed_scopes\[0\]: a scope must be/);
      assert.match(m, /Nothing was imported from \.env\.$/);
      noCanary(m, 'the error');
      return true;
    },
  );
  assert.throws(() => checkImport(parsed, [], '.env'), /No key was chosen/);
});

let k: TestKeyring;
before(async () => {
  k = await createTestKeyring();
});
after(async () => {
  await k.dispose();
});

const deps = () => ({ admin: k.keyring.admin, logger: k.logger });
const opts = { label: '.env', actor: 'vscode-user', ttlSeconds: 3600 };

test('runImport: imports all new keys, skips an existing one (value untouched), audits, summary', async () => {
  const id = Math.random().toString(36).slice(2, 7);
  const existing = `github_token_${id}`;
  const oldValue = canary('old');
  await k.keyring.store.addCredential(
    { name: existing, allowed_scopes: ['read'] },
    new SecretValue(oldValue),
    'test',
  );
  const parsed = parseEnv(FIVE);
  const rows = suggestImport(parsed, new Set([existing])).filter((r) => r.secretLike);
  const choices = rows.map((r) => ({
    ...choiceOf(r, ['research-agent']),
    name: r.key === 'GITHUB_TOKEN' ? existing : `${r.name}_${id}`,
  }));
  checkImport(parsed, choices, '.env');
  const out = await runImport(deps(), parsed, choices, opts);
  assert.deepEqual(
    out.imported.map((i) => i.key),
    ['OPENAI_API_KEY', 'NPM_TOKEN', 'SERPAPI_KEY', 'DATABASE_URL'],
  );
  assert.deepEqual(out.skipped, [{ key: 'GITHUB_TOKEN', name: existing }]);
  assert.equal(
    (await k.keyring.store.readCurrentValue(existing)).value.reveal(),
    oldValue,
    'never overwritten',
  );
  assert.equal((await k.keyring.store.readCurrentValue(`npm_token_${id}`)).value.reveal(), NPM);
  const meta = await k.keyring.store.getCredential(`npm_token_${id}`);
  assert.deepEqual(meta?.allowed_scopes, ['read', 'publish']);
  assert.deepEqual(meta?.allowed_agents, ['research-agent']);
  assert.equal(meta?.description, 'Imported from .env (NPM_TOKEN)');
  const summary = summarizeImport(out, '.env');
  assert.equal(
    summary,
    `Imported 4 keys from .env (openai_api_key_${id}, npm_token_${id}, serpapi_key_${id}, database_url_${id}), skipped 1 (already exists: ${existing}).`,
  );
  const audit = fs.readFileSync(k.auditPath, 'utf8');
  const created = audit
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { tool: string; decision: string; credential: string })
    .filter((e) => e.tool === 'import_env' && e.decision === 'created')
    .map((e) => e.credential);
  assert.deepEqual(
    created,
    out.imported.map((i) => i.name),
  );
  noCanary(audit + k.logger.lines.join('\n') + summary, 'the audit, log or summary');
});

test('runImport: rotate to the .env value when asked; the same value is reported up to date, not rotated', async () => {
  const id = Math.random().toString(36).slice(2, 7);
  await k.keyring.store.addCredential(
    { name: `npm_${id}`, allowed_scopes: ['publish'] },
    new SecretValue(canary('v1')),
    'test',
  );
  await k.keyring.store.addCredential(
    { name: `openai_${id}`, allowed_scopes: ['inference'] },
    new SecretValue(OPENAI),
    'test',
  );
  const parsed = parseEnv(FIVE);
  const choices: ImportChoice[] = [
    { key: 'NPM_TOKEN', name: `npm_${id}`, scopes: ['read'], agents: [], ifExists: 'rotate' },
    { key: 'OPENAI_API_KEY', name: `openai_${id}`, scopes: ['read'], agents: [], ifExists: 'rotate' },
  ];
  const out = await runImport(deps(), parsed, choices, opts);
  assert.deepEqual(out.rotated, [{ key: 'NPM_TOKEN', name: `npm_${id}`, version: 2 }]);
  assert.deepEqual(out.unchanged, [{ key: 'OPENAI_API_KEY', name: `openai_${id}` }]);
  const cur = await k.keyring.store.readCurrentValue(`npm_${id}`);
  assert.equal(cur.value.reveal(), NPM);
  assert.deepEqual(
    (await k.keyring.store.getCredential(`npm_${id}`))?.allowed_scopes,
    ['publish'],
    'policy kept',
  );
  assert.equal(
    summarizeImport(out, '.env'),
    `Imported 0 keys from .env, rotated 1 (npm_${id} → v2), 1 already up to date (openai_${id}).`,
  );
});

test('runImport: a failure part-way removes what this import created; nothing is half-imported', async () => {
  const id = Math.random().toString(36).slice(2, 7);
  const parsed = parseEnv(FIVE);
  const choices: ImportChoice[] = ['OPENAI_API_KEY', 'NPM_TOKEN', 'SERPAPI_KEY'].map((key) => ({
    key,
    name: `${key.toLowerCase()}_${id}`,
    scopes: ['read'],
    agents: [],
    ifExists: 'skip',
  }));
  // The third credential appears between the check and the write (another window): the store refuses it.
  const store = k.keyring.store;
  const racing = {
    ...deps(),
    admin: new KeyringAdmin({
      service: k.service,
      logger: k.logger,
      store: Object.assign(Object.create(store) as typeof store, {
        getCredential: (n: string) => store.getCredential(n),
        addCredential: async (...a: Parameters<typeof store.addCredential>) => {
          if (a[0].name === `serpapi_key_${id}`) {
            throw new KeyringError('store_error', `The metadata file could not be written. Try again.`);
          }
          return store.addCredential(...a);
        },
      }),
    }),
  };
  await assert.rejects(runImport(racing, parsed, choices, opts), (e: unknown) => {
    assert.ok(e instanceof KeyringError);
    assert.equal(e.code, 'store_error');
    assert.match(
      e.message,
      /could not be written\. Try again\. Importing 'SERPAPI_KEY' failed, so the 2 credential\(s\) created before it were removed again: nothing was imported from \.env\.$/,
    );
    noCanary(e.message, 'the error');
    return true;
  });
  for (const c of choices) {
    assert.equal(await store.getCredential(c.name), undefined, `${c.name} was removed again`);
  }
  assert.equal(await k.secrets.get(`credential/openai_api_key_${id}/v1`), undefined, 'its value too');
});
