/**
 * Per-key defaults for Import from .env, from the key's NAME only (never its value): the
 * credential name (DESIGN's style: `OPENAI_API_KEY` → `openai_api_key`, `NPM_TOKEN` → `npm_token`),
 * the scopes agents will ask for, and whether the key looks like a secret (pre-selected) or a
 * plain setting such as `NODE_ENV` or `PORT` (offered, not selected).
 *
 * Scopes are least privilege: read-type scopes, except where the key exists to do something
 * sensitive (a registry token publishes, so `npm_token` gets `read, publish` and an agent asking
 * for `publish` is held for approval by the default rules). Anything unknown gets `read`.
 */
import { defaultCredentialName } from './envFile';

export interface ScopeSuggestion {
  scopes: string[];
  /** Why, for the picker's tooltip-free description ("package registry"). */
  why: string;
}

/** `OPENAI_API_KEY` → `['OPENAI', 'API', 'KEY']`. */
function tokens(key: string): string[] {
  return key
    .toUpperCase()
    .split(/[^A-Z0-9]+/)
    .filter((t) => t.length > 0);
}

const has = (t: readonly string[], ...words: string[]): boolean => words.some((w) => t.includes(w));

const REGISTRIES = [
  'NPM',
  'PYPI',
  'TWINE',
  'CARGO',
  'CRATES',
  'RUBYGEMS',
  'GEM',
  'NUGET',
  'VSCE',
  'OVSX',
  'DOCKERHUB',
];
const CODE_HOSTS = ['GITHUB', 'GH', 'GITLAB', 'BITBUCKET', 'GITEA'];
const SEARCH = ['SEARCH', 'SERP', 'SERPAPI', 'SERPER', 'TAVILY', 'BRAVE', 'EXA', 'SCAVIO', 'BING', 'KAGI'];
const MODELS = [
  'OPENAI',
  'ANTHROPIC',
  'CLAUDE',
  'GEMINI',
  'MISTRAL',
  'GROQ',
  'COHERE',
  'OPENROUTER',
  'DEEPSEEK',
  'XAI',
  'TOGETHER',
  'PERPLEXITY',
  'FIREWORKS',
  'HUGGINGFACE',
  'HF',
  'REPLICATE',
  'VOYAGE',
];

/**
 * Scopes for a key, first rule that matches: `…ADMIN…` → admin; a package registry (`NPM_TOKEN`,
 * `NODE_AUTH_TOKEN`, `PYPI_…`) → read, publish; a code host (`GITHUB_TOKEN`, `GH_…`, `GITLAB_…`) →
 * repo_read; a search API (`SERPAPI_KEY`, `TAVILY_API_KEY`) → search_read; a model provider
 * (`OPENAI_API_KEY`, `ANTHROPIC_API_KEY`) → inference; `…WRITE…` → read, write; else read.
 * Every scope returned matches the scope pattern.
 */
export function suggestScopes(key: string): ScopeSuggestion {
  const t = tokens(key);
  if (has(t, 'ADMIN')) {
    return { scopes: ['admin'], why: 'admin key' };
  }
  if (has(t, ...REGISTRIES) || key.toUpperCase().includes('NODE_AUTH_TOKEN')) {
    return { scopes: ['read', 'publish'], why: 'package registry' };
  }
  if (has(t, ...CODE_HOSTS)) {
    return { scopes: ['repo_read'], why: 'code host' };
  }
  if (has(t, ...SEARCH)) {
    return { scopes: ['search_read'], why: 'search API' };
  }
  if (has(t, ...MODELS) || (has(t, 'GOOGLE') && has(t, 'AI', 'GENERATIVE'))) {
    return { scopes: ['inference'], why: 'model provider' };
  }
  if (has(t, 'WRITE', 'RW')) {
    return { scopes: ['read', 'write'], why: 'write key' };
  }
  return { scopes: ['read'], why: 'default' };
}

const SECRET_WORDS = [
  'KEY',
  'APIKEY',
  'TOKEN',
  'SECRET',
  'PASSWORD',
  'PASSWD',
  'PASS',
  'PWD',
  'AUTH',
  'CREDENTIAL',
  'CREDENTIALS',
  'PRIVATE',
  'PAT',
  'DSN',
  'WEBHOOK',
];
/** Keys that are published on purpose (`STRIPE_PUBLISHABLE_KEY`, `NEXT_PUBLIC_…`). */
const PUBLIC_WORDS = ['PUBLIC', 'PUBLISHABLE'];

/**
 * True when the key's name says it holds a secret (`…_KEY`, `…TOKEN`, `…SECRET`, `…PASSWORD`,
 * `DATABASE_URL`, `…_DSN`) and not a public one (`…PUBLISHABLE_KEY`, `NEXT_PUBLIC_…`).
 */
export function looksSecret(key: string): boolean {
  const t = tokens(key);
  if (has(t, ...PUBLIC_WORDS)) {
    return false;
  }
  if (has(t, ...SECRET_WORDS)) {
    return true;
  }
  // Connection strings carry a password: DATABASE_URL, REDIS_URL, MONGODB_URI.
  return (
    has(t, 'URL', 'URI') && has(t, 'DATABASE', 'DB', 'POSTGRES', 'PG', 'MYSQL', 'MONGO', 'MONGODB', 'REDIS')
  );
}

/** The credential name for a key (DESIGN's style: lower case, `_` kept): `NPM_TOKEN` → `npm_token`. */
export function suggestName(key: string): string {
  return defaultCredentialName(key);
}

/**
 * `base` if `taken(base)` is false, else `base_2`, `base_3`, … (cut so the result stays ≤ 64
 * characters and a valid name).
 */
export function freeName(base: string, taken: (name: string) => boolean): string {
  if (!taken(base)) {
    return base;
  }
  for (let i = 2; ; i++) {
    const suffix = `_${i}`;
    const name = `${base.slice(0, 64 - suffix.length)}${suffix}`;
    if (!taken(name)) {
      return name;
    }
  }
}
