import { defineConfig } from 'vitest/config';

// One server for the integration files (globalSetup); files run one at a time, so timing-sensitive
// integration cases never compete with each other for the machine.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/integration/global-setup.ts'],
    fileParallelism: false,
    testTimeout: 30000,
    hookTimeout: 30000,
    retry: 0,
  },
});
