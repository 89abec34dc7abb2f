// A hub admin signs in, creates a station, a station admin and an API token; the station
// admin signs in and sees only their station; the API docs render; English works.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ADMIN, newPage, shot, startBrowser, startServer } from "../lib/harness.mjs";

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await startBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function signIn(page, email, password) {
  await page.goto(`${server.base}/`);
  await page.waitForURL(/\/login/);
  await page.getByLabel("邮箱").fill(email);
  await page.getByLabel("密码").fill(password);
  await page.getByRole("button", { name: "登录" }).click();
}

test("hub admin creates a station, a user and a token; the station admin sees only their station", async () => {
  const page = await newPage(browser);

  await page.goto(`${server.base}/`);
  await page.waitForURL(/\/login/);
  assert.equal(await page.getAttribute("html", "lang"), "zh-CN");
  await shot(page, "01-login");

  // A wrong password gets a clear Chinese message.
  await page.getByLabel("邮箱").fill(ADMIN.email);
  await page.getByLabel("密码").fill("not-the-password");
  await page.getByRole("button", { name: "登录" }).click();
  await page.getByText("邮箱或密码不正确").waitFor();
  // That page came with status 401, which Chromium logs as a failed load: expected here.
  page.problems.length = 0;

  await signIn(page, ADMIN.email, ADMIN.password);
  await page.getByRole("heading", { name: "欢迎" }).waitFor();
  await shot(page, "02-home");

  // Create a station.
  await page.getByRole("navigation").getByRole("link", { name: "电视台" }).click();
  await page.getByText("新建电视台").click();
  const stationForm = page.getByRole("form", { name: "新建电视台" });
  await stationForm.getByLabel("台名").fill("杭州电视台");
  await stationForm.getByLabel("代码").fill("hztv");
  await stationForm.getByLabel("城市").fill("杭州");
  await stationForm.getByLabel("省份").fill("浙江");
  await stationForm.getByLabel("大区").selectOption("east");
  await stationForm.getByLabel("联系人 （选填）").fill("值班主任");
  await stationForm.getByRole("button", { name: "创建" }).click();
  await page.getByText("电视台已创建。").waitFor();
  await page.getByRole("cell", { name: "杭州电视台" }).waitFor();
  await shot(page, "03-station-created");

  // Create a station admin for it; the generated password is shown once.
  await page.getByRole("navigation").getByRole("link", { name: "用户" }).click();
  await page.getByText("新建用户").click();
  const userForm = page.getByRole("form", { name: "新建用户" });
  await userForm.getByLabel("邮箱").fill("boss@hztv.cn");
  await userForm.getByLabel("姓名").fill("王台长");
  await userForm.getByLabel("角色").selectOption("station_admin");
  await userForm.getByLabel("所属电视台").selectOption({ label: "杭州电视台 (hztv)" });
  await userForm.getByRole("button", { name: "创建" }).click();
  await page.getByText("已生成密码").waitFor();
  const password = (await page.locator("#generated-password").textContent()).trim();
  assert.equal(password.length, 16);
  await page.getByRole("cell", { name: "boss@hztv.cn" }).waitFor();
  await shot(page, "04-user-created");

  // Create an API token and use it.
  await page.getByRole("navigation").getByRole("link", { name: "API 令牌" }).click();
  await page.getByText("新建令牌").click();
  const tokenForm = page.getByRole("form", { name: "新建令牌" });
  await tokenForm.getByLabel("名称").fill("新闻导入脚本");
  await tokenForm.getByLabel("写入").check();
  await tokenForm.getByRole("button", { name: "创建令牌" }).click();
  await page.getByText("令牌已创建").waitFor();
  const secret = (await page.locator("#new-token").textContent()).trim();
  assert.match(secret, /^cx_[0-9a-f]{64}$/);
  await shot(page, "05-token-created");
  const me = await fetch(`${server.base}/api/v1/me`, { headers: { authorization: `Bearer ${secret}` } });
  assert.equal(me.status, 200);
  assert.deepEqual((await me.json()).scopes, ["read", "write"]);

  // The audit log shows what happened.
  await page.getByRole("navigation").getByRole("link", { name: "审计日志" }).click();
  await page.getByRole("cell", { name: "新建电视台" }).first().waitFor();
  await page.getByRole("cell", { name: "创建令牌" }).first().waitFor();
  await shot(page, "06-audit");

  await page.getByRole("button", { name: "退出" }).click();
  await page.getByText("已退出登录").waitFor();

  // The new station admin signs in and sees only their own station.
  await signIn(page, "boss@hztv.cn", password);
  await page.getByRole("heading", { name: "欢迎" }).waitFor();
  await page.getByRole("navigation").getByRole("link", { name: "用户" }).click();
  const roles = await page.locator("select[name=role] option").allTextContents();
  assert.ok(!roles.includes("平台管理员"), `a station admin cannot grant hub roles: ${roles}`);
  await page.getByRole("navigation").getByRole("link", { name: "电视台" }).click();
  assert.equal(await page.locator("tbody tr").count(), 1);
  await shot(page, "07-station-admin");

  assert.deepEqual(page.problems, [], "no console errors or CSP violations");
  await page.context().close();
});

test("English is one click away and the API docs render", async () => {
  const page = await newPage(browser);
  await signIn(page, ADMIN.email, ADMIN.password);
  await page.getByRole("heading", { name: "欢迎" }).waitFor();
  await page.getByRole("link", { name: "English" }).click();
  await page.getByRole("heading", { name: "Welcome" }).waitFor();
  assert.equal(await page.getAttribute("html", "lang"), "en");
  await shot(page, "08-home-en");

  await page.goto(`${server.base}/api/docs`);
  await page.locator(".swagger-ui .info .title").filter({ hasText: "cityx API" }).waitFor();
  await page.locator(".opblock-tag").filter({ hasText: "stations" }).first().waitFor();
  await shot(page, "09-api-docs");
  assert.deepEqual(page.problems, [], "no console errors or CSP violations");
  await page.context().close();
});

test("the layout works on a phone", async () => {
  const page = await newPage(browser, { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  await signIn(page, ADMIN.email, ADMIN.password);
  await page.getByRole("heading", { name: "欢迎" }).waitFor();
  const nav = page.locator("#main-nav");
  assert.equal(await nav.isVisible(), false, "the menu is folded on a narrow screen");
  await page.getByRole("button", { name: "菜单" }).click();
  await nav.getByRole("link", { name: "电视台" }).waitFor();
  await shot(page, "10-phone-menu");
  await page.context().close();
});
