import { defineConfig } from "vite";

// Nothing is needed for the package's wasm: Vite 8 bundles wasm-pack `--target bundler` output
// as it is. The target only has to allow the top-level await of the wasm glue.
export default defineConfig({
  build: { target: "es2022" },
  preview: { host: "127.0.0.1", strictPort: true },
});
