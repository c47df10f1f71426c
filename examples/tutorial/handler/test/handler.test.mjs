// Runs the real handler against the emulator's DynamoDB: real writes, read back.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  DynamoDBClient,
  CreateTableCommand,
  ScanCommand,
} from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, GetCommand } from "@aws-sdk/lib-dynamodb";
import { startEmulator } from "./emulator.mjs";

const TABLE = "user-handler-test";
let emulator;
let ddb;
let handler;
let parseUser;
let parseGetUid;
let isGetEvent;

before(async () => {
  emulator = await startEmulator();
  process.env.AWS_ENDPOINT_URL_DYNAMODB = emulator.url;
  process.env.AWS_REGION = "us-east-1";
  process.env.AWS_ACCESS_KEY_ID = "testing";
  process.env.AWS_SECRET_ACCESS_KEY = "testing";
  process.env.TABLE_NAME = TABLE;
  ddb = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: emulator.url }));
  await ddb.send(
    new CreateTableCommand({
      TableName: TABLE,
      AttributeDefinitions: [{ AttributeName: "uid", AttributeType: "S" }],
      KeySchema: [{ AttributeName: "uid", KeyType: "HASH" }],
      BillingMode: "PAY_PER_REQUEST",
    }),
  );
  ({ handler, parseUser, parseGetUid, isGetEvent } = await import("../index.mjs"));
});

after(async () => {
  await emulator?.stop();
});

async function itemCount() {
  const out = await ddb.send(new ScanCommand({ TableName: TABLE, Select: "COUNT" }));
  return out.Count;
}

test("stores uid, username and email and returns the tutorial's message", async () => {
  const res = await handler({ uid: "u-1", username: "Ada", email: "ada@example.com" });
  assert.deepEqual(res, { message: "Put user Ada with email ada@example.com to DynamoDB." });
  const got = await ddb.send(new GetCommand({ TableName: TABLE, Key: { uid: "u-1" } }));
  assert.deepEqual(got.Item, { uid: "u-1", username: "Ada", email: "ada@example.com" });
});

test("a JSON string event is parsed like the object", async () => {
  await handler(JSON.stringify({ uid: "u-2", username: "Bob", email: "bob@example.com" }));
  const got = await ddb.send(new GetCommand({ TableName: TABLE, Key: { uid: "u-2" } }));
  assert.equal(got.Item.username, "Bob");
});

test("a write overwrites the same uid", async () => {
  await handler({ uid: "u-3", username: "Old", email: "old@example.com" });
  await handler({ uid: "u-3", username: "New", email: "new@example.com" });
  const got = await ddb.send(new GetCommand({ TableName: TABLE, Key: { uid: "u-3" } }));
  assert.equal(got.Item.username, "New");
});

const badInputs = [
  ["missing uid", { username: "x", email: "y" }, /uid is required/],
  ["null uid", { uid: null }, /uid is required/],
  ["numeric uid", { uid: 42, username: "x" }, /uid must be a non-empty string/],
  ["uid over 2048 bytes", { uid: "é".repeat(1025) }, /at most 2048 bytes/],
  ["uid with a control character", { uid: "a\u0007b" }, /control characters/],
  ["empty uid", { uid: "" }, /uid must be a non-empty string/],
  ["numeric username", { uid: "u-9", username: 7 }, /username must be a string/],
  ["object email", { uid: "u-9", email: { a: 1 } }, /email must be a string/],
  ["array body", [{ uid: "u-9" }], /must be a JSON object/],
  ["null body", null, /must be a JSON object/],
  ["malformed JSON string", "{uid: u-9", /not valid JSON/],
  ["number body", 5, /must be a JSON object/],
];

for (const [name, event, pattern] of badInputs) {
  test(`bad input (${name}) throws a BadRequest error and writes nothing`, async () => {
    const before = await itemCount();
    await assert.rejects(handler(event), (err) => {
      assert.match(err.message, /^BadRequest: /);
      assert.match(err.message, pattern);
      assert.doesNotMatch(err.message, /\n/);
      return true;
    });
    assert.equal(await itemCount(), before);
  });
}

test("parseUser drops fields it does not know", () => {
  assert.deepEqual(parseUser({ uid: "a", admin: true }), { uid: "a" });
});

test("a user with only a uid is stored as it is, and the message leaves the rest blank", async () => {
  const res = await handler({ uid: "only-uid" });
  assert.deepEqual(res, { message: "Put user  with email  to DynamoDB." });
  const got = await ddb.send(new GetCommand({ TableName: TABLE, Key: { uid: "only-uid" } }));
  assert.deepEqual(got.Item, { uid: "only-uid" });
});

test("a uid of exactly 2048 bytes is accepted", () => {
  assert.equal(parseUser({ uid: "a".repeat(2048) }).uid.length, 2048);
});

/** Runs fn with console.error captured; returns what it logged. */
async function capturingErrors(fn) {
  const logged = [];
  const saved = console.error;
  console.error = (...args) => logged.push(args.map(String).join(" "));
  try {
    await fn();
  } finally {
    console.error = saved;
  }
  return logged;
}

for (const [name, env, event] of [
  ["a missing TABLE_NAME", undefined, { uid: "u-x" }],
  ["a DynamoDB failure on put (no such table)", "no-such-table", { uid: "u-y" }],
  ["a DynamoDB failure on get (no such table)", "no-such-table", { operation: "getUser", uid: "u-y" }],
]) {
  test(`${name} is an Internal error naming the request, with the cause logged`, async () => {
    const saved = process.env.TABLE_NAME;
    if (env === undefined) delete process.env.TABLE_NAME;
    else process.env.TABLE_NAME = env;
    try {
      const logged = await capturingErrors(() =>
        assert.rejects(handler(event, { awsRequestId: "req-42" }), (err) => {
          assert.match(err.message, /^Internal: /);
          assert.match(err.message, /req-42/);
          assert.doesNotMatch(err.message, /\n/);
          return true;
        }),
      );
      assert.equal(logged.length, 1);
      assert.match(logged[0], env === undefined ? /TABLE_NAME/ : /resource|not found|table/i);
    } finally {
      process.env.TABLE_NAME = saved;
    }
  });
}

test("a user over DynamoDB's 400 KB item limit is a BadRequest, not an Internal error", async () => {
  const big = { uid: "u-big", username: "x".repeat(410 * 1024) };
  await assert.rejects(handler(big, { awsRequestId: "req-big" }), (err) => {
    assert.match(err.message, /^BadRequest: .*400 KB/);
    return true;
  });
});

test("an Internal error without a context names an unknown request", async () => {
  const saved = process.env.TABLE_NAME;
  delete process.env.TABLE_NAME;
  try {
    await capturingErrors(() =>
      assert.rejects(handler({ uid: "u-x" }), /^Internal: .*request unknown$/),
    );
  } finally {
    process.env.TABLE_NAME = saved;
  }
});

test("GET returns the stored item", async () => {
  await handler({ uid: "g-1", username: "Grace", email: "grace@example.com" });
  const item = await handler({ operation: "getUser", uid: "g-1" });
  assert.deepEqual(item, { uid: "g-1", username: "Grace", email: "grace@example.com" });
});

test("GET decodes the URL-encoded uid of the request template", async () => {
  const uid = "a b+c/é%";
  await handler({ uid, username: "Odd" });
  // What Java's URLEncoder (the template's $util.urlEncode) makes of it.
  const encoded = encodeURIComponent(uid).replace(/%20/g, "+");
  const item = await handler({ operation: "getUser", uid: encoded });
  assert.equal(item.username, "Odd");
  assert.equal(item.uid, uid);
});

test("DELETE removes the stored item, and a second DELETE is a NotFound error", async () => {
  await handler({ uid: "d-1", username: "Dora", email: "dora@example.com" });
  const out = await handler({ operation: "deleteUser", uid: "d-1" });
  assert.deepEqual(out, { message: "Deleted user d-1." });
  await assert.rejects(handler({ operation: "getUser", uid: "d-1" }), { message: /^NotFound: / });
  await assert.rejects(handler({ operation: "deleteUser", uid: "d-1" }), (err) => {
    assert.match(err.message, /^NotFound: no user with uid "d-1"$/);
    return true;
  });
  await assert.rejects(handler({ operation: "deleteUser" }), { message: /^BadRequest: uid is required$/ });
});

test("GET of an unknown uid is a NotFound error", async () => {
  await assert.rejects(handler({ operation: "getUser", uid: "nobody" }), (err) => {
    assert.match(err.message, /^NotFound: no user with uid "nobody"$/);
    return true;
  });
});

for (const [name, event, pattern] of [
  ["no uid", { operation: "getUser" }, /uid is required/],
  ["a numeric uid", { operation: "getUser", uid: 5 }, /uid is required/],
  ["an empty uid", { operation: "getUser", uid: "" }, /non-empty/],
  ["a bad escape", { operation: "getUser", uid: "%E0%A4%A" }, /not a valid URL-encoded/],
  ["a control character", { operation: "getUser", uid: "a%07b" }, /control characters/],
  ["an over-long uid", { operation: "getUser", uid: "x".repeat(2049) }, /2048 bytes/],
]) {
  test(`GET with ${name} is a BadRequest`, async () => {
    await assert.rejects(handler(event), (err) => {
      assert.match(err.message, /^BadRequest: /);
      assert.match(err.message, pattern);
      return true;
    });
  });
}

test("only the GET route's event is a get", () => {
  assert.equal(isGetEvent({ operation: "getUser", uid: "x" }), true);
  assert.equal(isGetEvent({ operation: "putUser", uid: "x" }), false);
  assert.equal(isGetEvent([{ operation: "getUser" }]), false);
  assert.equal(isGetEvent(null), false);
  assert.equal(isGetEvent("getUser"), false);
  assert.equal(parseGetUid({ uid: "a+b" }), "a b");
});
