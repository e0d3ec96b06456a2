//! HTTPS to the identity provider only: GET a JSON document, POST a form.
//! Every call has a deadline and a size limit; the trust roots are the
//! system's plus `--oidc-ca-file`.

use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;

use crate::net::CallError;

/// Every call to the provider gives up after this long.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// A discovery document, a key set or a token answer is far smaller.
const MAX_BODY: usize = 1024 * 1024;

#[derive(Clone)]
pub struct Https {
    client: crate::net::HttpClient,
}

impl Https {
    /// `ca_pem`: extra trusted certificates (PEM), beside the system's.
    pub fn new(ca_pem: Option<&[u8]>) -> Result<Https, String> {
        Ok(Https {
            client: crate::net::http_client(ca_pem, true, CALL_TIMEOUT)?,
        })
    }

    /// GET `url` and parse its JSON body.
    pub async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
    ) -> Result<T, CallError> {
        let req = hyper::Request::get(url)
            .header(hyper::header::ACCEPT, "application/json")
            .body(Full::new(Bytes::new()))
            .map_err(|source| CallError::Request {
                url: url.to_string(),
                source,
            })?;
        self.send(url, req).await
    }

    /// POST `form` (already encoded) to `url` with HTTP basic client
    /// credentials, and parse the JSON answer.
    pub async fn post_form<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        form: String,
        basic_auth: &str,
    ) -> Result<T, CallError> {
        let req = hyper::Request::post(url)
            .header(
                hyper::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(hyper::header::ACCEPT, "application/json")
            .header(hyper::header::AUTHORIZATION, format!("Basic {basic_auth}"))
            .body(Full::new(Bytes::from(form)))
            .map_err(|source| CallError::Request {
                url: url.to_string(),
                source,
            })?;
        self.send(url, req).await
    }

    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        req: hyper::Request<Full<Bytes>>,
    ) -> Result<T, CallError> {
        let (status, body) =
            crate::net::exchange(&self.client, url, req, MAX_BODY, CALL_TIMEOUT).await?;
        if !status.is_success() {
            let said = String::from_utf8_lossy(&body).chars().take(300).collect();
            return Err(CallError::Refused {
                url: url.to_string(),
                status,
                said,
            });
        }
        serde_json::from_slice(&body).map_err(|source| CallError::NotJson {
            url: url.to_string(),
            source,
        })
    }
}
