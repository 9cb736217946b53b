// One server is shared by every file, and the restart test stops it: run files one at a time, in name order.
import { configDefaults, defineConfig } from 'vitest/config';
import { BaseSequencer } from 'vitest/node';

class ByName extends BaseSequencer {
  async sort(files) {
    return [...files].sort((a, b) => (a.moduleId ?? a[1] ?? '').localeCompare(b.moduleId ?? b[1] ?? ''));
  }
}

export default defineConfig({
  test: {
    include: ['test/**/*.test.mjs'],
    // test/pg/ needs the PostgreSQL source: scripts/compat-pg.sh runs it with vitest.pg.config.mjs; test/cluster/
    // needs two cluster nodes: scripts/compat-cluster.sh runs it with vitest.cluster.config.mjs.
    exclude: [...configDefaults.exclude, 'test/pg/**', 'test/cluster/**'],
    fileParallelism: false,
    sequence: { sequencer: ByName },
    testTimeout: 30000,
    hookTimeout: 10000,
    retry: 0,
  },
});
