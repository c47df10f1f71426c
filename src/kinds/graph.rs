//! The resource graph: every resource of the stack under a logical key, with the keys it
//! depends on. Built once from the model (a [`StackSpec`]) by asking each registered kind for
//! its nodes; deploy, plan, status, repair and teardown all walk it.
//!
//! Two sorts of dependency:
//! - [`Edge::Needs`]: made after it, and built from its IDs (the function needs the role's
//!   ARN). A needed resource made again changes what the dependent is built from, which its
//!   fingerprint sees: the dependent is updated, not made again.
//! - [`Edge::LivesIn`]: cannot exist without it (a method lives in its path, a path in its
//!   REST API, a permission in its function's policy). A resource made again takes everything
//!   that lives in it along: they are forgotten and made again too.

use std::collections::{BTreeSet, HashMap};

use crate::kinds::{self, Kind};
use crate::stack::{ResourceSpec, RouteSpec, StackSpec};

/// How one node depends on another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    Needs,
    LivesIn,
}

/// One resource of the stack.
pub struct Node {
    /// Its logical key: `table:user`, `path:/user/{uid}`, `method:POST /user`.
    pub key: String,
    pub kind: &'static dyn Kind,
    pub deps: Vec<(String, Edge)>,
    /// The route it belongs to (method, responses, integration, permission).
    pub route: Option<RouteSpec>,
    /// The API path it is (a `path` node).
    pub path: Option<ResourceSpec>,
    /// The table or function it is or belongs to (its logical name): `user` for
    /// `table:user`, `putitem` for `role:putitem`.
    pub item: Option<String>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("key", &self.key)
            .field("kind", &self.kind.name())
            .field("deps", &self.deps)
            .finish()
    }
}

impl Node {
    pub fn new(kind: &'static dyn Kind, key: impl Into<String>) -> Self {
        Node {
            key: key.into(),
            kind,
            deps: Vec::new(),
            route: None,
            path: None,
            item: None,
        }
    }

    pub fn for_item(mut self, logical: &str) -> Self {
        self.item = Some(logical.to_string());
        self
    }

    /// The logical name of a table's or function's node (their kinds set it).
    pub fn item(&self) -> anyhow::Result<&str> {
        self.item
            .as_deref()
            .ok_or_else(|| anyhow::anyhow!("{} names no table or function", self.key))
    }

    pub fn needs(mut self, key: impl Into<String>) -> Self {
        self.deps.push((key.into(), Edge::Needs));
        self
    }

    pub fn lives_in(mut self, key: impl Into<String>) -> Self {
        self.deps.push((key.into(), Edge::LivesIn));
        self
    }

    pub fn for_route(mut self, route: &RouteSpec) -> Self {
        self.route = Some(route.clone());
        self
    }

    /// The route of a route node (every route kind sets it).
    pub fn route(&self) -> anyhow::Result<&RouteSpec> {
        self.route
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("{} is not a route's resource", self.key))
    }
}

/// The keys of the tutorial's stack.
pub mod key {
    use crate::stack::RouteSpec;

    #[cfg(test)]
    pub const TABLE: &str = "table:user";
    #[cfg(test)]
    pub const ROLE: &str = "role:putitem";
    #[cfg(test)]
    pub const ROLE_POLICY: &str = "role-policy:putitem";
    #[cfg(test)]
    pub const FUNCTION: &str = "function:putitem";
    #[cfg(test)]
    pub const LOG_GROUP: &str = "log-group:putitem";
    pub const REST_API: &str = "rest-api";
    pub const VALIDATOR: &str = "validator:body";
    pub const API_DOCUMENT: &str = "api-document";
    pub const GATEWAY_RESPONSES: &str = "gateway-responses";
    #[cfg(test)]
    pub const STAGE: &str = "stage:prod";

    pub fn table(logical: &str) -> String {
        format!("table:{logical}")
    }
    pub fn role(function: &str) -> String {
        format!("role:{function}")
    }
    pub fn role_policy(function: &str) -> String {
        format!("role-policy:{function}")
    }
    pub fn function(function: &str) -> String {
        format!("function:{function}")
    }
    pub fn log_group(function: &str) -> String {
        format!("log-group:{function}")
    }
    /// `alias:putitem`: the function's `live` alias, and the versions published for it.
    pub fn alias(function: &str) -> String {
        format!("alias:{function}")
    }
    /// `permission:putitem`: the one invoke permission of a function. (Releases before it
    /// recorded one per route: `permission:POST /user`.)
    pub fn permission(function: &str) -> String {
        format!("permission:{function}")
    }
    /// The key a route's method lives in: its path's, or the REST API's for a route on the
    /// API's root `/` (the root comes with the API; no path record of its own).
    pub fn path_or_root(path: &str) -> String {
        if path == "/" {
            REST_API.to_string()
        } else {
            self::path(path)
        }
    }
    pub fn stage(stage: &str) -> String {
        format!("stage:{stage}")
    }

    /// `path:/user`.
    pub fn path(path: &str) -> String {
        format!("path:{path}")
    }

    /// `method:POST /user`, `integration:GET /user/{uid}`.
    pub fn route(kind: &str, route: &RouteSpec) -> String {
        format!("{kind}:{}", route.label())
    }
}

/// The whole stack, in an order where every node comes after what it depends on.
pub struct Graph {
    pub nodes: Vec<Node>,
    index: HashMap<String, usize>,
}

impl Graph {
    /// Every registered kind's nodes for this model (an API built from its document has no
    /// nodes of the kinds the document replaces).
    pub fn new(spec: &StackSpec) -> Self {
        let document = kinds::api_document::applies(spec);
        let nodes: Vec<Node> = kinds::REGISTRY
            .iter()
            .filter(|k| !(document && kinds::api_document::REPLACES.contains(&k.name())))
            .flat_map(|k| k.nodes(spec))
            .collect();
        let graph = Self::from_nodes(nodes);
        debug_assert!(graph.check().is_ok(), "{:?}", graph.check());
        graph
    }

    pub fn from_nodes(nodes: Vec<Node>) -> Self {
        Self::sorted(nodes)
    }

    /// Orders the nodes so that each comes after its dependencies (stable otherwise).
    fn sorted(mut rest: Vec<Node>) -> Self {
        let mut nodes: Vec<Node> = Vec::with_capacity(rest.len());
        let mut placed: BTreeSet<String> = BTreeSet::new();
        let all: BTreeSet<String> = rest.iter().map(|n| n.key.clone()).collect();
        while !rest.is_empty() {
            let ready = rest.iter().position(|n| {
                n.deps
                    .iter()
                    .all(|(d, _)| placed.contains(d) || !all.contains(d))
            });
            // A cycle (check() reports it): keep the rest in their order.
            let at = ready.unwrap_or(0);
            let n = rest.remove(at);
            placed.insert(n.key.clone());
            nodes.push(n);
        }
        let index = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.key.clone(), i))
            .collect();
        Graph { nodes, index }
    }

    /// Every dependency names a node, keys are unique, and there is no cycle.
    pub fn check(&self) -> Result<(), String> {
        if self.index.len() != self.nodes.len() {
            return Err("two nodes share a key".into());
        }
        for (i, n) in self.nodes.iter().enumerate() {
            for (d, _) in &n.deps {
                match self.index.get(d) {
                    None => return Err(format!("{} depends on unknown {d}", n.key)),
                    Some(&j) if j >= i => {
                        return Err(format!("{} and {d} depend on each other", n.key))
                    }
                    Some(_) => {}
                }
            }
        }
        Ok(())
    }

    pub fn node(&self, key: &str) -> Option<&Node> {
        self.index.get(key).map(|&i| &self.nodes[i])
    }

    pub fn contains(&self, key: &str) -> bool {
        self.index.contains_key(key)
    }

    /// `key` and everything that lives in it, transitively, in graph order: what is made
    /// again when `key` is.
    pub fn with_contents(&self, key: &str) -> Vec<String> {
        let mut out: BTreeSet<&str> = BTreeSet::new();
        out.insert(key);
        for n in &self.nodes {
            if n.deps
                .iter()
                .any(|(d, e)| *e == Edge::LivesIn && out.contains(d.as_str()))
            {
                out.insert(&n.key);
            }
        }
        self.nodes
            .iter()
            .filter(|n| out.contains(n.key.as_str()))
            .map(|n| n.key.clone())
            .collect()
    }

    /// The keys `key` depends on, directly.
    pub fn deps_of(&self, key: &str) -> Vec<String> {
        self.node(key)
            .map(|n| n.deps.iter().map(|(d, _)| d.clone()).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn spec() -> StackSpec {
        crate::stack::tests_support::spec()
    }

    #[test]
    fn the_tutorial_graph_is_complete_and_ordered() {
        let g = Graph::new(&spec());
        g.check().unwrap();
        let keys: Vec<&str> = g.nodes.iter().map(|n| n.key.as_str()).collect();
        for k in [
            key::TABLE,
            key::ROLE,
            key::ROLE_POLICY,
            key::FUNCTION,
            key::LOG_GROUP,
            key::REST_API,
            key::VALIDATOR,
            key::STAGE,
            "path:/user",
            "path:/user/{uid}",
            "method:POST /user",
            "method-responses:GET /user/{uid}",
            "integration:POST /user",
            "integration-responses:GET /user/{uid}",
            "permission:putitem",
            "alias:putitem",
        ] {
            assert!(keys.contains(&k), "{k} missing from {keys:?}");
        }
        // One invoke permission for the function, not one per route; and the gateway
        // response that names 415's content type (GET has a request template); the
        // function's live alias.
        assert_eq!(keys.len(), 21, "{keys:?}");
        assert!(keys.contains(&key::GATEWAY_RESPONSES));
        let at = |k: &str| keys.iter().position(|x| *x == k).unwrap();
        assert!(at("path:/user") < at("path:/user/{uid}"));
        assert!(at(key::ROLE) < at(key::FUNCTION));
        assert!(at("integration-responses:POST /user") < at(key::STAGE));
        // The deployment invokes the alias: it and its statement come first.
        assert!(at(key::FUNCTION) < at("alias:putitem"));
        assert!(at("alias:putitem") < at(key::STAGE));
        assert!(at("permission:putitem") < at(key::STAGE));
        let stage = g.node(key::STAGE).unwrap();
        assert!(stage.deps.iter().any(|(d, _)| d == "alias:putitem"));
        assert!(stage.deps.iter().any(|(d, _)| d == "permission:putitem"));
    }

    #[test]
    fn what_lives_in_a_resource_is_made_again_with_it() {
        let g = Graph::new(&spec());
        let api = g.with_contents(key::REST_API);
        assert!(api.contains(&"method:GET /user/{uid}".to_string()));
        assert!(api.contains(&key::STAGE.to_string()));
        assert!(!api.contains(&key::FUNCTION.to_string()));
        // A role made again: its policy with it; the function is only updated.
        assert_eq!(
            g.with_contents(key::ROLE),
            [key::ROLE.to_string(), key::ROLE_POLICY.to_string()]
        );
        // One route's method: that route, and the deployment; not the other route.
        let post = g.with_contents("method:POST /user");
        assert!(post.contains(&"integration-responses:POST /user".to_string()));
        assert!(post.contains(&key::STAGE.to_string()));
        assert!(!post.iter().any(|k| k.contains("GET")), "{post:?}");
        // A function made again: its permission and integrations.
        let f = g.with_contents(key::FUNCTION);
        assert!(f.contains(&"permission:putitem".to_string()));
        assert!(f.contains(&"integration:POST /user".to_string()));
    }

    #[test]
    fn cycles_and_unknown_dependencies_are_found() {
        let k = kinds::REGISTRY[0];
        let g = Graph::from_nodes(vec![Node::new(k, "a").needs("b")]);
        assert!(g.check().unwrap_err().contains("unknown"));
    }
}
