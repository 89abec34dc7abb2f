// Live in the browser: a station admin creates a channel, copies the address and key that
// the page shows once, an encoder (ffmpeg) publishes, and the page turns live with the
// input's health and plays; the admin clips a few seconds into an item. Another station's
// viewer finds the channel on the wall, watches it and scrolls back in its window. The admin
// adds a restream target and watches the push's state change while on air.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, before, test } from "node:test";
import { ADMIN, api, newPage, settled, shot, signIn as harnessSignIn, startBrowser, startServer, tokenOf } from "../lib/harness.mjs";

let server;
let browser;
let encoder;
const OWNER = { email: "admin@nbtv-live.e2e", password: "live-admin-password" };
const VIEWER = { email: "viewer@wztv-live.e2e", password: "live-viewer-password" };
const signIn = (page, who) => harnessSignIn(server, page, who);

before(async () => {
  // Restream targets here are this machine's own ingest: the operator allowed loopback.
  server = await startServer({ env: { CITYX_FETCH__ALLOW_CIDRS: '["127.0.0.0/8"]' } });
  browser = await startBrowser();
  const token = await tokenOf(server, ADMIN);
  for (const [who, role, name, code, city] of [
    [OWNER, "station_admin", "宁波电视台", "nbtvl", "宁波"],
    [VIEWER, "viewer", "温州电视台", "wztvl", "温州"],
  ]) {
    const station = await api(server, "POST", "/api/v1/stations", token, {
      name, code, city, province: "浙江", region: "east",
    });
    await api(server, "POST", "/api/v1/users", token, {
      email: who.email, display_name: `${city}${role}`, role, station_id: station.id, password: who.password,
    });
  }
});

after(async () => {
  encoder?.kill("SIGKILL");
  await browser?.close();
  await server?.stop();
});

/** `ffmpeg -re` publishing a test picture and tone to `url` for `seconds`. */
function publish(url, seconds) {
  return spawn("ffmpeg", [
    "-nostdin", "-v", "error", "-re",
    "-f", "lavfi", "-i", `testsrc2=size=640x360:rate=25:duration=${seconds}`,
    "-f", "lavfi", "-i", `sine=frequency=440:duration=${seconds}`,
    "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-c:a", "aac", "-f", "flv", url,
  ], { stdio: "ignore" });
}

/** The player's time moves on by `seconds` (it plays), from wherever it is. */
async function advances(page, seconds) {
  const moved = await page.evaluate(async (need) => {
    const v = document.getElementById("player");
    v.muted = true;
    await v.play().catch(() => {});
    const started = performance.now();
    let first = null;
    while (performance.now() - started < 30_000) {
      if (first === null && v.currentTime > 0) first = v.currentTime;
      if (first !== null && v.currentTime - first >= need) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    return { first, now: v.currentTime, width: v.videoWidth };
  }, seconds);
  assert.ok(moved.first !== null && moved.now - moved.first >= seconds, `the live player did not play: ${JSON.stringify(moved)}`);
  assert.ok(moved.width > 0, "a picture was decoded");
}

let channelPath;

test("a station admin creates a channel, an encoder publishes with the shown key, and the page goes live and plays", async () => {
  const page = await newPage(browser);
  await signIn(page, OWNER);
  await page.getByRole("navigation").getByRole("link", { name: "直播" }).click();
  await page.getByRole("heading", { name: "直播" }).waitFor();
  await page.getByLabel("频道名称").fill("宁波新闻直播间");
  await page.getByLabel("谁可以观看").selectOption("exchange");
  await page.getByRole("button", { name: "创建频道" }).click();
  // The key is shown once, beside the server address.
  const key = (await page.locator("#stream-key").textContent()).trim();
  const rtmp = (await page.locator("#rtmp-url").textContent()).trim();
  assert.match(key, /^sk_[0-9a-f]{48}$/);
  assert.match(rtmp, /^rtmp:\/\/127\.0\.0\.1:\d+\/live$/);
  assert.equal(await page.locator("#channel-state").textContent(), "未开播");
  // The key is shown on the answer to the form (nowhere else); the page then stands at the
  // channel's own address, so that a reload creates nothing again.
  channelPath = `/live/${await page.locator("video[data-live]").getAttribute("data-live")}`;
  await page.waitForURL((url) => url.pathname === channelPath);
  await shot(page, "40-live-channel-created");

  // A window of 0 minutes is refused by the form itself, before anything is sent.
  await page.getByRole("button", { name: "频道设置" }).click();
  const window = page.getByLabel("回看时长（分钟）");
  await window.fill("0");
  await page.getByRole("button", { name: "保存设置" }).click();
  assert.equal(await window.evaluate((el) => el.validity.rangeUnderflow), true);
  assert.equal(await page.getByText("频道设置已保存").count(), 0, "nothing was saved");
  await window.fill("120");
  // A lower rendition for viewers on slow networks: the player then loads the master.
  await page.getByRole("checkbox", { name: "240p" }).check();
  await page.getByRole("button", { name: "保存设置" }).click();
  await page.getByText("频道设置已保存").waitFor();
  assert.match(await page.locator("video[data-live]").getAttribute("data-src"), /\/master\.m3u8$/);

  encoder = publish(`${rtmp}/${key}`, 90);
  // The page notices the signal by itself, with the input's health, and plays.
  await page.locator("#channel-state", { hasText: "直播中" }).waitFor({ timeout: 20_000 });
  // It starts playing by itself (muted), without a click.
  await page.waitForFunction(() => {
    const v = document.getElementById("player");
    return !v.paused && v.currentTime > 0;
  }, null, { timeout: 20_000 });
  await page.locator('[data-health="video"]', { hasText: "h264" }).waitFor({ timeout: 10_000 });
  assert.equal(await page.locator('[data-health="size"]').textContent(), "640×360");
  // On air, the figures are the input's now (off air they were the last broadcast's).
  await page.getByRole("heading", { name: "信号状态", exact: true }).waitFor();
  assert.equal(await page.locator("#health.stale").count(), 0);
  await advances(page, 2);
  await shot(page, "41-live-on-air");

  // Mark in, let it play, mark out, clip: an item of the exchange seconds later.
  await page.getByRole("button", { name: "设为入点" }).click();
  const marked = await page.locator("#clip-from-shown").textContent();
  assert.match(marked, /^\d\d:\d\d:\d\d$/, "the in point shows as a time");
  await advances(page, 3);
  await page.getByRole("button", { name: "设为出点" }).click();
  await page.getByLabel("标题").fill("宁波直播片段");
  await page.getByRole("button", { name: "剪辑", exact: true }).click();
  await page.waitForURL(/\/items\/[0-9a-f-]+\?done=clip_made/);
  const id = new URL(page.url()).pathname.split("/").pop();
  const item = await settled(server, await tokenOf(server, OWNER), id);
  assert.equal(item.title, "宁波直播片段");
  assert.ok(item.technical.duration_s >= 2 && item.technical.duration_s <= 5, `clip of ${item.technical.duration_s} s`);
  await shot(page, "42-live-clip-item");
  await page.close();
});

test("another station's viewer finds the channel on the wall, watches it and scrolls back", async () => {
  assert.ok(channelPath, "the first test made a channel");
  const page = await newPage(browser);
  await signIn(page, VIEWER);
  await page.getByRole("navigation").getByRole("link", { name: "直播" }).click();
  const tile = page.locator(".tile", { hasText: "宁波新闻直播间" });
  await tile.waitFor();
  assert.ok(await tile.locator(".badge", { hasText: "直播中" }).count(), "on air on the wall");
  await tile.locator("img").waitFor();
  await page.waitForFunction(() => {
    const img = document.querySelector(".tile img");
    return img && img.complete && img.naturalWidth > 0;
  }, null, { timeout: 20_000 });
  await shot(page, "43-live-wall");
  await tile.getByRole("link").click();
  assert.equal(new URL(page.url()).pathname, channelPath);
  assert.equal(await page.locator("#rtmp-url").count(), 0, "a viewer sees no ingest address");
  assert.equal(await page.getByRole("button", { name: "设为入点" }).count(), 0, "nor clips another station's channel");
  await advances(page, 2);
  // The window reaches back: seek to its start and it plays from there.
  const back = await page.evaluate(async () => {
    const v = document.getElementById("player");
    const start = v.seekable.start(0);
    const end = v.seekable.end(0);
    v.currentTime = start + 0.5;
    await new Promise((r) => setTimeout(r, 3000));
    return { start, end, now: v.currentTime, paused: v.paused };
  });
  assert.ok(back.end - back.start >= 6, `a window of some seconds: ${JSON.stringify(back)}`);
  assert.ok(back.now < back.end - 3, `playing back in time: ${JSON.stringify(back)}`);
  assert.equal(back.paused, false);
  await shot(page, "44-live-viewer-scrolled-back");
  await page.close();
});

test("the admin adds a restream target; while on air the push shows its state, then is switched off and removed", async () => {
  assert.ok(channelPath, "the first test made a channel");
  const token = await tokenOf(server, OWNER);
  // The partner: another channel of this installation, whose ingest takes the push.
  const partner = await api(server, "POST", "/api/v1/channels", token, { name: "合作平台频道" });
  // The first broadcast ends (ffmpeg stops as asked, ending its stream: a killed encoder
  // would leave the channel on its slate); a new one starts once the target is there.
  encoder?.kill("SIGINT");
  const id = channelPath.split("/").pop();
  for (let i = 0; i < 80; i++) {
    const { channel } = await api(server, "GET", `/api/v1/channels/${id}`, token);
    if (channel.state === "idle") break;
    await new Promise((r) => setTimeout(r, 250));
  }
  const page = await newPage(browser);
  await signIn(page, OWNER);
  await page.goto(server.base + channelPath);
  await page.getByText("还没有转推目标").waitFor();
  // Off air, the input's figures are said to be the last broadcast's.
  await page.getByRole("heading", { name: "信号状态（上次直播结束时）" }).waitFor();
  assert.equal(await page.locator("#health.stale").count(), 1);
  await page.getByRole("button", { name: "添加转推目标" }).first().click();
  const form = page.getByRole("form", { name: "添加转推目标" });
  await form.getByLabel("名称").fill("合作平台");
  await form.getByLabel("服务器地址").fill("http://push.example.org/live");
  await form.getByLabel("推流密钥").fill(partner.stream_key);
  await form.getByRole("button", { name: "添加转推目标" }).click();
  // A mistake in Chinese, with what was typed kept (but the key, which is never echoed).
  await page.getByText("服务器地址：不支持该协议，请按下方说明填写").waitFor();
  assert.equal(await form.getByLabel("名称").inputValue(), "合作平台");
  assert.equal(await form.getByLabel("推流密钥").inputValue(), "");
  await form.getByLabel("服务器地址").fill(partner.ingest.rtmp_url);
  await form.getByLabel("推流密钥").fill(partner.stream_key);
  await form.getByRole("button", { name: "添加转推目标" }).click();
  await page.getByText("已添加转推目标").waitFor();
  const row = page.locator("[data-target]", { hasText: "合作平台" });
  await row.locator(".badge", { hasText: "未推流" }).waitFor();
  assert.ok((await row.textContent()).includes(`…${partner.stream_key.slice(-4)}`), "the key's last four");
  assert.equal(await page.content().then((html) => html.includes(partner.stream_key)), false, "the key is not on the page");

  // A partner nobody answers for (port 9): its failure is named in Chinese, with the
  // operators' English detail as the hover text.
  const dead = await api(server, "POST", `/api/v1/channels/${id}/targets`, token, {
    name: "失联平台", url: "rtmp://127.0.0.1:9/live", key: "dead-key-0123456789",
  });
  await page.reload();

  // On air: the push turns live by itself, and the partner's channel goes live from it.
  const { channel: mine } = await api(server, "GET", `/api/v1/channels/${id}`, token);
  assert.equal(mine.state, "idle");
  const rtmp = (await page.locator("#rtmp-url").textContent()).trim();
  const key = await api(server, "POST", `/api/v1/channels/${id}/key`, token);
  encoder = publish(`${rtmp}/${key.stream_key}`, 60);
  await row.locator(".badge", { hasText: "推流中" }).waitFor({ timeout: 30_000 });
  await page.waitForFunction(() => {
    const sent = document.querySelector("[data-target-sent]");
    return sent && parseFloat(sent.textContent) > 0;
  }, null, { timeout: 15_000 });
  let partnerLive = false;
  for (let i = 0; i < 80 && !partnerLive; i++) {
    const { channel } = await api(server, "GET", `/api/v1/channels/${partner.channel.id}`, token);
    partnerLive = channel.state === "live";
    if (!partnerLive) await new Promise((r) => setTimeout(r, 250));
  }
  assert.ok(partnerLive, "the partner's channel went live from the push");
  const deadRow = page.locator("[data-target]", { hasText: "失联平台" });
  await deadRow.locator(".badge", { hasText: "重试中" }).waitFor({ timeout: 20_000 });
  const failure = deadRow.locator("[data-target-error]");
  await failure.filter({ hasText: "无法连接" }).waitFor();
  assert.equal((await failure.textContent()).trim(), "无法连接", "no English after the Chinese");
  assert.match(await failure.getAttribute("title"), /connect/);
  await shot(page, "45-live-restream-on-air");
  await api(server, "DELETE", `/api/v1/channels/${id}/targets/${dead.id}`, token);

  // Switched off, it stops; removed after a confirmation, it is gone.
  await row.getByRole("button", { name: "停用" }).click();
  await page.getByText("已保存转推目标").waitFor();
  await page.locator("[data-target]", { hasText: "已停用" }).locator(".badge", { hasText: "未推流" }).waitFor({ timeout: 15_000 });
  page.once("dialog", (d) => d.accept());
  await page.locator("[data-target]").getByRole("button", { name: "删除" }).click();
  await page.getByText("已删除转推目标").waitFor();
  await page.getByText("还没有转推目标").waitFor();
  encoder.kill("SIGKILL");
  await page.close();
});
