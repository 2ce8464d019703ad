// The demo app is one page (index.html); `npm run build` writes web/dist, which Hosting serves.
import { defineConfig } from "vite";

export default defineConfig({
  // The Firebase SDK (auth + firestore) is most of the bundle: ~170 kB gzipped.
  build: { outDir: "dist", emptyOutDir: true, sourcemap: true, chunkSizeWarningLimit: 800 },
});
