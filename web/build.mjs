// Bundles the UI's script and styles and copies the API docs viewer into dist/, which the
// cityx-web crate embeds at compile time. Run through `npm run build`; scripts/run and scripts/test do it.
import * as esbuild from "esbuild";
import { cpSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const require = createRequire(import.meta.url);
const out = "dist";
rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, "swagger"), { recursive: true });

await esbuild.build({
  entryPoints: {
    app: "src/app.js",
    "app-style": "src/app.css",
    "api-docs": "src/api-docs.js",
    upload: "src/upload.js",
    player: "src/player.js",
    search: "src/search.js",
    live: "src/live.js",
  },
  bundle: true,
  minify: true,
  sourcemap: false,
  target: ["es2020", "chrome100", "firefox100", "safari15"],
  outdir: out,
  logLevel: "warning",
});

const swagger = dirname(require.resolve("swagger-ui-dist/package.json"));
for (const f of ["swagger-ui-bundle.js", "swagger-ui.css"]) {
  cpSync(join(swagger, f), join(out, "swagger", f));
}
writeFileSync(join(out, "BUILT"), "bundled by web/build.mjs\n");
console.log("web assets built in web/dist");
