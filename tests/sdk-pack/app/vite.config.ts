import { defineConfig } from 'vite';

// No framework plugin: esbuild compiles the JSX (React's automatic runtime), which is all this app needs.
// react-query's "use client" directives mean nothing in a client bundle; Rollup's warning about them is
// dropped (as @vitejs/plugin-react does), so the log shows only what matters.
export default defineConfig({
  esbuild: { jsx: 'automatic' },
  build: {
    outDir: 'dist',
    rollupOptions: {
      onwarn(warning, warn) {
        if (warning.code !== 'MODULE_LEVEL_DIRECTIVE') warn(warning);
      },
    },
  },
  logLevel: 'warn',
});
