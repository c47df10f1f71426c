//! API Gateway's own answers (its 4XX and 5XX: no such route, a refused body, a malformed
//! proxy answer, a throttled request) with the stack's CORS headers, so that a browser sees
//! an error as an error rather than as a CORS failure. One record for the two gateway
//! responses, `DEFAULT_4XX` and `DEFAULT_5XX`; present while `[api.cors]` is.

use futures::future::BoxFuture;
use serde_json::{json, Value};

use super::{Check, CheckCx, Kind, Want, NOT_DEPLOYED};
use crate::engine::{Action, StepResult};
use crate::kinds::context::DeployCtx;
use crate::kinds::graph::{key, Node};
use crate::kinds::rest_api::ApiRecord;
use crate::resources::api::{self, GATEWAY_RESPONSE_TYPES};
use crate::stack::StackSpec;

crate::fingerprint_record!(GatewayResponsesRecord, "gateway-responses");

pub struct GatewayResponses;

/// The headers the stack wants on API Gateway's own answers.
fn wanted(spec: &StackSpec) -> Option<Vec<(String, String)>> {
    spec.api.cors.as_ref().map(|c| c.response_headers())
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
        "putting CORS headers on API Gateway's own errors"
    }
    fn check_record(&self, rec: &crate::state::Record) -> Result<(), String> {
        super::parses_as::<GatewayResponsesRecord>(rec)
    }
    fn nodes(&self, spec: &StackSpec) -> Vec<Node> {
        if wanted(spec).is_none() {
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
        let headers = wanted(w.spec)?;
        let mut props = json!({"types": GATEWAY_RESPONSE_TYPES, "headers": headers});
        // Each put of the document wipes them: a changed document puts them again.
        if super::api_document::applies(w.spec) {
            let doc = Node::new(&super::api_document::ApiDocument, key::API_DOCUMENT);
            props["document"] = json!(super::wanted_fingerprint(w, &doc)?);
        }
        Some(props)
    }
    fn label(&self, _: &Want, _: &Node) -> String {
        GATEWAY_RESPONSE_TYPES.join(", ")
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
            let label = GATEWAY_RESPONSE_TYPES.join(", ");
            super::route::put_recorded(ctx, node, &label, label.clone(), |state| async move {
                let api_id = super::rest_api::recorded_id(&state)?;
                let headers = wanted(&ctx.spec).unwrap_or_default();
                for t in GATEWAY_RESPONSE_TYPES {
                    ctx.call("gateway-responses", || {
                        api::put_gateway_response(ctx.aws(), &api_id, t, &headers)
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
            let label = GATEWAY_RESPONSE_TYPES.join(", ");
            let (Some(api), true) = (
                cx.state.get::<ApiRecord>(key::REST_API),
                cx.state.has(&node.key),
            ) else {
                return Some(Check::missing(label, NOT_DEPLOYED));
            };
            let want: std::collections::BTreeMap<String, String> = wanted(cx.spec)
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (format!("gatewayresponse.header.{k}"), v))
                .collect();
            let c = cx.c;
            let mut why = Vec::new();
            for t in GATEWAY_RESPONSE_TYPES {
                match c
                    .call("status", || api::gateway_response(&c.aws, &api.id, t))
                    .await
                {
                    Err(e) => return Some(Check::failed(label, e)),
                    Ok(None) => why.push(format!("{t} is not set")),
                    Ok(Some(have)) => {
                        let lacking: Vec<&str> = want
                            .iter()
                            .filter(|(k, v)| have.get(*k) != Some(*v))
                            .map(|(k, _)| k.trim_start_matches("gatewayresponse.header."))
                            .collect();
                        if !lacking.is_empty() {
                            why.push(format!("{t} lacks {}", lacking.join(", ")));
                        }
                    }
                }
            }
            Some(if why.is_empty() {
                Check::ok(label)
            } else {
                Check::drifted(
                    label,
                    format!("CORS headers on API Gateway's errors: {}", why.join("; ")),
                )
            })
        })
    }
}
