// The web UI embeds the front-end bundle from web/dist; without it the build would fail with
// an obscure message, so say what to do instead.
fn main() {
    let marker = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web/dist/BUILT");
    println!("cargo:rerun-if-changed={}", marker.display());
    if !marker.exists() {
        panic!(
            "the web UI bundle is missing: run `scripts/run` or `scripts/test` (they build it), \
             or `cd web && npm ci && npm run build`"
        );
    }
}
