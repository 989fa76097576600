// Unit tests of the pure TypeScript modules (labextension/test/*.spec.ts), compiled by ts-jest.
// They run in Node: no JupyterLab, no browser (those are tests_browser/'s).
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/labextension/test'],
  testMatch: ['**/*.spec.ts', '**/*.spec.tsx'],
  transform: {
    '^.+\\.tsx?$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }]
  }
};
