// One server is shared by every file, and the restart test stops it: run files one at a time, in name order.
import { defineConfig } from 'vitest/config';
import { BaseSequencer } from 'vitest/node';

class ByName extends BaseSequencer {
  async sort(files) {
    return [...files].sort((a, b) => (a.moduleId ?? a[1] ?? '').localeCompare(b.moduleId ?? b[1] ?? ''));
  }
}

export default defineConfig({
  test: {
    include: ['test/**/*.test.mjs'],
    fileParallelism: false,
    sequence: { sequencer: ByName },
    testTimeout: 30000,
    hookTimeout: 10000,
    retry: 0,
  },
});
