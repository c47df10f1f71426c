// Runs the proxy handler against the emulator's DynamoDB with proxy events as API Gateway
// builds them: real writes, read back, each answer a {statusCode, headers, body}.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { DynamoDBClient, CreateTableCommand, ScanCommand } from "@aws-sdk/client-dynamodb";
import { startEmulator } from "./emulator.mjs";

const TABLE = "user-proxy-handler-test";
let emulator;
let ddb;
let handler;

const post = (body) => ({
  httpMethod: "POST",
  resource: "/user",
  path: "/user",
  pathParameters: null,
  body: typeof body === "string" ? body : JSON.stringify(body),
  isBase64Encoded: false,
});
const get = (uid) => ({
  httpMethod: "GET",
  resource: "/user/{uid}",
  path: `/user/${encodeURIComponent(uid)}`,
  pathParameters: { uid },
  body: null,
  isBase64Encoded: false,
});
const json = (res) => JSON.parse(res.body);

before(async () => {
  emulator = await startEmulator();
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_DYNAMODB: emulator.url,
    AWS_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: "testing",
    AWS_SECRET_ACCESS_KEY: "testing",
    TABLE_NAME: TABLE,
  });
  ddb = new DynamoDBClient({ endpoint: emulator.url });
  await ddb.send(
    new CreateTableCommand({
      TableName: TABLE,
      AttributeDefinitions: [{ AttributeName: "uid", AttributeType: "S" }],
      KeySchema: [{ AttributeName: "uid", KeyType: "HASH" }],
      BillingMode: "PAY_PER_REQUEST",
    }),
  );
  ({ handler } = await import("../index.mjs"));
});

after(async () => {
  await emulator?.stop();
});

test("a posted user is stored and read back, as the tutorial's answers say", async () => {
  const res = await handler(post({ uid: "a b/é", username: "Ada", email: "ada@example.com" }));
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers["Content-Type"], "application/json");
  assert.equal(json(res).message, "Put user Ada with email ada@example.com to DynamoDB.");
  const back = await handler(get("a b/é"));
  assert.equal(back.statusCode, 200);
  assert.deepEqual(json(back), { uid: "a b/é", username: "Ada", email: "ada@example.com" });
  const missing = await handler(get("nobody"));
  assert.equal(missing.statusCode, 404);
  assert.match(json(missing).message, /^NotFound: /);
});

test("refused requests are 400 with the reason, and write nothing", async () => {
  const before = (await ddb.send(new ScanCommand({ TableName: TABLE }))).Count;
  for (const [body, says] of [
    ["not json", /not valid JSON/],
    [[1], /JSON object/],
    [{ username: "no uid" }, /uid is required/],
    [{ uid: "" }, /non-empty/],
    [{ uid: "x\u0001" }, /control characters/],
    [{ uid: "x".repeat(2049) }, /at most 2048 bytes/],
    [{ uid: "x", email: 5 }, /email must be a string/],
  ]) {
    const res = await handler(post(body));
    assert.equal(res.statusCode, 400, JSON.stringify(body));
    assert.match(json(res).message, says);
  }
  assert.equal((await ddb.send(new ScanCommand({ TableName: TABLE }))).Count, before);
});

test("a failure is a 500 without its cause; another route is a 404", async () => {
  const saved = process.env.TABLE_NAME;
  process.env.TABLE_NAME = "no-such-table";
  try {
    const res = await handler(post({ uid: "u1" }), { awsRequestId: "r-1" });
    assert.equal(res.statusCode, 500);
    assert.equal(json(res).message, "Internal: the request failed");
  } finally {
    process.env.TABLE_NAME = saved;
  }
  const other = await handler({ httpMethod: "DELETE", resource: "/user/{uid}", pathParameters: { uid: "x" } });
  assert.equal(other.statusCode, 404);
});
