// ESLint flat config (ESLint 10 + typescript-eslint, type-aware).
// Formatting is Prettier's job; nothing here is about layout.
import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import n from 'eslint-plugin-n';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const CORE_MESSAGE =
  "core/ runs in plain Node: add a port in core/ports.ts and implement it in src/vscode/ instead of importing 'vscode' here.";

export default defineConfig(
  globalIgnores([
    'out/',
    'dist/',
    'node_modules/',
    'media/**/*.js',
    '.vscode-test/',
    '.test-artifacts/',
    '.demo-store/',
    'bench/.runs/',
    'coverage/',
  ]),

  // Every file: JS recommended, plus the Node rules we want.
  js.configs.recommended,
  {
    plugins: { n },
    rules: {
      'n/prefer-node-protocol': 'error',
      curly: ['error', 'all'],
      eqeqeq: ['error', 'always'],
    },
  },

  // TypeScript: recommended + type-aware rules, using the nearest tsconfig.json.
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          // node:test's test()/describe() return promises that the runner itself awaits.
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite'] },
          ],
        },
      ],
      // Port implementations and fakes are often `async` only to satisfy a Promise-returning
      // interface (`ask: async () => 'deny'`); that is not a bug, so don't flag it.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' },
      ],
    },
  },

  // Plain JS build/config scripts run in Node and have no type information.
  {
    files: ['**/*.{js,mjs,cjs}'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: { ...globals.node } },
  },

  // Product code logs through the Logger port (or writes to process.stdout/stderr in the CLI).
  {
    files: ['src/**'],
    rules: { 'no-console': 'error' },
  },

  // core/ must stay free of VS Code so it runs and is tested in plain Node.
  {
    files: ['src/core/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [{ name: 'vscode', message: CORE_MESSAGE }],
          patterns: [{ group: ['*/**/vscode', '**/vscode/**', '../vscode/*'], message: CORE_MESSAGE }],
        },
      ],
    },
  },
);
