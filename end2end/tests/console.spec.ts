import { test, expect, Page } from "@playwright/test";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const state = JSON.parse(readFileSync(join(__dirname, "..", ".e2e-state.json"), "utf8"));
const ldap = state.ldap;

/** Fails the test on console errors and failed requests, except those a step expects. */
function watch(page: Page) {
  const problems: string[] = [];
  const expected: RegExp[] = [];
  page.on("console", (msg) => {
    if (msg.type() !== "error") return;
    const where = msg.location().url ?? "";
    const text = `${msg.text()} @ ${where}`;
    if (!expected.some((re) => re.test(text))) problems.push(`console: ${text}`);
  });
  page.on("requestfailed", (req) => problems.push(`request failed: ${req.url()} ${req.failure()?.errorText}`));
  page.on("response", (res) => {
    const line = `${res.status()} ${res.url()}`;
    if (res.status() >= 400 && !expected.some((re) => re.test(line))) problems.push(`response: ${line}`);
  });
  return { problems, expect: (re: RegExp) => expected.push(re) };
}

async function hydrated(page: Page) {
  await expect(page.locator("#app")).toHaveAttribute("data-hydrated", "true");
}

async function signIn(page: Page) {
  await page.goto("/login");
  await hydrated(page);
  await page.fill("#password", state.adminPassword);
  await page.click("button[type=submit]");
  await expect(page.getByRole("heading", { name: "User repositories" })).toBeVisible();
}

async function shot(page: Page, name: string) {
  await page.screenshot({ path: join(__dirname, "..", "screenshots", `${name}.png`), fullPage: true });
}

test("sign in, create, test, preview, edit, validate and delete a repository", async ({ page }) => {
  const watcher = watch(page);

  // Every page needs a session: the console sends us to sign in.
  await page.goto("/");
  await expect(page).toHaveURL(/\/login$/);
  // The page's policy allows its own nonce'd hydration scripts and the wasm
  // only; the watcher fails the test on any violation it reports.
  const page_response = await page.request.get("/login");
  const policy = page_response.headers()["content-security-policy"] ?? "";
  expect(policy).toMatch(/script-src 'self' 'nonce-[A-Za-z0-9+/=_-]+' 'wasm-unsafe-eval'/);
  expect(policy).toContain("frame-ancestors 'none'");
  expect(page_response.headers()["x-content-type-options"]).toBe("nosniff");
  await hydrated(page);
  await page.fill("#password", "wrong password");
  watcher.expect(/401 .*\/_sfn\/sign_in|status of 401/);
  await page.click("button[type=submit]");
  await expect(page.locator(".login .field-error")).toContainText("wrong username or password");
  await page.fill("#password", state.adminPassword);
  await page.click("button[type=submit]");
  await expect(page.getByRole("heading", { name: "User repositories" })).toBeVisible();
  await hydrated(page);
  await shot(page, "01-repositories-empty");

  await page.getByRole("link", { name: "New repository" }).click();
  await expect(page.getByRole("heading", { name: "New repository" })).toBeVisible();
  await page.click('[data-preset="openldap"]');
  await expect(page.locator('[id="users.uuidAttribute"]')).toHaveValue("entryUUID");
  await page.fill('[id="name"]', "E2E Corp");
  await page.fill('[id="id"]', "e2e-corp");
  await page.fill('[id="connection.servers"]', `ldap://localhost:${ldap.port}`);
  await page.check('[id="connection.startTls"]');
  // Turning certificate verification off is shown as insecure.
  await expect(page.locator("#tls-insecure")).toHaveCount(0);
  await page.uncheck('[id="connection.verifyTls"]');
  await expect(page.locator("#tls-insecure")).toContainText("Insecure");
  await page.check('[id="connection.verifyTls"]');
  await expect(page.locator("#tls-insecure")).toHaveCount(0);
  await page.fill('[id="connection.caCertificate"]', ldap.caPem);
  await page.fill('[id="connection.bindDn"]', ldap.adminDn);
  await page.fill('[id="connection.bindPassword"]', ldap.adminPassword);
  await page.fill('[id="users.baseDn"]', ldap.baseDn);
  await page.fill('[id="users.usersDn"]', `ou=People,${ldap.baseDn}`);
  await page.fill('[id="groups.groupsDn"]', `ou=Groups,${ldap.baseDn}`);

  // Test the unsaved form: every step green, TLS details shown.
  await page.fill("#test-username", ldap.sampleUser);
  await page.fill("#test-password", ldap.userPassword);
  await page.click("#test");
  const report = page.locator(".test-report");
  await expect(report).toHaveAttribute("data-ok", "true");
  for (const step of ["connect", "tls", "bind", "baseDn", "users", "login"]) {
    await expect(report.locator(`li.step.ok[data-step="${step}"]`)).toBeVisible();
  }
  await expect(report.locator('li[data-step="tls"] .detail')).toContainText("dirbridge test CA");
  await expect(report.locator("[data-detected-vendor=openldap]")).toBeVisible();

  await page.click("#preview");
  const rows = page.locator("#preview-table tbody tr");
  await expect(rows.first()).toBeVisible();
  expect(await rows.count()).toBe(20);
  await expect(page.locator("#preview-table")).toContainText("Jürgen");
  await shot(page, "02-tested-and-previewed");

  await page.click("#save");
  await expect(page).toHaveURL(/\/repositories\/e2e-corp$/);
  await expect(page.getByRole("heading", { name: /E2E Corp/ })).toBeVisible();
  await hydrated(page);

  // Edit a field and save: a new version.
  await page.fill('[id="name"]', "E2E Corp (edited)");
  await page.click("#save");
  await expect(page.locator(".alert.ok")).toContainText("Saved (version 2)");

  // A bad DN: the error sits next to the field and the input is kept.
  watcher.expect(/400 .*\/_sfn\/replace_repository|status of 400/);
  await page.fill('[id="users.baseDn"]', "dc=example,");
  await page.click("#save");
  const fieldError = page.locator('.field-error[data-field="users.baseDn"]');
  await expect(fieldError).toContainText("is not a valid DN");
  await expect(page.locator('[id="users.baseDn"]')).toHaveValue("dc=example,");
  await shot(page, "03-validation-error");

  // The stored repository was not touched by the rejected save.
  await page.goto("/");
  await expect(page.locator("#repositories")).toContainText("E2E Corp (edited)");
  await hydrated(page);
  await shot(page, "04-repositories-list");
  await page.getByRole("link", { name: "E2E Corp (edited)" }).click();
  await hydrated(page);
  await expect(page.locator('[id="users.baseDn"]')).toHaveValue(ldap.baseDn);

  await page.click("#delete");
  await expect(page.getByRole("alertdialog")).toContainText("Delete this repository?");
  await page.click("#confirm-delete");
  await expect(page).toHaveURL(/\/$/);
  await expect(page.locator("#repositories, .empty")).toBeVisible();
  await expect(page.locator("#repositories")).toHaveCount(0, { timeout: 5000 }).catch(async () => {
    // The list may still show it in state "deleting" for a moment.
    await expect(page.locator('#repositories tr[data-id="e2e-corp"] .badge')).toHaveText("deleting");
  });

  expect(watcher.problems).toEqual([]);
});

test("the console is usable at phone width", async ({ page }) => {
  const watcher = watch(page);
  await page.setViewportSize({ width: 390, height: 844 });
  await signIn(page);
  // Let the list page finish its own requests: navigating away mid-request
  // aborts them, which the watcher rightly reports.
  await hydrated(page);
  await page.waitForLoadState("networkidle");
  await page.goto("/repositories/new");
  await hydrated(page);
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  expect(width).toBeLessThanOrEqual(390);
  await shot(page, "05-phone-new-repository");
  expect(watcher.problems).toEqual([]);
});

test("sync a repository from the console and open a synced user", async ({ page }) => {
  const watcher = watch(page);
  await signIn(page);

  // The console session also authenticates the REST API.
  const created = await page.request.post("/api/v1/tenants/default/repositories", {
    data: {
      id: "e2e-sync",
      name: "E2E Sync",
      vendor: "openldap",
      connection: { servers: [ldap.ldapUrl], bindDn: ldap.adminDn, bindPassword: ldap.adminPassword },
      users: { baseDn: ldap.baseDn, usersDn: `ou=People,${ldap.baseDn}` },
      groups: { groupsDn: `ou=Groups,${ldap.baseDn}`, objectClasses: ["groupOfNames"], nameAttribute: "cn", memberAttribute: "member" },
      sync: { pageSize: 5 },
    },
  });
  expect(created.status()).toBe(201);

  await page.goto("/repositories/e2e-sync");
  await hydrated(page);
  await expect(page.locator("#sync-panel")).toContainText("No sync has run yet.");
  await expect(page.locator("#next-runs")).toContainText("not scheduled");
  // Progress arrives as server-sent events: record every value the bar shows.
  await page.evaluate(() => {
    const seen: string[] = [];
    (window as any).progressSeen = seen;
    new MutationObserver(() => {
      const bar = document.querySelector("#sync-panel .progress");
      const value = bar?.getAttribute("aria-valuenow");
      if (value && seen[seen.length - 1] !== value) seen.push(value);
    }).observe(document.body, { subtree: true, childList: true, attributes: true });
  });
  const events = page.waitForRequest((r) => r.url().includes("/sync-runs/") && r.url().endsWith("/events"));
  await page.click("#sync-now");
  await events;
  const bar = page.locator("#sync-panel .progress");
  await expect(bar).toHaveAttribute("aria-valuenow", "100");
  await expect(bar).toContainText("succeeded: 151 users read");
  const progressSeen: string[] = await page.evaluate(() => (window as any).progressSeen);
  expect(progressSeen[progressSeen.length - 1]).toBe("100");
  expect(progressSeen.every((v, i) => i === 0 || Number(v) >= Number(progressSeen[i - 1]))).toBe(true);
  const run = page.locator('#sync-runs tbody tr[data-state="succeeded"]').first();
  await expect(run).toBeVisible();
  await expect(run.locator("td").nth(3)).toHaveText("151");
  await expect(run.locator("td").nth(10)).toContainText("7");
  await shot(page, "06-synced");

  // A changed sync reads only the changes (none here) by content synchronisation.
  await page.click("#sync-changed");
  const changed = page.locator('#sync-runs tbody tr[data-mode="changed"][data-state="succeeded"]').first();
  await expect(changed).toBeVisible();
  await expect(changed.locator("td").nth(1)).toContainText("syncrepl");
  await expect(changed.locator("td").nth(3)).toHaveText("0");
  await expect(page.locator("#run-chart rect")).toHaveCount(2);
  await shot(page, "06b-changed-sync");

  await page.getByRole("link", { name: "Groups" }).click();
  await hydrated(page);
  await expect(page.locator("#groups-total")).toContainText("7 groups");
  await expect(page.locator("#groups")).toContainText("All Staff");

  await page.getByRole("link", { name: "Users" }).click();
  await hydrated(page);
  await expect(page.locator("#users-total")).toContainText("151 users");
  await page.fill("#user-search", "jurgen");
  const link = page.locator("#users tbody tr a").first();
  await expect(link).toContainText("jurgen.");
  await link.click();
  await expect(page.locator("#user-dn")).toContainText("ou=People,dc=example,dc=org");
  await expect(page.locator("#user-attributes")).toContainText("phone");
  // Direct and nested groups.
  await expect(page.locator("#user-groups")).toContainText("All Staff");
  await hydrated(page);
  await page.click("#resync-user");
  await expect(page.locator(".alert.ok")).toContainText("Re-read from the directory.");
  await shot(page, "07-user");
  expect(watcher.problems).toEqual([]);
});

test("test a directory user's login from the repository page and the user page", async ({ page }) => {
  const watcher = watch(page);
  await signIn(page);
  const created = await page.request.post("/api/v1/tenants/default/repositories", {
    data: {
      id: "e2e-login",
      name: "E2E Login",
      vendor: "openldap",
      connection: { servers: [ldap.ldapUrl], bindDn: ldap.adminDn, bindPassword: ldap.adminPassword },
      users: { baseDn: ldap.baseDn, usersDn: `ou=People,${ldap.baseDn}` },
      groups: { groupsDn: `ou=Groups,${ldap.baseDn}`, membershipAttribute: "memberOf" },
      assignments: {
        roles: [
          { roleId: "RL_ENGINEERING", mappingType: "OU", groupDnOrOu: `ou=Engineering,ou=People,${ldap.baseDn}` },
          { roleId: "admin", mappingType: "GROUP", groupDnOrOu: `cn=Admins,ou=Groups,${ldap.baseDn}` },
        ],
      },
    },
  });
  expect(created.status()).toBe(201);

  await page.goto("/repositories/e2e-login");
  await hydrated(page);
  const box = page.locator("#test-login");
  await box.locator("#test-login-username").fill(ldap.sampleUser);
  await box.locator("#test-login-password").fill("not the password");
  await box.locator("#test-login-run").click();
  await expect(box.locator('[data-step="bind"]')).toHaveClass(/fail/);
  await expect(box.locator(".alert.error")).toContainText("invalid username or password");

  await box.locator("#test-login-password").fill(ldap.userPassword);
  await box.locator("#test-login-run").click();
  for (const step of ["find user", "bind", "account state", "assignments"]) {
    await expect(box.locator(`[data-step="${step}"]`)).toHaveClass(/ok/);
  }
  await expect(box.locator("#test-login-roles")).toContainText("RL_ENGINEERING");
  await expect(box.locator("#test-login-roles")).toContainText("admin");
  await shot(page, "08-test-login");

  // The login stored the user (auto-creation): the user page has the box too.
  await page.getByRole("link", { name: "Users" }).click();
  await hydrated(page);
  await page.fill("#user-search", ldap.sampleUser);
  // The same person was synced by the earlier test's repository too.
  const row = page.locator("#users tbody tr", { hasText: ldap.sampleUser }).filter({ hasText: "e2e-login" });
  await row.locator("a").first().click();
  await hydrated(page);
  await expect(page.locator("#test-login-username")).toHaveValue(ldap.sampleUser);
  await page.fill("#test-login-password", ldap.userPassword);
  await page.click("#test-login-run");
  await expect(page.locator("#test-login-roles")).toContainText("RL_ENGINEERING");
  expect(watcher.problems).toEqual([]);
});

test("follow a referral to a second directory with its own credentials", async ({ page }) => {
  const watcher = watch(page);
  const remote = state.remote;
  await signIn(page);
  await page.goto("/repositories/new");
  await hydrated(page);
  await page.click('[data-preset="openldap"]');
  await page.fill('[id="name"]', "E2E Referrals");
  await page.fill('[id="id"]', "e2e-referrals");
  await page.fill('[id="connection.servers"]', ldap.ldapUrl);
  await page.fill('[id="connection.bindDn"]', ldap.adminDn);
  await page.fill('[id="connection.bindPassword"]', ldap.adminPassword);
  await page.fill('[id="users.baseDn"]', ldap.baseDn);
  await page.fill('[id="users.usersDn"]', `ou=People,${ldap.baseDn}`);
  await page.fill('[id="users.filters"]', `(|(uid=remote.one)(uid=${ldap.sampleUser}))`);

  // Not followed: only the home directory's person.
  await page.click("#preview");
  await expect(page.locator("#preview-table tbody tr")).toHaveCount(1);

  // Followed to the listed server, bound with its own password.
  await page.selectOption('[id="connection.referrals.strategy"]', "followListed");
  await page.fill('[id="connection.referrals.servers"]', `${remote.ldapUrl} | ${ldap.adminDn}`);
  const password = page.locator('[id="connection.referrals.servers[0].bindPassword"]');
  await expect(password).toHaveAttribute("placeholder", "not set");
  await password.fill(ldap.adminPassword);
  await page.click("#preview");
  await expect(page.locator("#preview-table tbody tr")).toHaveCount(2);
  await expect(page.locator("#preview-table")).toContainText("remote.one");

  await page.fill("#test-username", "remote.one");
  await page.fill("#test-password", ldap.userPassword);
  await page.click("#test");
  await expect(page.locator(".test-report")).toHaveAttribute("data-ok", "true");
  await expect(page.locator('.test-report li.step.ok[data-step="login"]')).toBeVisible();
  await shot(page, "09-referrals");

  await page.click("#save");
  await expect(page).toHaveURL(/\/repositories\/e2e-referrals$/);
  await hydrated(page);
  // The password is write-only: stored, never shown.
  await expect(password).toHaveValue("");
  await expect(password).toHaveAttribute("placeholder", "stored — leave empty to keep");
  // The stored repository's secrets reach the referred server.
  await page.click("#preview");
  await expect(page.locator("#preview-table")).toContainText("remote.one");
  expect(watcher.problems).toEqual([]);
});

test.describe("without JavaScript", () => {
  test.use({ javaScriptEnabled: false });

  test("sign-in and reading work from the server-rendered HTML", async ({ page }) => {
    await page.goto("/");
    await expect(page).toHaveURL(/\/login$/);
    await page.fill("#password", state.adminPassword);
    await page.click("button[type=submit]");
    await expect(page.getByRole("heading", { name: "User repositories" })).toBeVisible();
    await page.goto("/repositories/new");
    // Server-rendered values of the preset are in the HTML.
    await expect(page.locator('[id="users.uuidAttribute"]')).toHaveValue("entryUUID");
    await expect(page.locator("#app")).toHaveAttribute("data-hydrated", "false");
  });
});
