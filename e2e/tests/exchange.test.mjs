// The exchange in the browser: station B finds station A's item with a Chinese query (in
// traditional characters), plays it and adopts it; station A sees the credit. Then A withdraws
// the item, B is told and acknowledges, and the hub's statistics show it all. Last, the hub
// runs a topic zone that A contributes to.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  ADMIN, api, assertPlays, makeClip, newPage, settled, shot, signIn as harnessSignIn, startBrowser, startServer, uploadFile,
} from "../lib/harness.mjs";

let server;
let browser;
/** The item station A contributes and B adopts. */
let itemId;
const A = { email: "editor@fztv.e2e", password: "editor-password-a" };
const B = { email: "editor@xmtv.e2e", password: "editor-password-b" };

before(async () => {
  server = await startServer();
  browser = await startBrowser();
  const { token } = await api(server, "POST", "/api/v1/auth/token", null, ADMIN);
  for (const [who, name, code, city] of [[A, "福州电视台", "fztv", "福州"], [B, "厦门电视台", "xmtv", "厦门"]]) {
    const station = await api(server, "POST", "/api/v1/stations", token, {
      name, code, city, province: "福建", region: "east",
    });
    await api(server, "POST", "/api/v1/users", token, {
      email: who.email, display_name: `${city}编辑`, role: "editor", station_id: station.id, password: who.password,
    });
  }
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const signIn = (page, who) => harnessSignIn(server, page, who);
const upload = (token, file, meta) => uploadFile(server, token, file, { filename: "typhoon.mp4", ...meta });
const ready = (token, id) => settled(server, token, id);

test("station B finds A's item in Chinese, plays it and adopts it; A sees the credit", async () => {
  const { token } = await api(server, "POST", "/api/v1/auth/token", null, A);
  const clip = makeClip("台风.mp4", "640x360", 6);
  const id = await upload(token, clip, {
    title: "台风“杜苏芮”登陆福建 渔船回港避风",
    summary: "今年第5号台风在晋江沿海登陆，福州、厦门等地渔船全部回港。",
    keywords: "台风,防汛",
    category: "灾害",
  });
  itemId = id;
  // The same master again, contributed under another title: B sees it as the same file.
  const copy = await upload(token, clip, { title: "渔船回港避风 再次播发", category: "灾害" });
  await ready(token, id);
  await ready(token, copy);

  const page = await newPage(browser);
  await signIn(page, B);
  await page.getByRole("navigation").getByRole("link", { name: "交换", exact: true }).click();
  await page.getByRole("heading", { name: "交换库" }).waitFor();
  // Traditional characters find the simplified title; the match is highlighted.
  await page.locator("#q").fill("颱風 登陸");
  await page.getByRole("button", { name: "搜索" }).click();
  const hit = page.locator(".hit").first();
  await hit.locator("mark", { hasText: "台风" }).first().waitFor({ timeout: 10_000 });
  assert.match(await hit.textContent(), /福州电视台/);
  await page.locator(".facets").getByRole("link", { name: "福州", exact: true }).waitFor();
  await shot(page, "20-exchange-search");

  await hit.getByRole("link", { name: /渔船回港避风/ }).click();
  await page.getByRole("heading", { level: 1, name: /渔船回港避风/ }).waitFor();
  assert.equal((await page.locator("#contributor").textContent()).trim(), "福州电视台");
  await assertPlays(page);
  await page.evaluate(() => document.getElementById("player").pause());
  // The seek bar previews the storyboard's picture under the pointer and seeks on click.
  const bar = page.locator("#scrubber");
  await page.waitForFunction(() => Number(document.getElementById("scrubber").dataset.cues) > 0);
  await bar.scrollIntoViewIfNeeded();
  const box = await bar.boundingBox();
  const spot = { x: box.width * 0.6, y: box.height / 2 };
  await bar.hover({ position: spot });
  await page.locator(".scrubber-picture").waitFor({ state: "visible" });
  const sheet = await bar.getAttribute("data-preview-url");
  assert.match(sheet, /^http.*\/api\/v1\/media\/[^/]+\/storyboard\/sb_001\.jpg$/);
  assert.equal(await page.evaluate((u) => fetch(u).then((r) => r.headers.get("content-type")), sheet), "image/jpeg");
  assert.match(await page.locator(".scrubber-time").textContent(), /^00:0[2-4]$/);
  await bar.click({ position: spot });
  await page.waitForFunction(() => document.getElementById("player").currentTime > 2);
  await shot(page, "20b-seek-preview");
  await page.locator("#same-file").getByRole("link", { name: "渔船回港避风 再次播发" }).waitFor();

  await page.getByLabel("浏览版 MP4").check();
  await page.getByLabel("用途").fill("晚间新闻");
  await page.getByRole("button", { name: "采用", exact: true }).click();
  await page.getByText("已采用，并已记入采用记录").waitFor();
  const download = page.waitForEvent("download");
  await page.locator("button[data-download=proxy]").click();
  const file = await download;
  assert.match(file.suggestedFilename(), /\.mp4$/);
  await shot(page, "21-item-adopted");
  assert.deepEqual(page.problems, [], "no console errors");
  await page.context().close();

  const own = await newPage(browser);
  await signIn(own, A);
  await own.getByRole("link", { name: "采用记录" }).click();
  const row = own.locator("#adoptions tbody tr").first();
  await row.getByText("厦门电视台").waitFor();
  assert.match(await row.textContent(), /晚间新闻/);
  assert.match(await row.textContent(), /浏览版 MP4/);
  await shot(own, "22-adoptions-credited");
  await own.context().close();
});

test("A withdraws the item; B is told and acknowledges; the hub's statistics show it", async () => {
  assert.ok(itemId, "the first test made the item");
  const own = await newPage(browser);
  await signIn(own, A);
  await own.goto(`${server.base}/items/${itemId}`);
  await own.getByText("撤回素材", { exact: true }).click();
  await own.getByLabel("撤回原因").fill("画面涉及未授权肖像");
  // It cannot be undone, so it asks first, saying who will be told; saying no changes nothing.
  let asked = "";
  own.once("dialog", (d) => {
    asked = d.message();
    d.dismiss();
  });
  await own.getByRole("button", { name: "撤回并通知采用台" }).click();
  assert.match(asked, /不能恢复.*已有 1 家电视台采用/);
  assert.equal(await own.getByText("素材已撤回，已通知所有采用台。").count(), 0);
  own.once("dialog", (d) => d.accept());
  await own.getByRole("button", { name: "撤回并通知采用台" }).click();
  await own.getByText("素材已撤回，已通知所有采用台。").waitFor();
  const sent = own.locator("#item-notices tbody tr").first();
  assert.match(await sent.textContent(), /厦门电视台/);
  assert.match(await sent.textContent(), /未确认/);

  const b = await newPage(browser);
  await signIn(b, B);
  const nav = b.locator("#nav-notices");
  assert.equal((await nav.locator(".count").textContent()).trim(), "1");
  await nav.click();
  const row = b.locator("#notices tbody tr").first();
  assert.match(await row.textContent(), /画面涉及未授权肖像/);
  assert.match(await row.textContent(), /撤回/);
  await shot(b, "23-notice-received");
  // The item's link opens what happened and what to do, not a bare 404.
  await row.getByRole("link").first().click();
  await b.locator("#tombstone").getByText("请立即停播").waitFor();
  assert.match(await b.locator("#tombstone-reason").textContent(), /画面涉及未授权肖像/);
  assert.equal(await b.locator("video").count(), 0, "nothing plays");
  await shot(b, "23b-withdrawn-item-for-adopter");
  await b.goBack();
  await row.getByRole("button", { name: "确认收到" }).click();
  await b.getByText("已确认收到通知。").waitFor();
  assert.equal(await b.locator("#nav-notices .count").count(), 0);
  assert.deepEqual(b.problems, [], "no console errors");
  await b.context().close();

  await own.reload();
  assert.match(await own.locator("#item-notices tbody tr").first().textContent(), /已确认/);
  await own.context().close();

  const hub = await newPage(browser);
  await signIn(hub, ADMIN);
  await hub.getByRole("navigation").getByRole("link", { name: "统计" }).click();
  await hub.getByRole("heading", { name: "统计报表" }).waitFor();
  // The copy of the same file is no contribution (docs/api.md, "Statistics").
  assert.equal((await hub.locator("#total-contributions").textContent()).trim(), "1", "the item, not its copy");
  assert.equal((await hub.locator("#total-adoptions").textContent()).trim(), "1");
  const league = hub.locator("#league tbody tr").first();
  assert.match(await league.textContent(), /福州电视台/);
  assert.equal(await hub.locator("#daily-chart rect.bar").count(), 30);
  assert.equal(await hub.locator("#province-map rect.active").count(), 1);
  await shot(hub, "24-analytics");
  const csv = hub.waitForEvent("download");
  await hub.locator("a.csv[href*='table=stations']").click();
  assert.match((await csv).suggestedFilename(), /^cityx-stations-.*\.csv$/);
  assert.deepEqual(hub.problems, [], "no console errors");
  await hub.context().close();
});

test("the hub creates a zone, A contributes to it, and the zone shows who has", async () => {
  const { token } = await api(server, "POST", "/api/v1/auth/token", null, A);
  const id = await upload(token, makeClip("马拉松.mp4", "640x360", 4), {
    title: "福州马拉松鸣枪开跑 三万名选手参赛",
    summary: "福州马拉松今晨开跑。",
    category: "体育",
  });
  await ready(token, id);

  const hub = await newPage(browser);
  await signIn(hub, ADMIN);
  await hub.getByRole("navigation").getByRole("link", { name: "专区" }).click();
  await hub.getByRole("heading", { name: "新建专区" }).waitFor();
  const form = hub.locator("#new-zone");
  await form.getByLabel("标题").fill("全民健身专区");
  await form.getByLabel("简介").fill("各台报道全民健身赛事");
  const end = new Date(Date.now() + 8 * 3600e3 + 7 * 86400e3).toISOString().slice(0, 10);
  await form.getByLabel("结束日期").fill(end);
  await form.locator("input[data-code=fztv]").check();
  await form.locator("input[data-code=xmtv]").check();
  await hub.getByRole("button", { name: "创建专区" }).click();
  await hub.getByText("专区已创建。").waitFor();
  const zoneUrl = hub.url().split("?")[0];
  await hub.context().close();

  const a = await newPage(browser);
  await signIn(a, A);
  await a.goto(zoneUrl);
  await a.locator("#contribute-item").selectOption({ label: "福州马拉松鸣枪开跑 三万名选手参赛" });
  await a.getByRole("button", { name: "投入专区" }).click();
  await a.getByText("已投入专区。").waitFor();
  const rows = a.locator("#progress tbody tr");
  assert.match(await rows.filter({ hasText: "福州电视台" }).textContent(), /已完成/);
  assert.match(await rows.filter({ hasText: "厦门电视台" }).textContent(), /未供稿/);
  await a.locator("#zone-items .hit", { hasText: "福州马拉松" }).waitFor();
  await a.locator(".zone-cover").waitFor();
  await shot(a, "25-zone");
  assert.deepEqual(a.problems, [], "no console errors");
  await a.context().close();

  // B finds the zone's item through the zone filter of search (the index follows within
  // about a second).
  const tokenB = (await api(server, "POST", "/api/v1/auth/token", null, B)).token;
  const zoneId = zoneUrl.split("/").pop();
  let res;
  for (let i = 0; i < 50; i += 1) {
    res = await api(server, "GET", `/api/v1/search?zone=${zoneId}`, tokenB);
    if (res.total === 1) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal(res.total, 1);
  assert.equal(res.hits[0].id, id);
});
