import { execFileSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { statePath } from "./global-setup";

export default async function globalTeardown() {
  const state = JSON.parse(readFileSync(statePath, "utf8"));
  try {
    process.kill(state.serverPid, "SIGINT");
  } catch {
    /* already gone */
  }
  for (const dir of [state.slapdDir, state.remoteDir]) {
    try {
      if (dir) execFileSync(state.devdir, ["stop", dir]);
    } catch {
      /* already stopped */
    }
  }
  if (!process.env.KEEP_E2E) rmSync(state.work, { recursive: true, force: true });
  rmSync(statePath, { force: true });
}
