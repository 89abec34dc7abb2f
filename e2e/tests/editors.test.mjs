// An editor's day in the browser: several files uploaded at once with a title each and a
// chosen visibility; the station's library with its states and a bulk delete that asks
// first; a correction that adopters see; statistics that count each thing once; a zone form
// whose mistake keeps what was typed; and search at a phone's size.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { after, before, test } from "node:test";
import {
  ADMIN, api, makeClip, newPage, settled, shot, signIn as harnessSignIn, startBrowser, startServer, tokenOf, uploadFile,
} from "../lib/harness.mjs";

let server;
let browser;
const A = { email: "editor@nbtv.e2e", password: "editor-password-a" };
const B = { email: "editor@wztv.e2e", password: "editor-password-b" };
const signIn = (page, who) => harnessSignIn(server, page, who);

before(async () => {
  server = await startServer();
  browser = await startBrowser();
  const token = await tokenOf(server, ADMIN);
  for (const [who, name, code, city] of [[A, "宁波电视台", "nbtv", "宁波"], [B, "温州电视台", "wztv", "温州"]]) {
    const station = await api(server, "POST", "/api/v1/stations", token, {
      name, code, city, province: "浙江", region: "east",
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

test("several files get a title each and the chosen visibility; the library shows their states and deletes after asking", async () => {
  const page = await newPage(browser);
  await signIn(page, A);
  await page.getByRole("navigation").getByRole("link", { name: "上传素材" }).click();
  // Different files (the same test pattern twice would be one file uploaded twice).
  const files = [makeClip("港口早班.mp4", "320x240", 2), makeClip("跨海大桥.mp4", "320x240", 3)];
  await page.locator("#files").setInputFiles(files);
  // Each file has its own title, from its file name; one is changed.
  const titles = page.locator("#file-titles input");
  assert.equal(await titles.count(), 2);
  assert.deepEqual(await titles.evaluateAll((l) => l.map((i) => i.value)), ["港口早班", "跨海大桥"]);
  await titles.nth(1).fill("杭州湾跨海大桥通车二十年");
  assert.equal(await page.locator("#single-title").isHidden(), true, "no shared title for several files");
  await page.locator("#upload-visibility").selectOption("private");
  await page.getByLabel("关键词").fill("宁波");
  await page.getByRole("button", { name: "开始上传" }).click();
  // The progress list is where the eye is, and the form is ready for the next batch.
  const queue = page.locator("#queue-box");
  await queue.waitFor();
  await page.waitForFunction(() => {
    const box = document.getElementById("queue-box").getBoundingClientRect();
    return box.bottom > 0 && box.top < window.innerHeight;
  }, null, { timeout: 5_000 }).catch(async (e) => {
    const box = await queue.evaluate((q) => JSON.stringify(q.getBoundingClientRect()));
    throw new Error(`the progress list is out of view: ${box} (${e.message})`);
  });
  await page.locator("#queue li.done").nth(1).waitFor({ timeout: 60_000 });
  assert.equal(await page.getByLabel("关键词").inputValue(), "", "fields are cleared");
  assert.equal(await page.locator("#upload-visibility").inputValue(), "private", "the choice stays");
  await shot(page, "30-upload-several");

  const token = await tokenOf(server, A);
  await page.getByRole("navigation").getByRole("link", { name: "我的素材" }).click();
  await page.getByRole("heading", { name: "我的素材" }).waitFor();
  const rows = page.locator("#library tbody tr");
  assert.equal(await rows.count(), 2);
  const bridge = rows.filter({ hasText: "杭州湾跨海大桥通车二十年" });
  const harbour = rows.filter({ hasText: "港口早班" });
  await bridge.waitFor();
  const id = (await bridge.locator("a").first().getAttribute("href")).split("/").pop();
  const item = await api(server, "GET", `/api/v1/assets/${id}`, token);
  assert.equal(item.visibility, "private");
  assert.deepEqual(item.keywords, ["宁波"]);
  // Each row says where it is.
  assert.match(await bridge.locator(".badge").first().textContent(), /处理中|可用/);

  // Nothing ticked: told so. Ticked: it asks, naming how many; no keeps them.
  let asked = "";
  page.once("dialog", (d) => {
    asked = d.message();
    d.accept();
  });
  await page.locator("#bulk-delete").click();
  assert.match(asked, /请先勾选素材/);
  await harbour.locator("input[name=ids]").check();
  assert.match(await page.locator("[data-selected-count]").textContent(), /已选 1 条/);
  page.once("dialog", (d) => {
    asked = d.message();
    d.dismiss();
  });
  await page.locator("#bulk-delete").click();
  assert.match(asked, /删除所选的 1 条素材/);
  assert.equal(await rows.count(), 2);
  page.once("dialog", (d) => d.accept());
  await page.locator("#bulk-delete").click();
  await page.getByText("已删除：1 条").waitFor();
  await harbour.locator(".badge.state-deleted").waitFor();
  await shot(page, "31-library");
  await page.locator("#library-filter select[name=state]").selectOption("deleted");
  await page.getByRole("button", { name: "筛选" }).click();
  assert.equal(await rows.count(), 1);
  assert.deepEqual(page.problems, [], "no console errors");
  await page.context().close();
});

test("statistics count each thing once, say how, and export with Chinese headers", async () => {
  const [a, b] = [await tokenOf(server, A), await tokenOf(server, B)];
  const hubToken = await tokenOf(server, ADMIN);
  const totals = async () => {
    const s = await api(server, "GET", "/api/v1/statistics", hubToken);
    const sum = (k) => s.days.reduce((n, d) => n + d[k], 0);
    return { contributions: sum("contributions"), adoptions: sum("adoptions") };
  };
  const before = await totals();
  const clip = makeClip("海上丝路.mp4", "352x288", 3);
  const kept = await uploadFile(server, a, clip, { title: "海上丝绸之路文化节开幕" });
  await settled(server, a, kept);
  // The same file again (a copy), a file that is no video (fails), and an item that is
  // withdrawn after B took it.
  const copy = await uploadFile(server, a, clip, { title: "文化节开幕（重发）" });
  await settled(server, a, copy, ["ready", "rejected"]);
  const junk = `${clip}.bin`;
  writeFileSync(junk, Buffer.alloc(4096, 7));
  const broken = await uploadFile(server, a, junk, { title: "坏文件" });
  await settled(server, a, broken, ["failed"]);
  const gone = await uploadFile(server, a, makeClip("撤回.mp4", "352x288", 2), { title: "将被撤回的素材" });
  await settled(server, a, gone);
  for (const rendition of ["master", "proxy"]) {
    await api(server, "POST", `/api/v1/assets/${kept}/adoptions`, b, { rendition });
  }
  await api(server, "POST", `/api/v1/assets/${gone}/adoptions`, b, { rendition: "proxy" });
  await api(server, "POST", `/api/v1/assets/${gone}/withdrawal`, a, { reason: "信源有误" });
  // A correction reaches the adopter as a banner and a mark.
  await api(server, "POST", `/api/v1/assets/${kept}/corrections`, a, {
    title: "第二届海上丝绸之路文化节开幕", note: "届次补充",
  });

  const hub = await newPage(browser);
  await signIn(hub, ADMIN);
  await hub.goto(`${server.base}/analytics`);
  await hub.getByRole("heading", { name: "统计报表" }).waitFor();
  // The kept item and the withdrawn one are contributions; the copy and the failure are not.
  // B took two files of one item and one file of another: two adoptions.
  const figure = async (id) => Number((await hub.locator(id).textContent()).trim());
  assert.equal(await figure("#total-contributions"), before.contributions + 2);
  assert.equal(await figure("#total-adoptions"), before.adoptions + 2);
  const top = hub.locator("#top-items tbody tr");
  assert.equal(await top.count(), 1, "the withdrawn item is not among the most adopted");
  assert.match(await top.first().textContent(), /第二届海上丝绸之路文化节开幕/);
  await hub.locator("#definitions").getByText("只计一次").first().waitFor();
  await shot(hub, "32-statistics-defined");
  const download = hub.waitForEvent("download");
  await hub.locator("a.csv[href*='table=stations']").click();
  const csv = readFileSync(await (await download).path(), "utf8");
  assert.match(csv.split("\n")[0], /^\uFEFF代码,名称,城市,省份,供稿数,采用他台数,被采用数/);
  assert.deepEqual(hub.problems, [], "no console errors");
  await hub.context().close();

  const page = await newPage(browser);
  await signIn(page, B);
  await page.goto(`${server.base}/items/${kept}`);
  await page.locator("#corrected-banner").getByText("届次补充").waitFor();
  assert.match(await page.locator("#corrections del").first().textContent(), /^海上丝绸之路文化节开幕$/);
  await page.goto(`${server.base}/adoptions?all=made`);
  await page.locator("#adoptions .mark-corrected").first().waitFor();
  await page.locator("#adoptions .mark-withdrawn").first().waitFor();
  await shot(page, "33-adoptions-marked");
  await page.context().close();
});

test("a zone form's mistake is said once and keeps what was typed", async () => {
  const hub = await newPage(browser);
  await signIn(hub, ADMIN);
  await hub.goto(`${server.base}/zones`);
  const form = hub.locator("#new-zone");
  await form.getByLabel("标题").fill("亚运会专区");
  await form.getByLabel("简介").fill("各台亚运报道");
  await form.getByLabel("开始日期").fill("2026-12-20");
  await form.getByLabel("结束日期").fill("2026-12-10");
  await form.locator("input[data-code=wztv]").check();
  await hub.getByRole("button", { name: "创建专区" }).click();
  const alert = hub.locator("#new-zone [role=alert]");
  await alert.waitFor();
  assert.equal(await alert.count(), 1);
  assert.match(await alert.textContent(), /结束日期：早于开始日期/);
  // The message is brought into view: the page does not seem to have just reloaded.
  await hub.waitForFunction(() => {
    const r = document.querySelector("#new-zone [role=alert]").getBoundingClientRect();
    return r.top >= 0 && r.bottom <= window.innerHeight;
  }, null, { timeout: 5_000 });
  assert.equal(await form.getByLabel("标题").inputValue(), "亚运会专区");
  assert.equal(await form.getByLabel("简介").inputValue(), "各台亚运报道");
  assert.equal(await form.locator("input[data-code=wztv]").isChecked(), true);
  assert.equal(await hub.locator("#main-nav").count(), 1, "the page, with its navigation");
  await shot(hub, "34-zone-form-error");
  await hub.context().close();
});

test("at a phone's size the results are on the first screen and nothing in the header breaks", async () => {
  const phone = await newPage(browser, { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  await signIn(phone, B);
  // The index follows the catalogue within a second or so.
  const first = phone.locator(".hit").first();
  for (let i = 0; i < 20 && (await first.count()) === 0; i += 1) {
    await phone.goto(`${server.base}/exchange?q=${encodeURIComponent("文化节")}`);
    if ((await first.count()) === 0) await phone.waitForTimeout(500);
  }
  await first.waitFor();
  const box = await first.boundingBox();
  assert.ok(box.y < 844, `the first result starts at ${box.y}px`);
  assert.equal(await phone.locator("details[data-fold-narrow]").evaluate((d) => d.open), false, "filters fold away");
  // The header's words stay whole: a button or badge that wrapped would be taller than a line.
  for (const el of await phone.locator("header.site .who button, header.site .who .badge").all()) {
    const lines = await el.evaluate((e) => {
      const css = getComputedStyle(e);
      const text = e.getBoundingClientRect().height - parseFloat(css.paddingTop) - parseFloat(css.paddingBottom);
      return text / (parseFloat(css.fontSize) * 1.6);
    });
    assert.ok(lines < 1.5, `"${await el.textContent()}" stays on one line (${lines.toFixed(2)} lines)`);
  }
  await shot(phone, "35-phone-search");
  assert.deepEqual(phone.problems, [], "no console errors");
  await phone.context().close();
});
