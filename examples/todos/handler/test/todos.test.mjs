// Runs the todos functions against the emulator's DynamoDB with proxy events shaped as API
// Gateway builds them (the fields these handlers read).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { DynamoDBClient, CreateTableCommand } from "@aws-sdk/client-dynamodb";
import { startEmulator } from "../../../tutorial/handler/test/emulator.mjs";

let emulator;
let todos;

/** A proxy event: method, path parameters, query string, body as text. */
const event = ({ method = "GET", id, query = null, body } = {}) => ({
  httpMethod: method,
  pathParameters: id === undefined ? null : { id },
  queryStringParameters: query,
  body: body === undefined ? null : typeof body === "string" ? body : JSON.stringify(body),
  isBase64Encoded: false,
});
const json = (res) => (res.body ? JSON.parse(res.body) : undefined);

before(async () => {
  emulator = await startEmulator();
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_DYNAMODB: emulator.url,
    AWS_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: "testing",
    AWS_SECRET_ACCESS_KEY: "testing",
    TODOS_TABLE: "todos-test",
    CORS_ALLOW_ORIGIN: "https://app.example.com",
  });
  const ddb = new DynamoDBClient({ endpoint: emulator.url });
  await ddb.send(
    new CreateTableCommand({
      TableName: "todos-test",
      AttributeDefinitions: [
        { AttributeName: "id", AttributeType: "S" },
        { AttributeName: "list", AttributeType: "S" },
        { AttributeName: "createdAt", AttributeType: "S" },
      ],
      KeySchema: [{ AttributeName: "id", KeyType: "HASH" }],
      GlobalSecondaryIndexes: [
        {
          IndexName: "by_list",
          KeySchema: [
            { AttributeName: "list", KeyType: "HASH" },
            { AttributeName: "createdAt", KeyType: "RANGE" },
          ],
          Projection: { ProjectionType: "ALL" },
        },
      ],
      BillingMode: "PAY_PER_REQUEST",
    }),
  );
  todos = await import("../todos.mjs");
});

after(async () => {
  await emulator?.stop();
});

test("a todo is created, read, listed, updated and deleted, each answer a proxy response", async () => {
  const made = await todos.create(event({ method: "POST", body: { text: "write tests", list: "work" } }));
  assert.equal(made.statusCode, 201);
  assert.equal(made.headers["Access-Control-Allow-Origin"], "https://app.example.com");
  assert.equal(typeof made.body, "string");
  const todo = json(made);
  assert.equal(todo.text, "write tests");
  assert.equal(todo.checked, false);

  const got = await todos.get(event({ id: todo.id }));
  assert.deepEqual([got.statusCode, json(got)], [200, todo]);

  await todos.create(event({ method: "POST", body: { text: "buy milk" } }));
  const all = json(await todos.list(event()));
  assert.equal(all.items.length, 2);
  const work = json(await todos.list(event({ query: { list: "work" } })));
  assert.deepEqual(work.items.map((t) => t.text), ["write tests"]);

  const changed = await todos.update(event({ method: "PUT", id: todo.id, body: { checked: true, text: "write more tests" } }));
  assert.equal(changed.statusCode, 200);
  assert.equal(json(changed).checked, true);
  assert.equal(json(changed).text, "write more tests");

  const gone = await todos.remove(event({ method: "DELETE", id: todo.id }));
  assert.deepEqual([gone.statusCode, gone.body], [204, ""]);
  assert.equal((await todos.get(event({ id: todo.id }))).statusCode, 404);
  assert.equal((await todos.remove(event({ method: "DELETE", id: todo.id }))).statusCode, 404);
  assert.equal((await todos.update(event({ method: "PUT", id: todo.id, body: { checked: true } }))).statusCode, 404);
});

test("bad bodies are 400 with a message, and nothing is written", async () => {
  const before = json(await todos.list(event())).items.length;
  for (const [body, says] of [
    [undefined, /required/],
    ["not json", /not JSON/],
    [[1, 2], /object/],
    [{ text: "" }, /non-empty/],
    [{ text: 5 }, /non-empty/],
  ]) {
    const res = await todos.create(event({ method: "POST", body }));
    assert.equal(res.statusCode, 400);
    assert.match(json(res).message, says);
  }
  const some = json(await todos.create(event({ method: "POST", body: { text: "x" } })));
  for (const [body, says] of [
    [{}, /nothing to change/],
    [{ checked: "yes" }, /true or false/],
  ]) {
    const res = await todos.update(event({ method: "PUT", id: some.id, body }));
    assert.equal(res.statusCode, 400);
    assert.match(json(res).message, says);
  }
  assert.equal(json(await todos.list(event())).items.length, before + 1);
});
