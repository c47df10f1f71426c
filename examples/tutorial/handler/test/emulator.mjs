// Starts the pinned AWS emulator (moto_server) on a free port: from SERVERLESS_CLI_VENV, else
// the nearest .venv above this folder (serverless-cli's checkout has one from
// scripts/setup-emulator), else moto_server on the PATH (`pip install "moto[server]"`).
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

/** The moto_server to run. */
function motoServer() {
  if (process.env.SERVERLESS_CLI_VENV) {
    return path.join(process.env.SERVERLESS_CLI_VENV, "bin", "moto_server");
  }
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const bin = path.join(dir, ".venv", "bin", "moto_server");
    if (existsSync(bin)) return bin;
    const up = path.dirname(dir);
    if (up === dir) return "moto_server";
    dir = up;
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function waitUntilUp(url, child, deadlineMs) {
  const end = Date.now() + deadlineMs;
  while (Date.now() < end) {
    if (child.exitCode !== null) throw new Error(`moto_server exited with ${child.exitCode}`);
    try {
      const res = await fetch(`${url}/moto-api/`);
      if (res.status < 500) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`moto_server did not answer at ${url} within ${deadlineMs} ms`);
}

/** Starts moto_server; resolves to { url, stop }. */
export async function startEmulator() {
  const bin = motoServer();
  if (bin !== "moto_server" && !existsSync(bin)) {
    throw new Error(`${bin} is missing: run scripts/setup-emulator first`);
  }
  const port = await freePort();
  const child = spawn(bin, ["-H", "127.0.0.1", "-p", String(port)], {
    stdio: ["ignore", "ignore", "ignore"],
  });
  const spawned = new Promise((resolve, reject) => {
    child.once("spawn", resolve);
    child.once("error", (e) =>
      reject(new Error(`cannot start ${bin} (${e.code}): install moto[server] or set SERVERLESS_CLI_VENV`)),
    );
  });
  await spawned;
  const url = `http://127.0.0.1:${port}`;
  await waitUntilUp(url, child, 20000);
  return {
    url,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", resolve);
        child.kill("SIGTERM");
      }),
  };
}
