//! `manifest_url`: a manifest fetched over http or https, at most `MAX_MANIFEST_BYTES`
//! (upstream's `max_manifest_size`), read in chunks so a larger answer is refused without
//! being held whole.

use magnum_types::manifest::MAX_MANIFEST_BYTES;
use magnum_types::{MagnumError, Result};
use std::time::Duration;

const FETCH_TIMEOUT: Duration = Duration::from_secs(15);

fn bad(url: &str, why: impl std::fmt::Display) -> MagnumError {
    MagnumError::invalid(format!("Cannot read the manifest at manifest_url {url}: {why}"))
}

/// The text at `url`.
pub async fn fetch(url: &str) -> Result<String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| bad(url, format!("{e}. Give an http:// or https:// URL.")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad(url, "only http:// and https:// URLs are fetched."));
    }
    let client = reqwest::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .redirect(reqwest::redirect::Policy::limited(5))
        .build()
        .map_err(|e| MagnumError::internal(format!("cannot build an HTTP client: {e}")))?;
    let mut resp = client.get(parsed).send().await.map_err(|e| bad(url, e))?;
    if !resp.status().is_success() {
        return Err(bad(url, format!("the server answered {}.", resp.status())));
    }
    let too_big = || bad(url, format!("it is larger than {MAX_MANIFEST_BYTES} bytes."));
    if resp.content_length().is_some_and(|n| n > MAX_MANIFEST_BYTES as u64) {
        return Err(too_big());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| bad(url, e))? {
        if body.len() + chunk.len() > MAX_MANIFEST_BYTES {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).map_err(|_| bad(url, "it is not UTF-8 text."))
}
