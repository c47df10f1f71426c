// What the shop's two functions share: the DynamoDB client, the error prefixes the REST
// API's integration responses select on (400 / 404 / 500), and reading a path parameter that
// the request template URL-encoded.
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";

export const BAD_REQUEST = "BadRequest:";
export const NOT_FOUND = "NotFound:";
export const INTERNAL = "Internal:";

let documentClient;
export function client() {
  documentClient ??= DynamoDBDocumentClient.from(new DynamoDBClient({}));
  return documentClient;
}

/** An error whose message starts with a prefix (on one line: patterns match it whole). */
export function tagged(prefix, reason) {
  const err = new Error(`${prefix} ${String(reason).replace(/\s+/g, " ")}`);
  err.name = prefix.slice(0, -1);
  return err;
}

export const badRequest = (reason) => tagged(BAD_REQUEST, reason);
export const notFound = (reason) => tagged(NOT_FOUND, reason);

/** A table's name from the function's environment (a deployment fault if missing). */
export function tableName(variable) {
  const name = process.env[variable];
  if (!name) throw new Error(`${variable} is not set in the function's environment`);
  return name;
}

/** A uid: a non-empty string of at most 128 characters, no control characters. */
export function checkUid(uid) {
  if (typeof uid !== "string" || uid.length === 0) throw badRequest("uid must be a non-empty string");
  if (uid.length > 128) throw badRequest("uid must be at most 128 characters");
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(uid)) throw badRequest("uid must not contain control characters");
  return uid;
}

/** A path parameter the template URL-encoded (Java's URLEncoder: a space is "+"). */
export function pathParam(event, name) {
  const raw = event?.[name];
  if (typeof raw !== "string") throw badRequest(`${name} is required`);
  try {
    return decodeURIComponent(raw.replace(/\+/g, " "));
  } catch {
    throw badRequest(`${name} is not a valid URL-encoded string`);
  }
}

/** Runs an operation of the event; anything unexpected becomes an Internal: error (logged). */
export async function dispatch(event, context, operations) {
  const op = operations[event?.operation];
  try {
    if (!op) throw badRequest(`unknown operation ${JSON.stringify(event?.operation ?? null)}`);
    return await op(event);
  } catch (err) {
    const msg = typeof err?.message === "string" ? err.message : "";
    if (msg.startsWith(BAD_REQUEST) || msg.startsWith(NOT_FOUND)) throw err;
    console.error("unexpected failure", err);
    throw tagged(INTERNAL, `request ${context?.awsRequestId ?? "?"} failed; see the function's log`);
  }
}
