// Starts a real cityx server on a temporary data directory and a free loopback port, and
// a headless Debian Chromium to drive it. Screenshots go to artifacts/e2e/.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const artifacts = join(root, "artifacts", "e2e");

export const ADMIN = { email: "admin@hub.e2e", password: "e2e-admin-password" };

/**
 * Starts `cityx serve`; resolves once it prints where it listens. `restartOf` is a server
 * that crashed: the new one takes over its data directory and address.
 */
export async function startServer({ restartOf, env = {} } = {}) {
  const bin = process.env.CITYX_BIN || join(root, "target", "debug", "cityx");
  const data = restartOf ? restartOf.data : mkdtempSync(join(tmpdir(), "cityx-e2e-"));
  const listen = restartOf ? restartOf.base.replace("http://", "") : "127.0.0.1:0";
  const child = spawn(bin, ["serve", "--data", data, "--listen", listen], {
    env: {
      ...process.env,
      CITYX_ADMIN_EMAIL: ADMIN.email,
      CITYX_ADMIN_PASSWORD: ADMIN.password,
      // A free port for the RTMP ingest, also when a restarted server keeps its address.
      CITYX_LIVE__RTMP_LISTEN: "127.0.0.1:0",
      CITYX_LIVE__SRT_LISTEN: "127.0.0.1:0",
      RUST_LOG: "warn",
      ...env,
    },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  const base = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`cityx did not start:\n${log}`)), 60_000);
    child.on("error", (e) => fail(new Error(`cannot run ${bin}: ${e.message}`)));
    child.on("exit", (code) => fail(new Error(`cityx exited (${code}) before it was ready:\n${log}`)));
    child.stderr.on("data", (chunk) => {
      log += chunk;
      const m = log.match(/running at (http:\/\/[0-9.:]+)\//);
      if (m) {
        clearTimeout(timer);
        ok(m[1]);
      }
    });
    child.on("exit", (code) => fail(new Error(`cityx exited with ${code}:\n${log}`)));
  });
  return {
    base,
    data,
    /** `kill -9`: no shutdown, the data directory stays for a restart. */
    async crash() {
      child.kill("SIGKILL");
      await new Promise((ok) => child.once("exit", ok));
    },
    async stop() {
      child.kill("SIGTERM");
      await new Promise((ok) => child.once("exit", ok));
      rmSync(data, { recursive: true, force: true });
    },
  };
}

/** Debian's Chromium, headless, with nothing reaching out to the network. */
export async function startBrowser() {
  mkdirSync(artifacts, { recursive: true });
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-dev-shm-usage",
    ],
  });
}

/** A page that records console errors and failed requests (CSP violations show up here). */
export async function newPage(browser, options = {}) {
  const context = await browser.newContext({ locale: "zh-CN", ...options });
  const page = await context.newPage();
  page.problems = [];
  page.on("console", (msg) => {
    if (msg.type() === "error") page.problems.push(`console: ${msg.text()}`);
  });
  page.on("pageerror", (err) => page.problems.push(`page error: ${err.message}`));
  return page;
}

export async function shot(page, name) {
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
}

/** One JSON call to the API of `server`; fails the test on an error status. */
export async function api(server, method, path, token, body) {
  const res = await fetch(`${server.base}${path}`, {
    method,
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await res.json().catch(() => null);
  assert.ok(res.ok, `${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

/** A test clip in a new directory: H.264/AAC test pattern and tone, `extra` before the codecs. */
export function makeClip(name, size, seconds, extra = []) {
  const clip = join(mkdtempSync(join(tmpdir(), "cityx-e2e-")), name);
  execFileSync("ffmpeg", [
    "-v", "error", "-nostdin", "-y",
    "-f", "lavfi", "-i", `testsrc2=size=${size}:rate=25:duration=${seconds}`,
    "-f", "lavfi", "-i", `sine=frequency=440:duration=${seconds}:sample_rate=48000`,
    "-af", "aformat=channel_layouts=stereo",
    ...extra,
    "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest", clip,
  ]);
  return clip;
}

/** The item page's player plays: time moves past 1.5 s and a picture is decoded. */
export async function assertPlays(page) {
  await page.waitForFunction(() => document.getElementById("player")?.src, null, { timeout: 10_000 });
  const played = await page.evaluate(async () => {
    const v = document.getElementById("player");
    v.muted = true;
    await v.play();
    const start = performance.now();
    while (v.currentTime < 1.5 && performance.now() - start < 20_000) {
      await new Promise((r) => setTimeout(r, 100));
    }
    return { time: v.currentTime, width: v.videoWidth, error: v.error && v.error.message };
  });
  assert.ok(played.time >= 1.5, `the video did not play: ${JSON.stringify(played)}`);
  assert.ok(played.width > 0, "a picture was decoded");
}

/** Signs `who` in through the login form and waits for the home page. */
export async function signIn(server, page, who) {
  await page.goto(`${server.base}/login`);
  await page.getByLabel("邮箱").fill(who.email);
  await page.getByLabel("密码").fill(who.password);
  await page.getByRole("button", { name: "登录" }).click();
  await page.getByRole("heading", { name: "欢迎" }).waitFor();
}

/** A fresh API token of `who`. */
export async function tokenOf(server, who) {
  return (await api(server, "POST", "/api/v1/auth/token", null, who)).token;
}

/** Uploads a file whole with tus creation-with-upload; returns the new item's id. */
export async function uploadFile(server, token, file, meta) {
  const body = readFileSync(file);
  const b64 = (s) => Buffer.from(s).toString("base64");
  const metadata = Object.entries({ filename: "clip.mp4", ...meta })
    .map(([k, v]) => `${k} ${b64(v)}`)
    .join(",");
  const res = await fetch(`${server.base}/api/v1/uploads`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${token}`,
      "tus-resumable": "1.0.0",
      "upload-length": String(body.length),
      "upload-metadata": metadata,
      "content-type": "application/offset+octet-stream",
    },
    body,
  });
  assert.equal(res.status, 201, await res.text());
  return res.headers.get("cityx-asset-id");
}

/** Waits until an item is in one of `states` (ready by default); returns it. */
export async function settled(server, token, id, states = ["ready"]) {
  for (let i = 0; i < 240; i += 1) {
    const item = await api(server, "GET", `/api/v1/assets/${id}`, token);
    if (states.includes(item.status)) return item;
    assert.ok(states.includes("failed") || item.status !== "failed", JSON.stringify(item));
    await new Promise((r) => setTimeout(r, 500));
  }
  assert.fail(`item ${id} never became ${states.join(" or ")}`);
}
