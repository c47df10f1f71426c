// The tutorial's `putitem` function for Lambda proxy integration: API Gateway hands it the
// whole request (the proxy event: httpMethod, resource, pathParameters, body as text) and
// sends back what it returns, {statusCode, headers, body}.
//
// - POST /user stores `uid`, `username` and `email` from the JSON body in the table named by
//   TABLE_NAME and answers the tutorial's message.
// - GET /user/{uid} answers the stored item, or 404.
//
// Answers: 400 for a request it refuses (nothing written), 404 for no such user, 500 for a
// failure (the cause is logged, not returned). The AWS SDK v3 is provided by the Lambda
// Node.js runtime; it is only a dev dependency here.
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";

/** DynamoDB's limit on a partition key value, in bytes. */
export const MAX_UID_BYTES = 2048;
const FIELDS = ["uid", "username", "email"];

let documentClient;
function client() {
  documentClient ??= DynamoDBDocumentClient.from(new DynamoDBClient({}));
  return documentClient;
}

/** A JSON answer. */
export function answer(statusCode, payload) {
  return {
    statusCode,
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(payload),
  };
}

/** A request the function refuses: its status and message. */
class Refused extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

const bad = (reason) => new Refused(400, `BadRequest: ${reason}`);

/** A uid: a non-empty string DynamoDB accepts as a key, without control characters. */
export function checkUid(uid) {
  if (uid === undefined || uid === null) throw bad("uid is required");
  if (typeof uid !== "string" || uid.length === 0) throw bad("uid must be a non-empty string");
  if (Buffer.byteLength(uid, "utf8") > MAX_UID_BYTES) {
    throw bad(`uid must be at most ${MAX_UID_BYTES} bytes`);
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(uid)) throw bad("uid must not contain control characters");
  return uid;
}

/** The user a POST's body describes. */
export function parseUser(text, base64) {
  let body;
  try {
    body = JSON.parse(base64 ? Buffer.from(text ?? "", "base64").toString() : (text ?? ""));
  } catch {
    throw bad("the request body is not valid JSON");
  }
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw bad("the request body must be a JSON object with uid, username and email");
  }
  checkUid(body.uid);
  const user = {};
  for (const field of FIELDS) {
    const value = body[field];
    if (value === undefined || value === null) continue;
    if (typeof value !== "string") throw bad(`${field} must be a string`);
    user[field] = value;
  }
  return user;
}

async function putUser(event) {
  const user = parseUser(event.body, event.isBase64Encoded);
  await client().send(new PutCommand({ TableName: process.env.TABLE_NAME, Item: user }));
  return answer(200, {
    message: `Put user ${user.username ?? ""} with email ${user.email ?? ""} to DynamoDB.`,
  });
}

async function getUser(event) {
  // API Gateway decodes path parameters.
  const uid = checkUid(event.pathParameters?.uid);
  const out = await client().send(
    new GetCommand({ TableName: process.env.TABLE_NAME, Key: { uid } }),
  );
  if (!out.Item) throw new Refused(404, `NotFound: no user with uid ${JSON.stringify(uid)}`);
  return answer(200, out.Item);
}

export async function handler(event, context) {
  try {
    if (event.httpMethod === "POST" && event.resource === "/user") return await putUser(event);
    if (event.httpMethod === "GET" && event.resource === "/user/{uid}") return await getUser(event);
    return answer(404, { message: `NotFound: no route ${event.httpMethod} ${event.resource}` });
  } catch (err) {
    if (err instanceof Refused) return answer(err.status, { message: err.message });
    console.error("putitem failed", context?.awsRequestId, err);
    return answer(500, { message: "Internal: the request failed" });
  }
}
