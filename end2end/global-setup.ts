// Starts a private slapd (devdir), a second one that the first refers to for
// ou=Remote,ou=People (referral tests), and dirbridge on a fresh data dir, and
// waits until the server answers. State for the tests and the teardown goes to
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
  const remoteDir = join(work, "remote");
  const remote = JSON.parse(
    execFileSync(join(target, bin, "devdir"), ["start", remoteDir, "--users", "0"], { encoding: "utf8" }),
  );
  const people = `ou=People,${info.baseDn}`;
  const modify = (url: string, ldif: string) =>
    execFileSync("ldapmodify", ["-x", "-H", url, "-D", info.adminDn, "-w", info.adminPassword], { input: ldif });
  modify(
    remote.ldapUrl,
    `dn: ou=Remote,${people}\nchangetype: add\nobjectClass: organizationalUnit\nou: Remote\n\n` +
      `dn: uid=remote.one,ou=Remote,${people}\nchangetype: add\nobjectClass: inetOrgPerson\nuid: remote.one\n` +
      `cn: Remote One\nsn: One\ngivenName: Remote\nmail: remote.one@remote.example.org\nuserPassword: ${info.userPassword}\n`,
  );
  modify(
    info.ldapUrl,
    `dn: ou=Remote,${people}\nchangetype: add\nobjectClass: referral\nobjectClass: extensibleObject\nou: Remote\n` +
      `ref: ${remote.ldapUrl}/ou=Remote,${people}\n`,
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
  writeFileSync(statePath, JSON.stringify({ work, slapdDir, remoteDir, remote, serverPid: server.pid, adminPassword, ldap: info, devdir: join(target, bin, "devdir") }));
  await waitFor(`${baseURL}/healthz`, 30_000);
}
