//! Gateway base URLs and the small helpers for times and errors the HTTP side shares.

use std::time::Duration;

/// The innermost error: "Connection refused (os error 111)" rather than reqwest's wrapper text.
pub(crate) fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

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
    }
}
