// The todos example's five functions: a CRUD API over one DynamoDB table, behind Lambda
// proxy integration. Each handler gets API Gateway's proxy event and answers
// {statusCode, headers, body}; the routes and the table are in ../serverless-cli.toml.
import { randomUUID } from "node:crypto";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";

const db = DynamoDBDocumentClient.from(new DynamoDBClient({}));
const table = () => process.env.TODOS_TABLE;
/** How many todos a list answers at most. */
export const PAGE = 100;

/** A JSON answer, with the CORS origin [api.cors] allows (deploy sets CORS_ALLOW_ORIGIN). */
export function answer(statusCode, payload) {
  const headers = { "Content-Type": "application/json" };
  if (process.env.CORS_ALLOW_ORIGIN) {
    headers["Access-Control-Allow-Origin"] = process.env.CORS_ALLOW_ORIGIN;
  }
  return { statusCode, headers, body: payload === undefined ? "" : JSON.stringify(payload) };
}

const refuse = (message) => answer(400, { message });

/** The body as an object, or why not. */
function parse(event) {
  if (!event.body) return [null, "a JSON body is required"];
  try {
    const body = JSON.parse(event.isBase64Encoded ? Buffer.from(event.body, "base64").toString() : event.body);
    if (body === null || typeof body !== "object" || Array.isArray(body)) {
      return [null, "the body must be a JSON object"];
    }
    return [body, null];
  } catch {
    return [null, "the body is not JSON"];
  }
}

function checkText(text) {
  if (typeof text !== "string" || text.trim() === "") return "text must be a non-empty string";
  if (text.length > 1000) return "text is longer than 1000 characters";
  return null;
}

export async function create(event) {
  const [body, bad] = parse(event);
  if (bad) return refuse(bad);
  const wrong = checkText(body.text);
  if (wrong) return refuse(wrong);
  const now = new Date().toISOString();
  const todo = {
    id: randomUUID(),
    text: body.text,
    checked: false,
    list: typeof body.list === "string" && body.list ? body.list : "inbox",
    createdAt: now,
    updatedAt: now,
  };
  await db.send(new PutCommand({ TableName: table(), Item: todo }));
  return answer(201, todo);
}

/** All todos, or one list's (`?list=work`, through the by_list index), oldest first. */
export async function list(event) {
  const wanted = event.queryStringParameters?.list;
  const out = wanted
    ? await db.send(
        new QueryCommand({
          TableName: table(),
          IndexName: "by_list",
          KeyConditionExpression: "#l = :l",
          ExpressionAttributeNames: { "#l": "list" },
          ExpressionAttributeValues: { ":l": wanted },
          Limit: PAGE,
        }),
      )
    : await db.send(new ScanCommand({ TableName: table(), Limit: PAGE }));
  const items = (out.Items ?? []).sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  return answer(200, { items, more: Boolean(out.LastEvaluatedKey) });
}

export async function get(event) {
  const id = event.pathParameters?.id;
  const out = await db.send(new GetCommand({ TableName: table(), Key: { id } }));
  return out.Item ? answer(200, out.Item) : answer(404, { message: `no todo ${id}` });
}

export async function update(event) {
  const id = event.pathParameters?.id;
  const [body, bad] = parse(event);
  if (bad) return refuse(bad);
  const sets = ["updatedAt = :now"];
  const values = { ":now": new Date().toISOString() };
  if ("text" in body) {
    const wrong = checkText(body.text);
    if (wrong) return refuse(wrong);
    sets.push("#text = :text");
    values[":text"] = body.text;
  }
  if ("checked" in body) {
    if (typeof body.checked !== "boolean") return refuse("checked must be true or false");
    sets.push("checked = :checked");
    values[":checked"] = body.checked;
  }
  if (sets.length === 1) return refuse("nothing to change: give text or checked");
  try {
    const out = await db.send(
      new UpdateCommand({
        TableName: table(),
        Key: { id },
        UpdateExpression: `SET ${sets.join(", ")}`,
        ConditionExpression: "attribute_exists(id)",
        ExpressionAttributeNames: "text" in body ? { "#text": "text" } : undefined,
        ExpressionAttributeValues: values,
        ReturnValues: "ALL_NEW",
      }),
    );
    return answer(200, out.Attributes);
  } catch (err) {
    if (err.name === "ConditionalCheckFailedException") return answer(404, { message: `no todo ${id}` });
    throw err;
  }
}

export async function remove(event) {
  const id = event.pathParameters?.id;
  const out = await db.send(
    new DeleteCommand({ TableName: table(), Key: { id }, ReturnValues: "ALL_OLD" }),
  );
  return out.Attributes ? answer(204) : answer(404, { message: `no todo ${id}` });
}
