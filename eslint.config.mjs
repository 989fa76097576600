// ESLint flat config for the TypeScript of the JupyterLab extension (labextension/src)
// and its unit tests, after jupyterlab/extension-template's rules; formatting is prettier's.
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: ['lib/', 'node_modules/', 'jupyter_stratum/', '.venv/', 'coverage/', '**/*.d.ts']
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  // formatting is prettier's; the rules below (curly among them) come after it on purpose
  prettier,
  {
    files: ['labextension/**/*.{ts,tsx}'],
    languageOptions: {
      globals: { ...globals.browser }
    },
    rules: {
      '@typescript-eslint/naming-convention': [
        'error',
        {
          selector: 'interface',
          format: ['PascalCase'],
          custom: { regex: '^I[A-Z]', match: true },
          // JSONSchema is the standard's name
          filter: { regex: '^JSONSchema$', match: false }
        }
      ],
      '@typescript-eslint/no-unused-vars': ['warn', { args: 'none', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-namespace': 'off',
      '@typescript-eslint/no-use-before-define': 'off',
      curly: ['error', 'all'],
      eqeqeq: 'error',
      'prefer-arrow-callback': 'error'
    }
  },
  {
    files: ['labextension/test/**/*.ts', 'jest.config.js'],
    languageOptions: {
      globals: { ...globals.node, ...globals.jest }
    },
    rules: {
      '@typescript-eslint/no-require-imports': 'off'
    }
  }
);
