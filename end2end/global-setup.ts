// Starts a private slapd (devdir) and dirbridge on a fresh data dir, and waits
// until the server answers. State for the tests and the teardown goes to
// .e2e-state.json.
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync, openSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const root = resolve(__dirname, "..");
export const statePath = join(__dirname, ".e2e-state.json");

async function waitFor(url: string, ms: number) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    try {
      const r = await fetch(url);
      if (r.ok) return;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} did not answer within ${ms} ms`);
}

export default async function globalSetup() {
  const work = mkdtempSync(join(tmpdir(), "dirbridge-e2e-"));
  const target = process.env.CARGO_TARGET_DIR ?? join(root, "target");
  const bin = process.env.DIRBRIDGE_E2E_PROFILE ?? "debug";
  const slapdDir = join(work, "slapd");
  const info = JSON.parse(
    execFileSync(join(target, bin, "devdir"), ["start", slapdDir, "--users", "150"], { encoding: "utf8" }),
  );
  const baseURL = process.env.DIRBRIDGE_E2E_URL ?? "http://127.0.0.1:3199";
  const listen = new URL(baseURL).host;
  const adminPassword = "e2e-admin-password";
  const log = openSync(join(work, "dirbridge.log"), "w");
  const server = spawn(join(target, bin, "dirbridge"), ["serve", "--listen", listen, "--data-dir", join(work, "data")], {
    env: { ...process.env, DIRBRIDGE_ADMIN_PASSWORD: adminPassword },
    stdio: ["ignore", log, log],
    detached: true,
  });
  server.unref();
  writeFileSync(statePath, JSON.stringify({ work, slapdDir, serverPid: server.pid, adminPassword, ldap: info, devdir: join(target, bin, "devdir") }));
  await waitFor(`${baseURL}/healthz`, 30_000);
}
