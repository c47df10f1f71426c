//! AWS's rules the emulator does not keep: Lambda's policy size limit, and one Put* at a
//! time on a method.

use super::*;

/// Lambda's limit on a function's resource-based policy (Lambda quotas: 20 KB).
pub const POLICY_LIMIT: usize = 20 * 1024;

/// After moto added a statement: the policy over [`POLICY_LIMIT`] takes it back out and
/// answers PolicyLengthExceededException (Lambda checks before it adds; the effect is the same).
pub(crate) async fn policy_limit(
    moto: &import::Upstream<'_>,
    call: &Call,
    sent: &Bytes,
) -> Option<Response<Full<Bytes>>> {
    let policy = moto.call("GET", &call.path, None).await?;
    let size = policy["Policy"].as_str()?.len();
    if size <= POLICY_LIMIT {
        return None;
    }
    let sid = serde_json::from_slice::<serde_json::Value>(sent).ok()?["StatementId"]
        .as_str()?
        .to_string();
    moto.call("DELETE", &format!("{}/{sid}", call.path), None)
        .await;
    Some(error_response(
        call,
        400,
        "PolicyLengthExceededException",
        &format!("The final policy size ({size}) is bigger than the limit ({POLICY_LIMIT})."),
        None,
    ))
}

/// The method a Put* call changes: `/restapis/{id}/resources/{id}/methods/{verb}`.
pub(crate) fn method_put_key(call: &Call) -> Option<String> {
    const PUTS: [&str; 4] = [
        "PutMethod",
        "PutMethodResponse",
        "PutIntegration",
        "PutIntegrationResponse",
    ];
    if call.service != "apigateway" || !PUTS.contains(&call.operation.as_str()) {
        return None;
    }
    let segs: Vec<&str> = call.path.trim_matches('/').split('/').collect();
    (segs.len() >= 6).then(|| segs[..6].join("/"))
}

/// Frees the method when its call is done (answered, dropped or failed).
pub(crate) struct MethodGuard {
    pub(crate) shared: Arc<Shared>,
    pub(crate) key: String,
}

impl Drop for MethodGuard {
    fn drop(&mut self) {
        self.shared.methods_busy.lock().unwrap().remove(&self.key);
    }
}
