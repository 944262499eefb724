//! Gateway base URLs and the small helpers for times and errors the HTTP side shares.

use std::time::Duration;

/// The innermost error: "Connection refused (os error 111)" rather than reqwest's wrapper text.
pub(crate) fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    let cause = cur.to_string();
    // hyper's words for a head past its limits, in the user's.
    if cause == "message head is too large" {
        return format!(
            "the response head is too large (more than {MAX_HEADERS} headers, or about 400 KiB of them): not read"
        );
    }
    cause
}

/// Headers read per response. hyper's default, 100, is below what some gateways send once
/// every upstream header is passed through; a thousand is far above any seen.
pub(crate) const MAX_HEADERS: usize = 1000;

/// Normalises a gateway base: `http://host:4000`, `http://host:4000/` and `http://host:4000/v1`
/// all become `http://host:4000`, so endpoint paths can be appended.
pub fn normalize_base(text: &str) -> Result<reqwest::Url, String> {
    let mut url = reqwest::Url::parse(text.trim()).map_err(|e| match e {
        url::ParseError::RelativeUrlWithoutBase => {
            format!("`{text}` is not a URL: add the scheme, e.g. `http://{text}`")
        }
        other => format!("`{text}` is not a valid URL: {other}"),
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        if !text.contains("://") {
            return Err(format!(
                "`{text}` is not a URL: add the scheme, e.g. `http://{text}`"
            ));
        }
        return Err(format!(
            "`{text}` uses the scheme `{}`; ratecheck speaks http and https",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("`{text}` has no host"));
    }
    let path = url.path().trim_end_matches('/');
    // A URL copied from a request log names an endpoint: say which base it belongs to rather
    // than probe `/v1/chat/completions/v1/models`.
    let named = crate::endpoint::Endpoint::ALL
        .iter()
        .map(|e| e.path())
        .chain(["/v1/models"])
        .find_map(|p| {
            path.strip_suffix(p)
                .or_else(|| path.strip_suffix(p.trim_start_matches("/v1")))
                .map(|base| (base.to_string(), p))
        });
    if let Some((base, endpoint)) = named {
        let mut shown = url.clone();
        shown.set_path(&base);
        shown.set_query(None);
        shown.set_fragment(None);
        let _ = shown.set_password(None);
        let _ = shown.set_username("");
        return Err(format!(
            "the URL names the endpoint `{endpoint}`, not the gateway: pass its base URL, `{shown}` (ratecheck adds each endpoint's path itself)"
        ));
    }
    let path = path.strip_suffix("/v1").unwrap_or(path).to_string();
    url.set_path(&path);
    url.set_fragment(None);
    Ok(url)
}

/// Milliseconds, for reports.
pub fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// A duration as users write it: `30s`, `500ms`.
pub fn show_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bases_normalise() {
        for t in [
            "http://h:4000",
            "http://h:4000/",
            "http://h:4000/v1",
            "http://h:4000/v1/",
        ] {
            assert_eq!(normalize_base(t).unwrap().as_str(), "http://h:4000/");
        }
        assert_eq!(
            normalize_base("https://gw.example/litellm/v1")
                .unwrap()
                .path(),
            "/litellm"
        );
        assert!(normalize_base("localhost:4000").is_err());
        assert!(normalize_base("ftp://h").is_err());
        assert!(normalize_base("http://").is_err());
        assert!(normalize_base("::::").is_err());
        let pasted = normalize_base("http://h:4000/v1/chat/completions?x=1").unwrap_err();
        assert!(
            pasted.contains("`/v1/chat/completions`") && pasted.contains("`http://h:4000/`"),
            "{pasted}"
        );
        assert!(
            normalize_base("https://gw/litellm/embeddings")
                .unwrap_err()
                .contains("`https://gw/litellm`")
        );
    }
}
