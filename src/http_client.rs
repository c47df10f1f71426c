//! A small HTTP(S) client for `try`: the hyper and rustls the AWS SDK already builds, with the
//! system's root certificates.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;

/// The most of an answer `try` reads: API Gateway answers at most 10 MB, the checks' answers
/// are a few hundred bytes.
pub const MAX_ANSWER_BYTES: usize = 1024 * 1024;

pub struct Client {
    inner: HyperClient<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

/// One answer, with how long it took.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub latency: Duration,
}

impl Client {
    pub fn new(timeout: Duration) -> anyhow::Result<Client> {
        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = match hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(provider.clone())
        {
            Ok(b) => b,
            // No system certificates (a bare container): plain HTTP (serve) still works, and
            // an HTTPS URL fails with a certificate error that says why.
            Err(_) => {
                let tls = rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .map_err(|e| anyhow::anyhow!("cannot set up TLS: {e}"))?
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth();
                hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls)
            }
        };
        let https = builder.https_or_http().enable_http1().build();
        Ok(Client {
            inner: HyperClient::builder(TokioExecutor::new()).build(https),
            timeout,
        })
    }

    /// Sends one request (its answer read up to [`MAX_ANSWER_BYTES`]); an error is a failure to get any answer (connection, timeout).
    pub async fn send(
        &self,
        method: &str,
        url: &str,
        json_body: Option<&str>,
    ) -> Result<Reply, String> {
        self.send_with(method, url, &[], json_body).await
    }

    /// [`Client::send`] with more headers (a `content-type` among them replaces the JSON one).
    pub async fn send_with(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        json_body: Option<&str>,
    ) -> Result<Reply, String> {
        let mut req = Request::builder()
            .method(method)
            .uri(url)
            .header("accept", "application/json")
            .header(
                "user-agent",
                concat!("serverless-cli/", env!("CARGO_PKG_VERSION")),
            );
        let typed = headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
        if json_body.is_some() && !typed {
            req = req.header("content-type", "application/json");
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(Full::new(Bytes::from(
                json_body.unwrap_or_default().to_string(),
            )))
            .map_err(|e| format!("bad request: {e}"))?;
        let started = Instant::now();
        let exchange = async {
            let res = self.inner.request(req).await.map_err(|e| {
                let mut msg = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    msg = format!("{msg}: {s}");
                    source = s.source();
                }
                msg
            })?;
            let status = res.status().as_u16();
            // An answer is read up to MAX_ANSWER_BYTES, never without end.
            let body = http_body_util::Limited::new(res.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|e| {
                    if e.is::<http_body_util::LengthLimitError>() {
                        format!("the answer is longer than {MAX_ANSWER_BYTES} bytes")
                    } else {
                        format!("reading the answer: {e}")
                    }
                })?
                .to_bytes();
            Ok::<_, String>((status, String::from_utf8_lossy(&body).into_owned()))
        };
        let (status, body) = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| format!("no answer within {} s", self.timeout.as_secs_f64()))??;
        Ok(Reply {
            status,
            body,
            latency: started.elapsed(),
        })
    }
}
