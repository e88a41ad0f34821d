import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

/**
 * The console is a static single-page app: relative asset paths (`base: './'`) so the same bundle
 * works at the root of a CloudFront distribution and under a bucket path on the emulator, and hash
 * routing so no server ever has to rewrite a deep link. The API URL is not built in: the app reads
 * `config.json`, written next to the bundle at deploy time.
 */
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  plugins: [react()],
  resolve: {
    // The plan preview runs the server's own CSV rules (shared/domain/plan-csv.ts) in the browser:
    // csv-parse's browser build carries the Buffer it needs.
    alias: { 'csv-parse/sync': fileURLToPath(new URL('../node_modules/csv-parse/dist/esm/sync.js', import.meta.url)) },
  },
  build: {
    outDir: fileURLToPath(new URL('./dist', import.meta.url)),
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 800,
  },
  logLevel: 'warn',
});
