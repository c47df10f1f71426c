// The tutorial's `putitem` function, in current Node.js.
//
// API Gateway (non-proxy `AWS` integration, body passthrough) hands the posted JSON body to
// the function as its event. The function stores `uid`, `username` and `email` in the table
// named by the TABLE_NAME environment variable and returns the tutorial's message.
//
// Invalid input throws an error whose message starts with "BadRequest:"; the REST API's 400
// integration response selects on exactly that prefix (see src/stack.rs), so a bad request
// is a 400 and writes nothing. Any other error stays a 500-class failure.
//
// The AWS SDK v3 is provided by the Lambda Node.js runtime; it is only a dev dependency here.
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, PutCommand } from "@aws-sdk/lib-dynamodb";

/** Prefix of every validation error; must match BAD_REQUEST_PATTERN in src/stack.rs. */
export const BAD_REQUEST = "BadRequest:";

const FIELDS = ["uid", "username", "email"];

let documentClient;
function client() {
  documentClient ??= DynamoDBDocumentClient.from(new DynamoDBClient({}));
  return documentClient;
}

function badRequest(reason) {
  // Keep newlines out: API Gateway's selection pattern is matched against the message.
  const err = new Error(`${BAD_REQUEST} ${String(reason).replace(/\s+/g, " ")}`);
  err.name = "BadRequest";
  return err;
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
  if (body.uid === undefined || body.uid === null) {
    throw badRequest("uid is required");
  }
  if (typeof body.uid !== "string" || body.uid.length === 0) {
    throw badRequest("uid must be a non-empty string");
  }
  if (body.uid.length > 2048) {
    throw badRequest("uid must be at most 2048 characters");
  }
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

export async function handler(event) {
  const tableName = process.env.TABLE_NAME;
  if (!tableName) {
    // A deployment fault, not the caller's: never a 400.
    throw new Error("TABLE_NAME is not set in the function's environment");
  }
  const user = parseUser(event);
  await client().send(new PutCommand({ TableName: tableName, Item: user }));
  return {
    message: `Put user ${user.username ?? ""} with email ${user.email ?? ""} to DynamoDB.`,
  };
}
