// "Use" step of scripts/try-local: runs the handler (the same index.mjs the binary embeds and
// deploys) against the deployed table in the local emulator, reads the item back, and shows a
// bad request being refused. The emulator does not run Lambda code or serve API Gateway URLs,
// so this is the closest local stand-in for the tutorial's "Try out".
//
// Needs TABLE_NAME and AWS_ENDPOINT_URL_DYNAMODB in the environment.
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, GetCommand } from "@aws-sdk/lib-dynamodb";
import { handler } from "./index.mjs";

const user = { uid: `try-${Date.now()}`, username: "Ada", email: "ada@example.com" };
console.log(`POST /user ${JSON.stringify(user)}`);
const res = await handler(user);
console.log(`  -> 200 ${JSON.stringify(res)}`);

const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({}));
const got = await ddb.send(
  new GetCommand({ TableName: process.env.TABLE_NAME, Key: { uid: user.uid } }),
);
console.log(`read back from ${process.env.TABLE_NAME}: ${JSON.stringify(got.Item)}`);
if (JSON.stringify(got.Item) !== JSON.stringify(user)) {
  console.error("the stored item differs from the posted one");
  process.exit(1);
}

const bad = { username: "no uid" };
console.log(`POST /user ${JSON.stringify(bad)}`);
try {
  await handler(bad);
  console.error("  -> a request without uid was accepted");
  process.exit(1);
} catch (err) {
  console.log(`  -> 400 (selection pattern BadRequest:.* matches "${err.message}")`);
}
