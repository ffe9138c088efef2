import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { InvalidInputError } from '../../../src/core/errors';
import {
  AgentInputSchema,
  CredentialInputSchema,
  CredentialPatchSchema,
  formatZodError,
  parseInput,
} from '../../../src/core/store/schemas';

const GOOD = { name: 'scavio_api_key', allowed_scopes: ['search_read'] };

function errorOf(schema: z.ZodType, data: unknown): string {
  const r = schema.safeParse(data);
  assert.equal(r.success, false, `expected ${JSON.stringify(data)?.slice(0, 80)} to be rejected`);
  return formatZodError(r.error);
}

test('a minimal credential gets the documented defaults', () => {
  const c = CredentialInputSchema.parse(GOOD);
  assert.deepEqual(c, {
    name: 'scavio_api_key',
    allowed_scopes: ['search_read'],
    description: '',
    allowed_agents: [],
    ttl_seconds: 3600,
  });
});

test('a full credential round-trips', () => {
  const full = {
    name: 'npm.token-1',
    description: 'npm publish\ntoken',
    allowed_scopes: ['publish', 'repo:write'],
    allowed_agents: ['release-agent', 'vscode'],
    ttl_seconds: 86400,
    allowed_hosts: ['registry.npmjs.org', 'localhost:8080', '127.0.0.1:443', '[::1]:3000'],
    rotation_agents: ['release-agent'],
    rotation: { max_age_days: 90, generator: { length: 40, alphabet: 'abcdef0123456789' } },
  };
  assert.deepEqual(CredentialInputSchema.parse(full), full);
});

test('names reject path tricks, NUL, upper case, look-alikes and huge strings with a clear sentence', () => {
  const cases: Array<[unknown, RegExp]> = [
    ['../etc', /^name: must be 1–64 characters from a–z/],
    ['a/b', /name: must be 1–64 characters/],
    ['key\u0000x', /name: must be 1–64 characters/],
    ['GitHub', /lower-case ASCII only/],
    ['\u0430pi_key', /name: must be 1–64 characters/], // Cyrillic 'а'
    ['x'.repeat(1024 * 1024), /name: must be at most 64 characters/],
    ['', /name: must be 1–64 characters/],
    [42, /^name: must be a string\.$/],
    [undefined, /^name: is required\.$/],
  ];
  for (const [name, expected] of cases) {
    const msg = errorOf(CredentialInputSchema, { ...GOOD, name });
    assert.match(msg, expected);
    assert.ok(msg.length < 1000, 'the message stays short, whatever the input size');
  }
});

test('a huge value in any string field never comes back in the message', () => {
  const canary = `canary-${randomUUID()}`;
  const big = canary + 'y'.repeat(1024 * 1024);
  for (const field of ['description', 'name']) {
    const msg = errorOf(CredentialInputSchema, { ...GOOD, [field]: big });
    assert.ok(!msg.includes(canary), `${field}: message must not echo input`);
  }
  const msg = errorOf(CredentialInputSchema, { ...GOOD, allowed_scopes: [canary.toUpperCase()] });
  assert.ok(!msg.toLowerCase().includes(canary));
  assert.match(msg, /^allowed_scopes\[0\]: a scope must be/);
});

test('scopes: 1–32 unique valid strings', () => {
  assert.match(
    errorOf(CredentialInputSchema, { ...GOOD, allowed_scopes: [] }),
    /allowed_scopes: must list at least one entry\./,
  );
  assert.match(
    errorOf(CredentialInputSchema, { ...GOOD, allowed_scopes: ['a', 'a'] }),
    /allowed_scopes: must not list the same entry twice/,
  );
  const many = Array.from({ length: 33 }, (_, i) => `s${i}`);
  assert.match(
    errorOf(CredentialInputSchema, { ...GOOD, allowed_scopes: many }),
    /allowed_scopes: must list at most 32 entries/,
  );
  assert.match(
    errorOf(CredentialInputSchema, { ...GOOD, allowed_scopes: 'read' }),
    /allowed_scopes: must be a list of strings/,
  );
  assert.match(errorOf(CredentialInputSchema, { ...GOOD, allowed_scopes: ['rea d'] }), /allowed_scopes\[0\]/);
});

test('allowed_agents: ids or "*" alone', () => {
  assert.deepEqual(CredentialInputSchema.parse({ ...GOOD, allowed_agents: ['*'] }).allowed_agents, ['*']);
  assert.match(
    errorOf(CredentialInputSchema, { ...GOOD, allowed_agents: ['*', 'a'] }),
    /allowed_agents: must be \["\*"\] alone/,
  );
  assert.match(
    errorOf(CredentialInputSchema, { ...GOOD, allowed_agents: ['Bad Agent'] }),
    /allowed_agents\[0\]: must be "\*" or an agent id/,
  );
});

test('ttl_seconds: whole number 1..86400', () => {
  for (const [ttl, re] of [
    [0, /ttl_seconds: must be at least 1\./],
    [86401, /ttl_seconds: must be at most 86400/],
    [1.5, /ttl_seconds: must be a whole number/],
    ['60', /ttl_seconds: must be a number/],
  ] as const) {
    assert.match(errorOf(CredentialInputSchema, { ...GOOD, ttl_seconds: ttl }), re);
  }
});

test('allowed_hosts: host or host:port only, lower case, optional http(s):// scheme, no path or wildcard', () => {
  assert.deepEqual(
    CredentialInputSchema.parse({
      ...GOOD,
      allowed_hosts: ['http://intranet.example', 'https://api.example.com:8443'],
    }).allowed_hosts,
    ['http://intranet.example', 'https://api.example.com:8443'],
  );
  for (const bad of [
    'ftp://api.example.com',
    'http://api.example.com/v1',
    'api.example.com/v1',
    '*.example.com',
    'API.example.com',
    'host:0',
    'host:70000',
    'a b',
    '-bad.com',
    'ex\u0430mple.com',
    '',
  ]) {
    assert.match(
      errorOf(CredentialInputSchema, { ...GOOD, allowed_hosts: [bad] }),
      /allowed_hosts\[0\]: a host must be a lower-case hostname/,
      bad,
    );
  }
});

test('rotation: bounds on max_age_days and the generator', () => {
  assert.match(
    errorOf(CredentialInputSchema, { ...GOOD, rotation: { max_age_days: 0 } }),
    /rotation\.max_age_days: must be at least 1/,
  );
  assert.match(
    errorOf(CredentialInputSchema, { ...GOOD, rotation: { max_age_days: 3651 } }),
    /rotation\.max_age_days: must be at most 3650/,
  );
  assert.match(
    errorOf(CredentialInputSchema, { ...GOOD, rotation: { generator: { length: 15 } } }),
    /rotation\.generator\.length: must be at least 16/,
  );
  assert.match(
    errorOf(CredentialInputSchema, { ...GOOD, rotation: { generator: { length: 257 } } }),
    /must be at most 256/,
  );
  assert.match(
    errorOf(CredentialInputSchema, { ...GOOD, rotation: { generator: { length: 20, alphabet: 'a' } } }),
    /alphabet: must have 2–256 characters/,
  );
  assert.match(
    errorOf(CredentialInputSchema, { ...GOOD, rotation: { generator: { length: 20, alphabet: 'abca' } } }),
    /must not repeat a character/,
  );
  assert.match(
    errorOf(CredentialInputSchema, {
      ...GOOD,
      rotation: { generator: { length: 20, alphabet: 'ab\u0000' } },
    }),
    /control characters/,
  );
  assert.match(
    errorOf(CredentialInputSchema, { ...GOOD, rotation: { every: 3 } }),
    /rotation: unknown field "every" \(remove it\)\./,
  );
});

test('description: at most 500 characters, no control characters except tab/newline', () => {
  assert.match(
    errorOf(CredentialInputSchema, { ...GOOD, description: 'x'.repeat(501) }),
    /description: must be at most 500 characters/,
  );
  assert.match(
    errorOf(CredentialInputSchema, { ...GOOD, description: 'a\u0000b' }),
    /description: must not contain control characters/,
  );
  assert.equal(CredentialInputSchema.parse({ ...GOOD, description: 'a\tb\nc' }).description, 'a\tb\nc');
});

test('unknown fields and non-objects are refused with one sentence per problem', () => {
  assert.match(
    errorOf(CredentialInputSchema, { ...GOOD, value: 'oops' }),
    /^Unknown field "value" \(remove it\)\.$/,
  );
  assert.equal(
    errorOf(CredentialInputSchema, null),
    'The input must be an object with the credential fields.',
  );
  const msg = errorOf(CredentialInputSchema, { name: 'Bad', allowed_scopes: [], ttl_seconds: 0 });
  assert.equal(msg.split('. ').length, 3, msg);
});

test('the patch schema applies no defaults and allows null to clear', () => {
  assert.deepEqual(CredentialPatchSchema.parse({}), {});
  assert.deepEqual(CredentialPatchSchema.parse({ allowed_hosts: null }), { allowed_hosts: null });
  assert.match(errorOf(CredentialPatchSchema, { ttl_seconds: -1 }), /ttl_seconds: must be at least 1/);
});

test('agent input: id pattern, label, active_hours', () => {
  assert.deepEqual(
    AgentInputSchema.parse({ id: 'research-agent', label: '  Research  ', active_hours: '22:00-06:00' }),
    {
      id: 'research-agent',
      label: 'Research',
      active_hours: '22:00-06:00',
    },
  );
  assert.match(errorOf(AgentInputSchema, { id: 'Research' }), /^id: must be 1–64 characters/);
  assert.match(
    errorOf(AgentInputSchema, { id: 'a', active_hours: '8:00-20:00' }),
    /active_hours: must look like "08:00-20:00"/,
  );
  assert.match(
    errorOf(AgentInputSchema, { id: 'a', active_hours: '24:00-01:00' }),
    /active_hours: must look like/,
  );
  assert.match(
    errorOf(AgentInputSchema, { id: 'a', active_hours: '08:00-08:00' }),
    /must not start and end at the same time/,
  );
  assert.match(errorOf(AgentInputSchema, { id: 'a', label: '' }), /label: must not be empty/);
  assert.match(
    errorOf(AgentInputSchema, { id: 'a', label: 'x\u0007' }),
    /label: must not contain control characters/,
  );
});

test('formatZodError caps the number of sentences and handles non-zod errors', () => {
  const many = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`extra${i}`, 1]));
  const r = z
    .strictObject({
      a: z.string(),
      b: z.string(),
      c: z.string(),
      d: z.string(),
      e: z.string(),
      f: z.string(),
      g: z.string(),
      h: z.string(),
      i: z.string(),
      j: z.string(),
      k: z.string(),
      l: z.string(),
    })
    .safeParse(many);
  assert.ok(!r.success);
  const msg = formatZodError(r.error);
  assert.match(msg, /And \d+ more problems\.$/);
  assert.equal(formatZodError(new Error('secret stuff')), 'The input is not valid.');
});

test('parseInput throws InvalidInputError with the formatted sentences', () => {
  assert.throws(
    () => parseInput(CredentialInputSchema, { ...GOOD, ttl_seconds: 0 }, 'credential'),
    (e: unknown) =>
      e instanceof InvalidInputError &&
      e.code === 'invalid_input' &&
      e.message === 'Invalid credential: ttl_seconds: must be at least 1.',
  );
});
