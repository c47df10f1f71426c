// The stand-in for Lambda's Node.js runtime that `serverless-cli serve` runs the handler in.
//
// One long-lived process: it loads the handler module once (so module state lives on between
// requests, as in a warm Lambda sandbox), then takes one request at a time from stdin and
// answers on stdout. Protocol, one JSON document per line:
//   out: {"type":"ready"} | {"type":"load-error", errorType, errorMessage, stackTrace}
//   in:  {"id", "event", "deadline"}          (deadline: epoch milliseconds)
//   out: {"type":"result", "id", "ok": value} | {"type":"result", "id", "error": {...}}
// The handler's own output never reaches stdout: console.* and process.stdout go to stderr,
// each line prefixed, like Lambda's, with the time, the request id and the level.
//
// Arguments: <code dir> <handler, e.g. index.handler> <function name>
import { createInterface } from "node:readline";
import { AsyncLocalStorage } from "node:async_hooks";
import { format } from "node:util";
import { pathToFileURL } from "node:url";
import { existsSync } from "node:fs";
import path from "node:path";

const [codeDir, handlerSpec, functionName] = process.argv.slice(2);
const protocol = process.stdout.write.bind(process.stdout);
const stderr = process.stderr.write.bind(process.stderr);
const requestIds = new AsyncLocalStorage();

function send(message) {
  protocol(`${JSON.stringify(message)}\n`);
}

// Everything the handler prints goes to stderr.
process.stdout.write = (chunk, encoding, callback) => process.stderr.write(chunk, encoding, callback);
const LEVELS = { log: "INFO", info: "INFO", warn: "WARN", error: "ERROR", debug: "DEBUG", trace: "TRACE" };
for (const [method, level] of Object.entries(LEVELS)) {
  console[method] = (...args) => {
    const id = requestIds.getStore() ?? "init";
    const text = format(...args).replace(/\n/g, "\n\t");
    stderr(`${new Date().toISOString()}\t${id}\t${level}\t${text}\n`);
  };
}

// Warnings: Node's own printer would write each one over several console.error lines. The
// handler's warnings become one WARN line each; the AWS SDK's notice that it will drop Node <
// 22 is left out (serve says it once, in one line, for all the workers).
process.removeAllListeners("warning");
process.on("warning", (w) => {
  const text = `${w.name}: ${w.message}`;
  if (text.includes("NodeVersionSupportWarning")) return;
  const id = requestIds.getStore() ?? "init";
  stderr(`${new Date().toISOString()}\t${id}\tWARN\t${text.replace(/\s+/g, " ")}\n`);
});

function errorDocument(err) {
  if (err instanceof Error) {
    const stack = String(err.stack ?? "").split("\n").slice(1).map((l) => l.trim());
    return { errorType: err.name || "Error", errorMessage: err.message, stackTrace: stack };
  }
  return { errorType: typeof err, errorMessage: String(err), stackTrace: [] };
}

function named(name, message) {
  const err = new Error(message);
  err.name = name;
  return err;
}

async function loadHandler() {
  const dot = handlerSpec.lastIndexOf(".");
  const moduleName = handlerSpec.slice(0, dot);
  const exportName = handlerSpec.slice(dot + 1);
  const file = [".mjs", ".js", ".cjs"]
    .map((ext) => path.join(codeDir, moduleName + ext))
    .find((f) => existsSync(f));
  if (!file) {
    throw named("Runtime.ImportModuleError", `Cannot find module '${moduleName}' in ${codeDir}`);
  }
  let mod;
  try {
    mod = await import(pathToFileURL(file).href);
  } catch (err) {
    throw named("Runtime.ImportModuleError", `${path.basename(file)}: ${err?.message ?? err}`);
  }
  const fn = mod[exportName] ?? mod.default?.[exportName];
  if (typeof fn !== "function") {
    throw named("Runtime.HandlerNotFound", `${handlerSpec} is undefined or not exported`);
  }
  return fn;
}

/** Calls the handler, async or callback style. */
function invoke(fn, event, context) {
  if (fn.length >= 3) {
    return new Promise((resolve, reject) => {
      const done = (err, result) => (err ? reject(err) : resolve(result));
      const returned = fn(event, context, done);
      if (returned && typeof returned.then === "function") returned.then(resolve, reject);
    });
  }
  return Promise.resolve().then(() => fn(event, context));
}

let handler;
try {
  handler = await loadHandler();
} catch (err) {
  send({ type: "load-error", ...errorDocument(err) });
  process.exitCode = 1;
}

if (handler) {
  send({ type: "ready" });
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (!line.trim()) continue;
    const { id, event, deadline } = JSON.parse(line);
    const context = {
      awsRequestId: id,
      functionName,
      functionVersion: "$LATEST",
      memoryLimitInMB: "128",
      logGroupName: `/aws/lambda/${functionName}`,
      callbackWaitsForEmptyEventLoop: true,
      getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    };
    let answer;
    try {
      const result = await requestIds.run(id, () => invoke(handler, event, context));
      // What Lambda returns is JSON: undefined becomes null, and a value that does not
      // serialize is an error.
      answer = { type: "result", id, ok: JSON.parse(JSON.stringify(result ?? null)) };
    } catch (err) {
      const doc = errorDocument(err);
      // Lambda logs every failed invocation this way.
      requestIds.run(id, () => console.error("Invoke Error", JSON.stringify(doc)));
      answer = { type: "result", id, error: doc };
    }
    send(answer);
  }
}
