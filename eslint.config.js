// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const subgraphs = ['users', 'inventory', 'orders', 'payments'];

export default tseslint.config(
  { ignores: ['**/node_modules/**', 'web/dist/**', '.tools/**', '.data/**', '**/__generated__/**', '**/migrations/Migration*.ts'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-confusing-void-expression': 'off',
      '@typescript-eslint/no-unnecessary-type-parameters': 'off',
      // Methods that implement async interfaces (repositories, adapters) may not need to await.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unsafe-class-instance-assignment': 'off',
      'no-console': 'error',
    },
  },
  // A subgraph never imports another subgraph's code.
  ...subgraphs.map((name) => ({
    files: [`subgraphs/${name}/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: subgraphs.filter((other) => other !== name).map((other) => `**/subgraphs/${other}/**`),
              // A caller may import another service's internal tRPC router *type* (docs/adr/0009-internal-api.md).
              allowTypeImports: true,
              message: 'Subgraphs do not share code; use packages/ or an event schema (type imports of an internal router are allowed).',
            },
          ],
        },
      ],
    },
  })),
  // Entry points and scripts talk to the terminal.
  { files: ['scripts/**', '**/scripts/**', 'packages/cli/src/**', 'packages/launcher/src/main.ts', 'packages/service/src/cli.ts', 'keycloak/src/main.ts'], rules: { 'no-console': 'off' } },
  { files: ['**/*.js', '**/*.mjs'], ...tseslint.configs.disableTypeChecked },
  { files: ['scripts/bootstrap.mjs', 'web/scripts/*.mjs'], languageOptions: { globals: { process: 'readonly', console: 'readonly' } } },
  // Tests guard against set-up that failed half-way (a `let` assigned in beforeAll may be unset).
  { files: ['**/test/**'], rules: { '@typescript-eslint/no-non-null-assertion': 'off', '@typescript-eslint/no-unnecessary-condition': 'off' } },
);
