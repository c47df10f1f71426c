// The orders API's one handler, written as Serverless Framework and SAM projects write
// theirs: Lambda proxy integration, ES module, no dependencies. API Gateway (and
// `serverless-cli serve`) has already checked the caller: the API key for GET /orders, the
// Cognito token for /me and POST /orders, whose claims arrive in
// requestContext.authorizer.claims.

const json = (statusCode, body) => ({
  statusCode,
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
});

export const handler = async (event) => {
  const route = `${event.httpMethod} ${event.resource}`;
  const claims = event.requestContext?.authorizer?.claims ?? {};
  switch (route) {
    case "GET /health":
      return json(200, { status: "ok" });
    case "GET /orders":
      // The key's id, never its value, is in the request context.
      return json(200, { orders: [], by: event.requestContext?.identity?.apiKeyId ?? null });
    case "GET /me":
      return json(200, {
        username: claims["cognito:username"] ?? claims.username ?? null,
        sub: claims.sub ?? null,
      });
    case "POST /orders": {
      let order;
      try {
        order = JSON.parse(event.body ?? "");
      } catch {
        return json(400, { message: "the body must be JSON: {\"item\": \"...\"}" });
      }
      if (typeof order?.item !== "string" || order.item === "") {
        return json(400, { message: "item must be a non-empty string" });
      }
      return json(201, { item: order.item, owner: claims.sub ?? null });
    }
    default:
      return json(404, { message: `no route ${route}` });
  }
};
