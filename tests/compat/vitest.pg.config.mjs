// The PostgreSQL phase (scripts/compat-pg.sh): test/pg/ only, against `rtcache serve -c` with the source.
// One server and one database are shared by every file, and the last one kills -9 and restarts the server:
// files run one at a time, in name order.
import { defineConfig } from 'vitest/config';
import { BaseSequencer } from 'vitest/node';

class ByName extends BaseSequencer {
  async sort(files) {
    return [...files].sort((a, b) => (a.moduleId ?? a[1] ?? '').localeCompare(b.moduleId ?? b[1] ?? ''));
  }
}

export default defineConfig({
  test: {
    include: ['test/pg/**/*.test.mjs'],
    fileParallelism: false,
    sequence: { sequencer: ByName },
    testTimeout: 30000,
    hookTimeout: 15000,
    retry: 0,
  },
});
