//! A JSON-over-HTTP call as the API tests make it: a method, a URL, an optional body and
//! bearer token; the status and the JSON answer (null when there is none).

use serde_json::Value;

/// Sends `method url` with `body` (as JSON) and `token` (`None`: no Authorization header).
pub async fn call(
    http: &reqwest::Client,
    method: &str,
    url: &str,
    body: Option<Vec<u8>>,
    token: Option<&str>,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
    let mut request = http.request(method, url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body);
    }
    let response = request.send().await.expect("the service answers");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}
