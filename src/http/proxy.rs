//! The proxy the environment names for a target: `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY` (either
//! case) less `NO_PROXY`, read by the same matcher reqwest uses, so what ratecheck reports is
//! what the client does.

use hyper_util::client::proxy::matcher::Matcher;

/// A proxy in use for one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvProxy {
    /// `scheme://host:port`, without credentials: safe to show.
    pub shown: String,
    /// The user and password in the proxy URL, if any: secrets for the redactor.
    pub credentials: Vec<String>,
}

/// The proxy the environment routes `base` through, if any.
pub fn for_target(base: &reqwest::Url) -> Option<EnvProxy> {
    let uri: http::Uri = base.as_str().parse().ok()?;
    let hit = Matcher::from_env().intercept(&uri)?;
    let proxy = hit.uri();
    let authority = proxy.authority()?;
    let port = authority
        .port()
        .map(|p| format!(":{p}"))
        .unwrap_or_default();
    let shown = format!(
        "{}://{}{port}",
        proxy.scheme_str().unwrap_or("http"),
        authority.host()
    );
    // `user:password@host` in the variable: the matcher turns it into a `Proxy-Authorization`
    // value; the redactor learns the user, the password and the pair.
    let credentials = hit
        .basic_auth()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b64| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.decode(b64).ok()
        })
        .and_then(|raw| String::from_utf8(raw).ok())
        .map(|pair| {
            let mut parts: Vec<String> = pair.split(':').map(str::to_string).collect();
            parts.push(pair);
            parts
        })
        .unwrap_or_default();
    Some(EnvProxy { shown, credentials })
}
