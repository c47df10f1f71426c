// The shop's `orders` function: place an order for an existing user, and list a user's orders
// with one Query (table ORDERS_TABLE, keys uid and oid; oids sort by time).
import { randomBytes } from "node:crypto";
import { GetCommand, PutCommand, QueryCommand } from "@aws-sdk/lib-dynamodb";
import { badRequest, checkUid, client, dispatch, notFound, pathParam, tableName } from "./lib.mjs";

/** An order id that sorts by creation time: milliseconds, then random bits. */
export function newOid(now = Date.now()) {
  return `${now.toString(36).padStart(9, "0")}-${randomBytes(4).toString("hex")}`;
}

async function createOrder(event) {
  const uid = checkUid(pathParam(event, "uid"));
  const order = event.order;
  if (order === null || typeof order !== "object" || Array.isArray(order)) {
    throw badRequest("the body must be a JSON object with item and qty");
  }
  if (typeof order.item !== "string" || order.item.length === 0) {
    throw badRequest("item must be a non-empty string");
  }
  if (!Number.isInteger(order.qty) || order.qty < 1 || order.qty > 100) {
    throw badRequest("qty must be a whole number from 1 to 100");
  }
  const user = await client().send(
    new GetCommand({ TableName: tableName("USERS_TABLE"), Key: { uid }, ProjectionExpression: "uid" }),
  );
  if (!user.Item) throw notFound(`no user with uid ${JSON.stringify(uid)}`);
  const item = { uid, oid: newOid(), item: order.item, qty: order.qty };
  await client().send(new PutCommand({ TableName: tableName("ORDERS_TABLE"), Item: item }));
  return item;
}

async function listOrders(event) {
  const uid = checkUid(pathParam(event, "uid"));
  const orders = [];
  let start;
  do {
    const out = await client().send(
      new QueryCommand({
        TableName: tableName("ORDERS_TABLE"),
        KeyConditionExpression: "uid = :u",
        ExpressionAttributeValues: { ":u": uid },
        ExclusiveStartKey: start,
      }),
    );
    orders.push(...(out.Items ?? []));
    start = out.LastEvaluatedKey;
  } while (start);
  return { uid, orders };
}

export function handler(event, context) {
  return dispatch(event, context, { createOrder, listOrders });
}
