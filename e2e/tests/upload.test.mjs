// A station editor uploads through the web UI with tus-js-client: progress, pause and resume,
// resuming after the page was closed, and the item page with the master's SHA-256.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, mkdtempSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { ADMIN, api, assertPlays, makeClip, newPage, shot, startBrowser, startServer } from "../lib/harness.mjs";

let server;
let browser;
const EDITOR = { email: "editor@hztv.e2e", password: "editor-password-1" };

before(async () => {
  server = await startServer();
  browser = await startBrowser();
  const { token } = await api(server, "POST", "/api/v1/auth/token", null, ADMIN);
  const station = await api(server, "POST", "/api/v1/stations", token, {
    name: "杭州电视台", code: "hztv", city: "杭州", province: "浙江", region: "east",
  });
  await api(server, "POST", "/api/v1/users", token, {
    email: EDITOR.email, display_name: "李编辑", role: "editor", station_id: station.id, password: EDITOR.password,
  });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function signIn(page) {
  await page.goto(`${server.base}/login`);
  await page.getByLabel("邮箱").fill(EDITOR.email);
  await page.getByLabel("密码").fill(EDITOR.password);
  await page.getByRole("button", { name: "登录" }).click();
  await page.getByRole("heading", { name: "欢迎" }).waitFor();
}

/** Limits the page's upload speed, so that there is time to pause and to leave. */
async function throttle(page, bytesPerSecond) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Network.enable");
  await cdp.send("Network.emulateNetworkConditions", {
    offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: bytesPerSecond,
  });
}

async function progressOf(item) {
  return item.locator("progress").evaluate((p) => (p.max ? p.value / p.max : 0));
}

async function waitForProgress(item, atLeast) {
  for (let i = 0; i < 600; i += 1) {
    if ((await progressOf(item)) >= atLeast) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`progress never reached ${atLeast}`);
}

test("upload with progress, pause and resume; the item shows its SHA-256", async () => {
  const page = await newPage(browser);
  await signIn(page);
  await page.getByRole("navigation").getByRole("link", { name: "上传素材" }).click();
  await page.getByRole("heading", { name: "上传素材" }).waitFor();
  await shot(page, "11-upload-form");

  const data = randomBytes(12 * 1024 * 1024);
  const sha256 = createHash("sha256").update(data).digest("hex");
  await throttle(page, 3 * 1024 * 1024);
  await page.getByLabel("文件").setInputFiles({ name: "暴雨现场.mp4", mimeType: "video/mp4", buffer: data });
  await page.locator("#upload-form").getByLabel("标题 （选填）").fill("杭州暴雨现场");
  await page.getByLabel("关键词 （选填）").fill("暴雨，防汛");
  await page.getByRole("button", { name: "开始上传" }).click();

  const item = page.locator("#queue li").first();
  await waitForProgress(item, 0.1);
  await item.getByRole("button", { name: "暂停" }).click();
  await item.getByText("已暂停").waitFor();
  const paused = await progressOf(item);
  await new Promise((r) => setTimeout(r, 700));
  assert.equal(await progressOf(item), paused, "nothing moves while paused");
  await shot(page, "12-upload-paused");
  await item.getByRole("button", { name: "继续" }).click();
  await item.getByText("上传完成").waitFor({ timeout: 60_000 });
  await shot(page, "13-upload-done");

  await item.getByRole("link", { name: "查看素材" }).click();
  await page.getByRole("heading", { name: "杭州暴雨现场" }).waitFor();
  assert.equal((await page.locator("#sha256").textContent()).trim(), sha256);
  await page.getByRole("cell", { name: "文件分析" }).waitFor();
  // Random bytes are not a video: analysis fails the item, and the page says why (it
  // follows processing by itself), with ffprobe's words after (which depend on the bytes:
  // "Invalid data found…", or "Invalid argument" when they happen to look like a format).
  const notice = page.getByRole("alert");
  await notice.getByText("处理失败：").waitFor({ timeout: 30_000 });
  assert.match(await notice.textContent(), /无法识别为音视频文件[^(]*\(.+\)/);
  await shot(page, "14-item-page");
  assert.deepEqual(page.problems, [], "no console errors or CSP violations");
  await page.context().close();
});

test("a refused upload names the field and why, and keeps what was typed", async () => {
  const page = await newPage(browser);
  await signIn(page);
  await page.goto(`${server.base}/upload`);
  await page.getByLabel("文件").setInputFiles({ name: "报道.mp4", mimeType: "video/mp4", buffer: randomBytes(1024) });
  // U+202E would make the title read backwards in lists and saved files.
  const title = page.locator("#upload-form").getByLabel("标题 （选填）");
  await title.fill("新闻\u202E4pm.exe");
  await page.getByRole("button", { name: "开始上传" }).click();
  const item = page.locator("#queue li").first();
  await item.getByText("标题：格式不正确").waitFor({ timeout: 20_000 });
  assert.equal(await title.inputValue(), "新闻\u202E4pm.exe", "what was typed stays");
  await shot(page, "15-upload-refused-field");
  await page.context().close();
});

test("an upload interrupted by closing the page continues from where it stopped", async () => {
  const context = await browser.newContext({ locale: "zh-CN" });
  const data = randomBytes(10 * 1024 * 1024);
  const sha256 = createHash("sha256").update(data).digest("hex");
  // A file on disk, as a user's is: the client recognises it again by name, size and date.
  const file = join(mkdtempSync(join(tmpdir(), "cityx-e2e-")), "采访.mov");
  writeFileSync(file, data);

  let page = await context.newPage();
  await signIn(page);
  await page.goto(`${server.base}/upload`);
  await throttle(page, 2 * 1024 * 1024);
  await page.getByLabel("文件").setInputFiles(file);
  await page.getByRole("button", { name: "开始上传" }).click();
  await waitForProgress(page.locator("#queue li").first(), 0.25);
  await page.close(); // the browser tab goes away mid-upload

  page = await context.newPage();
  await page.goto(`${server.base}/upload`);
  await page.getByLabel("文件").setInputFiles(file);
  await page.getByRole("button", { name: "开始上传" }).click();
  const item = page.locator("#queue li").first();
  await item.getByText("继续上次的上传").waitFor();
  await item.getByText("上传完成").waitFor({ timeout: 60_000 });
  await shot(page, "15-upload-resumed");
  await item.getByRole("link", { name: "查看素材" }).click();
  assert.equal((await page.locator("#sha256").textContent()).trim(), sha256);
  await context.close();
});

test("a real clip plays in the browser, with its quality levels and technical check", async () => {
  // A 720p news clip with two seconds of black at 2–4 s: the check warns, with the time code.
  const clip = makeClip("城市新闻.mp4", "1280x720", 10, [
    "-vf", "drawbox=enable='between(t,2,4)':x=0:y=0:w=iw:h=ih:color=black:t=fill",
  ]);
  const page = await newPage(browser);
  await signIn(page);
  await page.goto(`${server.base}/upload`);
  await page.getByLabel("文件").setInputFiles(clip);
  await page.locator("#upload-form").getByLabel("标题 （选填）").fill("城市新闻联播");
  await page.getByRole("button", { name: "开始上传" }).click();
  const item = page.locator("#queue li").first();
  await item.getByText("上传完成").waitFor({ timeout: 60_000 });
  await item.getByRole("link", { name: "查看素材" }).click();
  await page.getByRole("heading", { name: "城市新闻联播" }).waitFor();

  // The page follows processing by itself until the item is ready.
  await page.locator(".page-head .badge", { hasText: "可用" }).waitFor({ timeout: 120_000 });
  const verdict = page.locator("#qc-verdict");
  assert.equal((await verdict.textContent()).trim(), "警告");
  const findings = page.locator("#qc-findings");
  await findings.getByRole("cell", { name: "黑场" }).waitFor();
  assert.match(await findings.textContent(), /00:00:02\.0 – 00:00:04\.0/);

  // It plays: time moves, and every rung of the ladder is offered.
  await assertPlays(page);
  const levels = await page.locator("#quality option").allTextContents();
  assert.deepEqual(levels, ["自动", "720p", "480p", "360p"]);
  await page.evaluate(() => document.getElementById("player").pause());
  await shot(page, "16-item-playing");
  assert.deepEqual(page.problems, [], "no console errors or CSP violations");
  await page.context().close();
});

test("the server is killed during an upload; it resumes after the restart and the item plays with its check", async () => {
  // A 1080p H.264/AAC clip, looped (stream copy) to CITYX_E2E_WALK_MB (default 40; the
  // big-file walk in CONTRIBUTING.md uses a few GB).
  const mb = Number(process.env.CITYX_E2E_WALK_MB || 40);
  const piece = makeClip("piece.mp4", "1920x1080", 8, ["-qp", "8"]);
  const loops = Math.max(0, Math.ceil((mb * 1024 * 1024) / statSync(piece).size) - 1);
  const clip = join(dirname(piece), "防汛直击.mp4");
  execFileSync("ffmpeg", ["-v", "error", "-nostdin", "-y", "-stream_loop", String(loops), "-i", piece, "-c", "copy", clip]);
  const size = statSync(clip).size;

  const page = await newPage(browser);
  // Reconnection attempts fail while the server is down; those are expected here.
  const expected = (p) => /ERR_CONNECTION_REFUSED|ERR_EMPTY_RESPONSE|Failed to load resource/.test(p);
  await signIn(page);
  await page.goto(`${server.base}/upload`);
  // About 20 s for the whole file, so that there is a moment to crash the server.
  await throttle(page, Math.max(2 * 1024 * 1024, Math.floor(size / 20)));
  await page.getByLabel("文件").setInputFiles(clip);
  await page.locator("#upload-form").getByLabel("标题 （选填）").fill("防汛直击");
  await page.getByRole("button", { name: "开始上传" }).click();
  const item = page.locator("#queue li").first();
  await waitForProgress(item, 0.3);

  await server.crash();
  await item.getByText("正在重新连接").waitFor({ timeout: 30_000 });
  await shot(page, "17-upload-reconnecting");
  const before = await progressOf(item);
  server = await startServer({ restartOf: server });
  // tus-js-client retries by itself, asks the server for the durable offset and goes on.
  await item.getByText("上传完成").waitFor({ timeout: 120_000 + size / 50_000 });
  assert.ok(before >= 0.3 && before < 1, `progress when the server died: ${before}`);

  await item.getByRole("link", { name: "查看素材" }).click();
  await page.getByRole("heading", { name: "防汛直击" }).waitFor();
  const sha256 = await new Promise((ok, fail) => {
    const h = createHash("sha256");
    createReadStream(clip).on("data", (b) => h.update(b)).on("end", () => ok(h.digest("hex"))).on("error", fail);
  });
  assert.equal((await page.locator("#sha256").textContent()).trim(), sha256);
  await page.locator(".page-head .badge", { hasText: "可用" }).waitFor({ timeout: 300_000 + size / 2_000 });
  assert.match((await page.locator("#qc-verdict").textContent()).trim(), /^(通过|警告|不通过)$/);
  await assertPlays(page);
  await shot(page, "18-item-after-crash");
  assert.deepEqual(page.problems.filter((p) => !expected(p)), [], "no other console errors");
  await page.context().close();
});
