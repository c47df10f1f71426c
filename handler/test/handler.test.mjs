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
  ({ handler, parseUser } = await import("../index.mjs"));
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

test("a missing TABLE_NAME is a server fault, not a BadRequest", async () => {
  const saved = process.env.TABLE_NAME;
  delete process.env.TABLE_NAME;
  try {
    await assert.rejects(handler({ uid: "u-x" }), (err) => {
      assert.doesNotMatch(err.message, /^BadRequest:/);
      return true;
    });
  } finally {
    process.env.TABLE_NAME = saved;
  }
});

test("a DynamoDB failure (no such table) is not a BadRequest", async () => {
  const saved = process.env.TABLE_NAME;
  process.env.TABLE_NAME = "no-such-table";
  try {
    await assert.rejects(handler({ uid: "u-y" }), (err) => {
      assert.doesNotMatch(err.message, /^BadRequest:/);
      return true;
    });
  } finally {
    process.env.TABLE_NAME = saved;
  }
});
