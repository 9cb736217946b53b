// The demo web app's dev and preview server. The browser talks to one origin: /api goes to the factory API,
// /realtime (WebSocket) and /rt/metrics go to rtcache, so there is no CORS to configure.
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

const api = process.env.FACTORY_API_URL ?? 'http://127.0.0.1:4100';
const rtcache = process.env.RTCACHE_URL ?? 'http://127.0.0.1:4000';
const port = Number(process.env.WEB_PORT ?? 5173);

const proxy = {
  '/api': { target: api },
  '/rt/': { target: rtcache, rewrite: (p: string) => p.replace(/^\/rt/, '') },
  '/realtime': { target: rtcache, ws: true },
};

export default defineConfig({
  plugins: [react()],
  // @rtcache/sdk is linked from sdk/ts, which has its own dev copies of these: one instance each, ours.
  resolve: { dedupe: ['react', 'react-dom', '@tanstack/react-query', '@tanstack/query-core', '@supabase/realtime-js'] },
  server: { host: '127.0.0.1', port, strictPort: true, proxy },
  preview: { host: '127.0.0.1', port, strictPort: true, proxy },
  build: { sourcemap: true },
});
