// Bundles the UI's script and styles and copies the API docs viewer into dist/, which the
// cityx-web crate embeds at compile time. Run through `npm run build`; scripts/run and scripts/test do it.
// The bundle is made in a fresh directory and replaces dist/ only when some file differs, so
// that running it again on unchanged sources leaves dist/ (and cargo's build) alone.
import * as esbuild from "esbuild";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const require = createRequire(import.meta.url);
const dist = "dist";
const out = "dist.new";
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

// The relative paths of every file under `dir`.
const files = (dir, under = "") =>
  readdirSync(join(dir, under)).flatMap((name) => {
    const path = join(under, name);
    return statSync(join(dir, path)).isDirectory() ? files(dir, path) : [path];
  });
const same = (a, b) => {
  if (!existsSync(b)) return false;
  const [left, right] = [files(a).sort(), files(b).sort()];
  return (
    left.length === right.length &&
    left.every((f, i) => f === right[i] && readFileSync(join(a, f)).equals(readFileSync(join(b, f))))
  );
};
if (same(out, dist)) {
  rmSync(out, { recursive: true, force: true });
  console.log("web assets in web/dist are up to date");
} else {
  rmSync(dist, { recursive: true, force: true });
  renameSync(out, dist);
  console.log("web assets built in web/dist");
}
