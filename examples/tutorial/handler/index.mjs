// The tutorial's `putitem` function, in current Node.js, serving both routes of the stack.
//
// API Gateway (non-proxy `AWS` integration) invokes it for:
// - POST /user: the posted JSON body is the event (passthrough). The function stores `uid`,
//   `username` and `email` in the table named by TABLE_NAME and returns the tutorial's message.
// - GET /user/{uid}: a request template makes the event
//   `{"operation": "getUser", "uid": "<the path parameter, URL-encoded>"}`. The function
//   returns the stored item.
// (The POST body model refuses a body with an `operation` key, so the two never mix.)
//
// Errors carry a prefix that the REST API's integration responses select on (src/stack.rs):
// "BadRequest:" is a 400 and writes nothing, "NotFound:" a 404, "Internal:" a 500 (the cause is
// logged, not returned). Messages never hold a newline: the selection pattern is matched
// against the whole message.
//
// The AWS SDK v3 is provided by the Lambda Node.js runtime; it is only a dev dependency here.
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
} from "@aws-sdk/lib-dynamodb";

/** Prefix of every validation error; must match BAD_REQUEST_PATTERN in src/stack.rs. */
export const BAD_REQUEST = "BadRequest:";
/** Prefix of "no such item"; must match NOT_FOUND_PATTERN in src/stack.rs. */
export const NOT_FOUND = "NotFound:";
/** Prefix of an unexpected failure; must match INTERNAL_PATTERN in src/stack.rs. */
export const INTERNAL = "Internal:";
/** The GET route's event names this operation (GET_USER_TEMPLATE in src/stack.rs). */
export const GET_USER = "getUser";
/** A DELETE /user/{uid} route's event names this operation (DELETE_USER_TEMPLATE in
 * src/stack.rs; the route is in the test model that shows a third route). */
export const DELETE_USER = "deleteUser";
/** DynamoDB's limit on a partition key value, in bytes. */
export const MAX_UID_BYTES = 2048;

const FIELDS = ["uid", "username", "email"];

let documentClient;
function client() {
  documentClient ??= DynamoDBDocumentClient.from(new DynamoDBClient({}));
  return documentClient;
}

function tagged(prefix, name, reason) {
  const err = new Error(`${prefix} ${String(reason).replace(/\s+/g, " ")}`);
  err.name = name;
  return err;
}

const badRequest = (reason) => tagged(BAD_REQUEST, "BadRequest", reason);

/** Checks a uid, from a body or a path: a non-empty string DynamoDB accepts as a key. */
export function checkUid(uid) {
  if (uid === undefined || uid === null) {
    throw badRequest("uid is required");
  }
  if (typeof uid !== "string" || uid.length === 0) {
    throw badRequest("uid must be a non-empty string");
  }
  if (Buffer.byteLength(uid, "utf8") > MAX_UID_BYTES) {
    throw badRequest(`uid must be at most ${MAX_UID_BYTES} bytes`);
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(uid)) {
    throw badRequest("uid must not contain control characters");
  }
  return uid;
}

/**
 * Turns the event into a user record, or throws a BadRequest error.
 * Accepts the JSON object itself (passthrough) or a JSON string of it.
 */
export function parseUser(event) {
  let body = event;
  if (typeof body === "string") {
    try {
      body = JSON.parse(body);
    } catch {
      throw badRequest("the request body is not valid JSON");
    }
  }
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw badRequest("the request body must be a JSON object with uid, username and email");
  }
  checkUid(body.uid);
  const user = {};
  for (const field of FIELDS) {
    const value = body[field];
    if (value === undefined || value === null) continue;
    if (typeof value !== "string") {
      throw badRequest(`${field} must be a string`);
    }
    user[field] = value;
  }
  return user;
}

/**
 * The uid of a GET event: the request template URL-encodes the path parameter (Java's
 * URLEncoder: a space is "+"), so it is decoded here.
 */
export function parseGetUid(event) {
  const raw = event.uid;
  if (typeof raw !== "string") {
    throw badRequest("uid is required");
  }
  let uid;
  try {
    uid = decodeURIComponent(raw.replace(/\+/g, " "));
  } catch {
    throw badRequest("uid is not a valid URL-encoded string");
  }
  return checkUid(uid);
}

/** The operation a path route's event names (`undefined` for POST's body). */
function operationOf(event) {
  return event !== null && typeof event === "object" && !Array.isArray(event)
    ? event.operation
    : undefined;
}

/** True for the GET route's event. */
export function isGetEvent(event) {
  return operationOf(event) === GET_USER;
}

function tableName() {
  const name = process.env.TABLE_NAME;
  if (!name) {
    // A deployment fault, not the caller's: never a 400.
    throw new Error("TABLE_NAME is not set in the function's environment");
  }
  return name;
}

async function putUser(event) {
  const table = tableName();
  const user = parseUser(event);
  try {
    await client().send(new PutCommand({ TableName: table, Item: user }));
  } catch (err) {
    // The caller's mistake, not ours: DynamoDB refuses an item over 400 KB.
    if (err.name === "ValidationException" && /item size/i.test(err.message)) {
      throw badRequest("the user is larger than DynamoDB's 400 KB item limit");
    }
    throw err;
  }
  return {
    message: `Put user ${user.username ?? ""} with email ${user.email ?? ""} to DynamoDB.`,
  };
}

async function getUser(event) {
  const table = tableName();
  const uid = parseGetUid(event);
  const out = await client().send(new GetCommand({ TableName: table, Key: { uid } }));
  if (!out.Item) {
    throw tagged(NOT_FOUND, "NotFound", `no user with uid ${JSON.stringify(uid)}`);
  }
  return out.Item;
}

async function deleteUser(event) {
  const table = tableName();
  const uid = parseGetUid(event);
  const out = await client().send(
    new DeleteCommand({ TableName: table, Key: { uid }, ReturnValues: "ALL_OLD" }),
  );
  if (!out.Attributes) {
    throw tagged(NOT_FOUND, "NotFound", `no user with uid ${JSON.stringify(uid)}`);
  }
  return { message: `Deleted user ${uid}.` };
}

/** True for the errors the caller is meant to see as they are. */
function isExpected(err) {
  return (
    typeof err?.message === "string" &&
    (err.message.startsWith(BAD_REQUEST) || err.message.startsWith(NOT_FOUND))
  );
}

export async function handler(event, context) {
  try {
    switch (operationOf(event)) {
      case GET_USER:
        return await getUser(event);
      case DELETE_USER:
        return await deleteUser(event);
      default:
        return await putUser(event);
    }
  } catch (err) {
    if (isExpected(err)) throw err;
    // Anything else is ours to fix: log the cause, answer a 500 that names the request.
    const requestId = context?.awsRequestId ?? "unknown";
    console.error("request failed:", err);
    throw tagged(INTERNAL, "Internal", `the request failed; see the function's log for request ${requestId}`);
  }
}
