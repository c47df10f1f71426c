// Runs the shop's two functions against the emulator's DynamoDB, with the events the stack
// file's request templates make.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { DynamoDBClient, CreateTableCommand } from "@aws-sdk/client-dynamodb";
import { startEmulator } from "../../../tutorial/handler/test/emulator.mjs";

let emulator;
let users;
let orders;
let newOid;

const ctx = { awsRequestId: "req-1" };
/** Checks a rejection's message. */
const says = (re) => (err) => re.test(err.message);

before(async () => {
  emulator = await startEmulator();
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_DYNAMODB: emulator.url,
    AWS_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: "testing",
    AWS_SECRET_ACCESS_KEY: "testing",
    USERS_TABLE: "users-test",
    ORDERS_TABLE: "orders-test",
  });
  const ddb = new DynamoDBClient({ endpoint: emulator.url });
  await ddb.send(
    new CreateTableCommand({
      TableName: "users-test",
      AttributeDefinitions: [{ AttributeName: "uid", AttributeType: "S" }],
      KeySchema: [{ AttributeName: "uid", KeyType: "HASH" }],
      BillingMode: "PAY_PER_REQUEST",
    }),
  );
  await ddb.send(
    new CreateTableCommand({
      TableName: "orders-test",
      AttributeDefinitions: [
        { AttributeName: "uid", AttributeType: "S" },
        { AttributeName: "oid", AttributeType: "S" },
      ],
      KeySchema: [
        { AttributeName: "uid", KeyType: "HASH" },
        { AttributeName: "oid", KeyType: "RANGE" },
      ],
      BillingMode: "PAY_PER_REQUEST",
    }),
  );
  users = (await import("../users.mjs")).handler;
  ({ handler: orders, newOid } = await import("../orders.mjs"));
});

after(async () => {
  await emulator?.stop();
});

test("a user is created, read back (its uid URL-encoded by the template) and deleted", async () => {
  const made = await users({ operation: "createUser", user: { uid: "a b", name: "Ada" } }, ctx);
  assert.deepEqual(made, { uid: "a b", name: "Ada" });
  assert.deepEqual(await users({ operation: "getUser", uid: "a+b" }, ctx), made);
  assert.deepEqual(await users({ operation: "deleteUser", uid: "a+b" }, ctx), { deleted: "a b" });
  await assert.rejects(users({ operation: "getUser", uid: "a+b" }, ctx), says(/^NotFound: /));
  await assert.rejects(users({ operation: "deleteUser", uid: "a+b" }, ctx), says(/^NotFound: /));
});

test("bad users are BadRequest, unknown operations too", async () => {
  for (const user of [null, [], { uid: "", name: "x" }, { uid: "x" }, { uid: "x".repeat(129), name: "n" }]) {
    await assert.rejects(users({ operation: "createUser", user }, ctx), says(/^BadRequest: /));
  }
  await assert.rejects(users({ operation: "dropTable" }, ctx), says(/^BadRequest: unknown operation/));
  await assert.rejects(users({ operation: "getUser", uid: "%ZZ" }, ctx), says(/^BadRequest: /));
});

test("orders are placed for existing users only and listed in order", async () => {
  await users({ operation: "createUser", user: { uid: "buyer", name: "Bo" } }, ctx);
  const first = await orders({ operation: "createOrder", uid: "buyer", order: { item: "book", qty: 2 } }, ctx);
  const second = await orders({ operation: "createOrder", uid: "buyer", order: { item: "pen", qty: 1 } }, ctx);
  assert.equal(first.uid, "buyer");
  assert.ok(first.oid < second.oid || first.oid.slice(0, 9) === second.oid.slice(0, 9));
  const listed = await orders({ operation: "listOrders", uid: "buyer" }, ctx);
  assert.deepEqual(listed.orders.map((o) => o.item).sort(), ["book", "pen"]);
  assert.deepEqual((await orders({ operation: "listOrders", uid: "nobody" }, ctx)).orders, []);
  await assert.rejects(
    orders({ operation: "createOrder", uid: "nobody", order: { item: "x", qty: 1 } }, ctx),
    says(/^NotFound: no user/),
  );
  for (const order of [{ item: "x", qty: 0 }, { item: "", qty: 1 }, { item: "x", qty: 1.5 }, null]) {
    await assert.rejects(orders({ operation: "createOrder", uid: "buyer", order }, ctx), says(/^BadRequest: /));
  }
});

test("order ids sort by time", () => {
  assert.ok(newOid(1000) < newOid(2000));
  assert.ok(newOid(35) < newOid(36));
});

test("a failure of DynamoDB is an Internal error naming the request, not its cause", async () => {
  const saved = process.env.ORDERS_TABLE;
  process.env.ORDERS_TABLE = "no-such-table";
  try {
    await assert.rejects(
      orders({ operation: "listOrders", uid: "buyer" }, ctx),
      says(/^Internal: request req-1 failed; see the function's log$/),
    );
  } finally {
    process.env.ORDERS_TABLE = saved;
  }
});
