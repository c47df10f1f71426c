//! API Gateway's own answers as the stack sets them ([`StackSpec::gateway_responses`]):
//! with `[api.cors]`, its 4XX and 5XX (no such route, a refused body, a malformed proxy
//! answer, a throttled request) carry the CORS headers, so that a browser sees an error as an
//! error rather than as a CORS failure; with a request template on a route, a request of
//! another content type is answered 415 with a message that names the one it takes. One
//! record for them all.

use futures::future::BoxFuture;
use serde_json::{json, Value};

use super::{Check, CheckCx, Kind, Want, NOT_DEPLOYED};
use crate::engine::{Action, StepResult};
use crate::kinds::context::DeployCtx;
use crate::kinds::graph::{key, Node};
use crate::kinds::rest_api::ApiRecord;
use crate::resources::api;
use crate::stack::{StackSpec, GATEWAY_RESPONSE_TYPES};

crate::fingerprint_record!(GatewayResponsesRecord, "gateway-responses");

pub struct GatewayResponses;

fn label_of(spec: &StackSpec) -> String {
    let kinds: Vec<&str> = spec.gateway_responses().iter().map(|g| g.kind).collect();
    kinds.join(", ")
}

impl Kind for GatewayResponses {
    fn name(&self) -> &'static str {
        "gateway-responses"
    }
    fn iam(&self) -> &'static [super::Grant] {
        use super::Scope;
        &[
            ("PutGatewayResponse", "apigateway:PUT", Scope::RestApis),
            ("GetGatewayResponse", "apigateway:GET", Scope::RestApis),
            (
                "DeleteGatewayResponse",
                "apigateway:DELETE",
                Scope::RestApis,
            ),
        ]
    }
    fn removal_rank(&self) -> Option<u8> {
        Some(13)
    }
    fn step(&self) -> &'static str {
        "gateway-responses"
    }
    fn doing(&self) -> &'static str {
        "setting API Gateway's own answers (CORS headers, 415's message)"
    }
    fn check_record(&self, rec: &crate::state::Record) -> Result<(), String> {
        super::parses_as::<GatewayResponsesRecord>(rec)
    }
    fn nodes(&self, spec: &StackSpec) -> Vec<Node> {
        if spec.gateway_responses().is_empty() {
            return Vec::new();
        }
        let n = Node::new(&GatewayResponses, key::GATEWAY_RESPONSES).lives_in(key::REST_API);
        // A document put in overwrite mode replaces the API's gateway responses with its own
        // (none): they are put again after it.
        vec![if super::api_document::applies(spec) {
            n.lives_in(key::API_DOCUMENT)
        } else {
            n
        }]
    }
    fn props(&self, w: &Want, _: &Node) -> Option<Value> {
        let mut props = json!({"responses": w.spec.gateway_responses()});
        // Each put of the document wipes them: a changed document puts them again.
        if super::api_document::applies(w.spec) {
            let doc = Node::new(&super::api_document::ApiDocument, key::API_DOCUMENT);
            props["document"] = json!(super::wanted_fingerprint(w, &doc)?);
        }
        Some(props)
    }
    fn label(&self, w: &Want, _: &Node) -> String {
        label_of(w.spec)
    }
    fn goes_with_container(&self) -> bool {
        true
    }
    fn remove<'a>(
        &'a self,
        ctx: &'a DeployCtx,
        _: &'a str,
        _: &'a crate::state::Record,
    ) -> BoxFuture<'a, anyhow::Result<Option<StepResult>>> {
        Box::pin(async move {
            let state = ctx.snapshot().await;
            let Some(api) = state.get::<ApiRecord>(key::REST_API) else {
                return Ok(None);
            };
            for t in GATEWAY_RESPONSE_TYPES {
                ctx.call("gateway-responses", || {
                    api::delete_gateway_response(ctx.aws(), &api.id, t)
                })
                .await?;
            }
            Ok(Some(StepResult::new(
                Action::Deleted,
                GATEWAY_RESPONSE_TYPES.join(", "),
            )))
        })
    }
    fn ensure<'a>(
        &'a self,
        ctx: &'a DeployCtx,
        node: &'a Node,
    ) -> BoxFuture<'a, anyhow::Result<StepResult>> {
        Box::pin(async move {
            let label = label_of(&ctx.spec);
            super::route::put_recorded(ctx, node, &label, label.clone(), |state| async move {
                let api_id = super::rest_api::recorded_id(&state)?;
                let wanted = ctx.spec.gateway_responses();
                // What the record says was set and the stack no longer sets goes back to API
                // Gateway's default (a gone one is fine).
                let was: Vec<String> = state
                    .resources
                    .get(&node.key)
                    .and_then(|r| r.props.as_ref())
                    .and_then(|p| p["responses"].as_array().cloned())
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|g| g["kind"].as_str().map(str::to_string))
                    .collect();
                for t in GATEWAY_RESPONSE_TYPES {
                    if was.iter().any(|w| w == t) && !wanted.iter().any(|g| g.kind == t) {
                        ctx.call("gateway-responses", || {
                            api::delete_gateway_response(ctx.aws(), &api_id, t)
                        })
                        .await?;
                    }
                }
                for g in &wanted {
                    ctx.call("gateway-responses", || {
                        api::put_gateway_response(ctx.aws(), &api_id, g)
                    })
                    .await?;
                }
                Ok(())
            })
            .await
        })
    }
    fn check<'a>(&'a self, cx: &'a CheckCx<'a>, node: &'a Node) -> BoxFuture<'a, Option<Check>> {
        Box::pin(async move {
            let label = label_of(cx.spec);
            let (Some(api), true) = (
                cx.state.get::<ApiRecord>(key::REST_API),
                cx.state.has(&node.key),
            ) else {
                return Some(Check::missing(label, NOT_DEPLOYED));
            };
            let c = cx.c;
            let mut why = Vec::new();
            for g in cx.spec.gateway_responses() {
                let t = g.kind;
                match c
                    .call("status", || api::gateway_response(&c.aws, &api.id, t))
                    .await
                {
                    Err(e) => return Some(Check::failed(label, e)),
                    Ok(None) => why.push(format!("{t} is not set")),
                    Ok(Some((have, template))) => {
                        let lacking: Vec<&str> = g
                            .headers
                            .iter()
                            .filter(|(k, v)| {
                                have.get(&format!("gatewayresponse.header.{k}")) != Some(v)
                            })
                            .map(|(k, _)| k.as_str())
                            .collect();
                        if !lacking.is_empty() {
                            why.push(format!("{t} lacks the headers {}", lacking.join(", ")));
                        }
                        if g.template.is_some() && template != g.template {
                            why.push(format!("{t}'s message was changed"));
                        }
                    }
                }
            }
            Some(if why.is_empty() {
                Check::ok(label)
            } else {
                Check::drifted(
                    label,
                    format!("API Gateway's own answers: {}", why.join("; ")),
                )
            })
        })
    }
}
