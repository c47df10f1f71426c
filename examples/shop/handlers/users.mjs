// The shop's `users` function: create, read and delete a user (table USERS_TABLE, key uid).
import { DeleteCommand, GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import { badRequest, checkUid, client, dispatch, notFound, pathParam, tableName } from "./lib.mjs";

async function createUser(event) {
  const user = event.user;
  if (user === null || typeof user !== "object" || Array.isArray(user)) {
    throw badRequest("the body must be a JSON object with uid and name");
  }
  const uid = checkUid(user.uid);
  if (typeof user.name !== "string" || user.name.length === 0) {
    throw badRequest("name must be a non-empty string");
  }
  const item = { uid, name: user.name };
  await client().send(new PutCommand({ TableName: tableName("USERS_TABLE"), Item: item }));
  return item;
}

async function getUser(event) {
  const uid = checkUid(pathParam(event, "uid"));
  const out = await client().send(new GetCommand({ TableName: tableName("USERS_TABLE"), Key: { uid } }));
  if (!out.Item) throw notFound(`no user with uid ${JSON.stringify(uid)}`);
  return out.Item;
}

async function deleteUser(event) {
  const uid = checkUid(pathParam(event, "uid"));
  const out = await client().send(
    new DeleteCommand({ TableName: tableName("USERS_TABLE"), Key: { uid }, ReturnValues: "ALL_OLD" }),
  );
  if (!out.Attributes) throw notFound(`no user with uid ${JSON.stringify(uid)}`);
  return { deleted: uid };
}

export function handler(event, context) {
  return dispatch(event, context, { createUser, getUser, deleteUser });
}
