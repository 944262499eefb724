//! Who answered: the gateway, named by headers only it sends, and the provider behind it,
//! named by the headers it lets through.
//!
//! A gateway in front of a provider often passes the provider's `server` header through, so
//! `server` names the gateway only when nothing else does. Each product is a [`Signature`] in
//! one of two tables, [`GATEWAYS`] and [`PROVIDERS`], each citing where its marks come from: a
//! capture in `tests/corpus/` or the product's public documentation. The first gateway in
//! table order whose mark any exchange carries is the gateway; the first provider likewise is
//! the upstream, its headers read also under LiteLLM's `llm_provider-` prefix. Headers that
//! providers' own front ends add (`x-envoy-upstream-service-time` on OpenAI's, Anthropic's,
//! Cohere's and Mistral's answers) name nothing.

use crate::http::Exchange;
use crate::probe::{Gateway, NamedBy, Upstream};

/// What in a response shows a product. Names and values are matched lowercased.
#[derive(Debug, Clone, Copy)]
enum Mark {
    /// A header with this name.
    Name(&'static str),
    /// A header whose name starts so.
    Prefix(&'static str),
    /// A header whose name ends so.
    Suffix(&'static str),
    /// This header, its value starting so.
    Value(&'static str, &'static str),
    /// This header, its value containing this.
    Contains(&'static str, &'static str),
}

/// Where a product's version is written: the text after `token` in `header`'s value, up to a
/// space, a comma or a semicolon (`via: 1.1 kong/3.11.0.2-enterprise-edition`); an empty
/// token takes the whole value (`x-litellm-version: 1.106.12`).
#[derive(Debug, Clone, Copy)]
struct Version {
    header: &'static str,
    token: &'static str,
}

/// A product and how its answers show it.
#[derive(Debug, Clone, Copy)]
struct Signature {
    name: &'static str,
    marks: &'static [Mark],
    version: &'static [Version],
    /// `server` values (lowercase prefixes) the product sets itself: with one of these the
    /// `server` header is the gateway's own, not its upstream's passed through.
    own_server: &'static [&'static str],
    /// A header whose value names the provider the gateway sent the request to.
    names_upstream: Option<&'static str>,
}

const fn gateway(name: &'static str, marks: &'static [Mark]) -> Signature {
    Signature {
        name,
        marks,
        version: &[],
        own_server: &[],
        names_upstream: None,
    }
}

const fn provider(name: &'static str, marks: &'static [Mark]) -> Signature {
    gateway(name, marks)
}

const KONG_VERSION: &[Version] = &[
    Version {
        header: "via",
        token: "kong/",
    },
    Version {
        header: "server",
        token: "kong/",
    },
];

/// Gateways, the more specific first: a Kong in front of Azure OpenAI (itself behind Azure API
/// Management) is Kong.
const GATEWAYS: &[Signature] = &[
    // docs.litellm.ai/docs/proxy/response_headers: `x-litellm-*` on every answer (version,
    // call id, key limits), the upstream's own headers under `llm_provider-`; served by uvicorn.
    Signature {
        version: &[Version {
            header: "x-litellm-version",
            token: "",
        }],
        own_server: &["uvicorn"],
        ..gateway(
            "LiteLLM",
            &[Mark::Prefix("x-litellm-"), Mark::Prefix("llm_provider-")],
        )
    },
    // portkey.ai/docs/api-reference/inference-api/response-schema: `x-portkey-trace-id`,
    // `-retry-attempt-count`, `-cache-status`, `-last-used-option-index` on every answer.
    gateway("Portkey", &[Mark::Prefix("x-portkey-")]),
    // docs.helicone.ai: `Helicone-RateLimit-*` and the other `helicone-*` answers.
    gateway("Helicone", &[Mark::Prefix("helicone-")]),
    // developers.cloudflare.com/ai-gateway/glossary: `cf-aig-cache-status`, `cf-aig-event-id`,
    // `cf-aig-log-id` on answers through the gateway.
    Signature {
        own_server: &["cloudflare"],
        ..gateway("Cloudflare AI Gateway", &[Mark::Prefix("cf-aig-")])
    },
    // docs.getbifrost.ai/providers/response-headers: `x-bifrost-*` on every inference answer,
    // `x-bifrost-provider` naming the provider that served it.
    Signature {
        names_upstream: Some("x-bifrost-provider"),
        ..gateway("Bifrost", &[Mark::Prefix("x-bifrost-")])
    },
    // tests/corpus/huggingface-router-chat-langchaingo.http: `x-powered-by: huggingface-moon`,
    // and `x-inference-provider` naming the provider (`hyperbolic`) the router chose.
    Signature {
        names_upstream: Some("x-inference-provider"),
        ..gateway(
            "Hugging Face router",
            &[
                Mark::Name("x-inference-provider"),
                Mark::Contains("x-powered-by", "huggingface"),
            ],
        )
    },
    // APISIX's getting-started guide: `Server: APISIX/3.3.0` on every answer by default; before
    // Kong AI, whose `x-ai-ratelimit-*` names APISIX's ai-rate-limiting shares.
    Signature {
        version: &[Version {
            header: "server",
            token: "apisix/",
        }],
        own_server: &["apisix"],
        ..gateway("APISIX", &[Mark::Value("server", "apisix")])
    },
    // tests/corpus/kong-ai-*.http: `X-Kong-LLM-Model` on answers of the AI Proxy plugin;
    // refusals/kong-ai-rate-limiting-advanced-429.http: `X-AI-RateLimit-*`.
    Signature {
        version: KONG_VERSION,
        own_server: &["kong/"],
        ..gateway(
            "Kong AI Gateway",
            &[
                Mark::Name("x-kong-llm-model"),
                Mark::Prefix("x-ai-ratelimit-"),
            ],
        )
    },
    // tests/corpus/kong-rate-limiting-plugin-httpbin.http (`Via: 1.1 kong/3.11.0.2-…`,
    // `X-Kong-*`), kong-ai-semantic-cache-hit.http (`Server: kong/…` when Kong answers itself);
    // mistral-*.http: Mistral's API answers through Kong.
    Signature {
        version: KONG_VERSION,
        own_server: &["kong/"],
        ..gateway(
            "Kong",
            &[
                Mark::Prefix("x-kong-"),
                Mark::Contains("via", "kong/"),
                Mark::Value("server", "kong/"),
            ],
        )
    },
    // tests/corpus/azure-openai-*.http: Azure OpenAI answers through Azure API Management
    // (`apim-request-id`); learn.microsoft.com/azure/api-management: `ocp-apim-*`.
    gateway(
        "Azure API Management",
        &[Mark::Name("apim-request-id"), Mark::Prefix("ocp-apim-")],
    ),
    // tests/corpus/cohere-*.http: `server: envoy`; Envoy's rate-limit filter docs:
    // `x-envoy-ratelimited` on its refusals.
    Signature {
        own_server: &["envoy"],
        ..gateway(
            "Envoy",
            &[
                Mark::Value("server", "envoy"),
                Mark::Name("x-envoy-ratelimited"),
            ],
        )
    },
];

/// Providers, by headers they add themselves.
const PROVIDERS: &[Signature] = &[
    // tests/corpus/openai-*.http: `openai-organization`, `-processing-ms`, `-project`,
    // `-version`, `-model`, `x-openai-proxy-wasm`; openai-chat-usage-based-community.http: the
    // `_usage_based` family only OpenAI sends (developers.openai.com rate-limits guide).
    provider(
        "OpenAI",
        &[
            Mark::Prefix("openai-"),
            Mark::Name("x-openai-proxy-wasm"),
            Mark::Suffix("_usage_based"),
        ],
    ),
    // tests/corpus/anthropic-*.http: `anthropic-ratelimit-*`, `anthropic-organization-id`.
    provider("Anthropic", &[Mark::Prefix("anthropic-")]),
    // tests/corpus/azure-openai-*.http.
    provider(
        "Azure OpenAI",
        &[
            Mark::Name("x-ms-region"),
            Mark::Name("azureml-model-session"),
            Mark::Name("x-ms-deployment-name"),
            Mark::Name("x-ms-rai-invoked"),
        ],
    ),
    // tests/corpus/mistral-*.http: `mistral-correlation-id`, `x-ratelimit-tokens-query-cost`,
    // the `ratelimitbysize` family.
    provider(
        "Mistral",
        &[
            Mark::Name("mistral-correlation-id"),
            Mark::Name("x-ratelimit-tokens-query-cost"),
            Mark::Prefix("ratelimitbysize-"),
            Mark::Prefix("x-ratelimitbysize-"),
        ],
    ),
    // tests/corpus/groq-chat-stream-openllmetry.http: `x-groq-region`.
    provider("Groq", &[Mark::Prefix("x-groq-")]),
    // tests/corpus/cerebras-chat-docs-example.http: per-day request counters.
    provider(
        "Cerebras",
        &[
            Mark::Name("x-ratelimit-limit-requests-day"),
            Mark::Name("x-ratelimit-remaining-requests-day"),
        ],
    ),
    // tests/corpus/together-*.http: `x-api-call-start`, `x-inference-version`.
    provider(
        "Together AI",
        &[
            Mark::Name("x-api-call-start"),
            Mark::Name("x-inference-version"),
        ],
    ),
    // tests/corpus/deepseek-chat-stream-openllmetry.http: `x-ds-trace-id`.
    provider("DeepSeek", &[Mark::Name("x-ds-trace-id")]),
    // tests/corpus/cohere-generate-trial-limits-langchaingo.http: trial call limits.
    provider(
        "Cohere",
        &[
            Mark::Name("x-endpoint-monthly-call-limit"),
            Mark::Prefix("x-trial-endpoint-call-"),
        ],
    ),
    // tests/corpus/gemini-generatecontent-crewai.http and its 429: Google's front end.
    provider(
        "Google",
        &[Mark::Value("server", "scaffolding on httpserver2")],
    ),
    // tests/corpus/github-rest-*.http: `x-github-request-id`, `x-github-media-type`.
    provider("GitHub", &[Mark::Prefix("x-github-")]),
];

/// LiteLLM's prefix for the upstream's own headers.
const PASSED_THROUGH: &str = "llm_provider-";

/// Every response header of an exchange, name and value: the headers kept, and the rate-limit
/// headers a lean capture keeps apart.
fn headers(ex: &Exchange) -> impl Iterator<Item = (&str, &str)> {
    ex.headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .chain(
            ex.rate_headers
                .iter()
                .map(|h| (h.name.as_str(), h.value.as_str())),
        )
}

impl Mark {
    fn matches(self, name: &str, value: &str) -> bool {
        let lower = || value.to_ascii_lowercase();
        match self {
            Mark::Name(n) => name == n,
            Mark::Prefix(p) => name.starts_with(p),
            Mark::Suffix(s) => name.ends_with(s),
            Mark::Value(h, v) => name == h && lower().starts_with(v),
            Mark::Contains(h, v) => name == h && lower().contains(v),
        }
    }
}

impl Signature {
    /// The first header of `exchanges` that shows this product, its name as `unprefix` leaves
    /// it; with its value when the value is what shows it (`server: envoy`).
    fn seen(self, exchanges: &[Exchange], unprefix: fn(&str) -> &str) -> Option<String> {
        exchanges.iter().flat_map(headers).find_map(|(n, v)| {
            let n = unprefix(n);
            let mark = self.marks.iter().find(|m| m.matches(n, v))?;
            Some(match mark {
                Mark::Value(..) | Mark::Contains(..) => format!("{n}: {v}"),
                Mark::Name(_) | Mark::Prefix(_) | Mark::Suffix(_) => n.to_string(),
            })
        })
    }

    fn version(self, exchanges: &[Exchange]) -> Option<String> {
        self.version.iter().find_map(|at| {
            exchanges
                .iter()
                .flat_map(headers)
                .filter(|(n, _)| *n == at.header)
                .find_map(|(_, v)| {
                    let from = v.to_ascii_lowercase().find(at.token)? + at.token.len();
                    let version: String = v[from..]
                        .chars()
                        .take_while(|c| !c.is_whitespace() && !matches!(c, ',' | ';'))
                        .collect();
                    (!version.is_empty()).then_some(version)
                })
        })
    }

    fn claims_server(self, server: &str) -> bool {
        let server = server.to_ascii_lowercase();
        self.own_server.iter().any(|s| server.starts_with(s))
    }
}

/// The first value of header `name` in `exchanges`.
fn first(exchanges: &[Exchange], name: &str) -> Option<String> {
    exchanges
        .iter()
        .flat_map(headers)
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_string())
}

/// Names the gateway, and the provider behind it, from the headers of `exchanges`.
pub fn fingerprint(exchanges: &[Exchange]) -> Gateway {
    let found = GATEWAYS
        .iter()
        .find_map(|g| g.seen(exchanges, |n| n).map(|evidence| (*g, evidence)));
    let server = first(exchanges, "server");
    let mut gw = match &found {
        Some((g, evidence)) => Gateway {
            name: Some(g.name.into()),
            version: g.version(exchanges),
            named_by: Some(NamedBy::Headers),
            evidence: Some(evidence.clone()),
            upstream: None,
        },
        None => Gateway {
            named_by: server.as_ref().map(|_| NamedBy::Server),
            evidence: server.as_ref().map(|_| "server".into()),
            name: server.clone(),
            ..Gateway::default()
        },
    };
    gw.upstream = upstream(exchanges, found.map(|(g, _)| g), server);
    gw
}

/// The provider behind `gateway`: named by the gateway, or by the provider's own headers; else
/// the `server` header the gateway passed through, when the gateway was named by its own
/// headers and does not claim that `server` as its own.
fn upstream(
    exchanges: &[Exchange],
    gateway: Option<Signature>,
    server: Option<String>,
) -> Option<Upstream> {
    let unprefix: fn(&str) -> &str = |n| n.strip_prefix(PASSED_THROUGH).unwrap_or(n);
    let passed = match gateway {
        Some(g) => first(exchanges, "llm_provider-server")
            .or_else(|| server.filter(|s| !g.claims_server(s))),
        None => None,
    };
    let named = gateway
        .and_then(|g| g.names_upstream)
        .and_then(|h| first(exchanges, h).map(|v| (v, h.to_string())))
        .or_else(|| {
            PROVIDERS
                .iter()
                .find_map(|p| p.seen(exchanges, unprefix).map(|e| (p.name.into(), e)))
        });
    match (named, passed) {
        (Some((name, evidence)), server) => Some(Upstream {
            name,
            named_by: NamedBy::Headers,
            evidence,
            server,
        }),
        (None, Some(server)) => Some(Upstream {
            name: server,
            named_by: NamedBy::Server,
            evidence: "server".into(),
            server: None,
        }),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoint::{Endpoint, Mode, Variant};
    use crate::http::Shape;

    fn answers(headers: &[(&str, &str)]) -> Vec<Exchange> {
        let variant = Variant {
            endpoint: Endpoint::Chat,
            mode: Mode::NonStreaming,
        };
        vec![Exchange::recorded(variant, 200, Shape::JsonObject, headers)]
    }

    /// The gateway and upstream as the corpus test writes them: `Kong 3.11`, `server: x`, `-`.
    fn shown(gw: &Gateway) -> (String, String) {
        let gateway = match (gw.named_by, &gw.name, &gw.version) {
            (Some(NamedBy::Headers), Some(n), Some(v)) => format!("{n} {v}"),
            (Some(NamedBy::Headers), Some(n), None) => n.clone(),
            (Some(NamedBy::Server), Some(n), _) => format!("server: {n}"),
            _ => "-".into(),
        };
        let upstream = match &gw.upstream {
            None => "-".into(),
            Some(u) if u.named_by == NamedBy::Server => format!("server: {}", u.name),
            Some(u) => match &u.server {
                Some(s) => format!("{}; server: {s}", u.name),
                None => u.name.clone(),
            },
        };
        (gateway, upstream)
    }

    /// Portkey in front of an upstream that sends its own `server`: the gateway is Portkey,
    /// named by its own header, and the `server` header passed through names the upstream.
    #[test]
    fn portkey_passing_the_upstream_server_through_is_portkey() {
        let gw = fingerprint(&answers(&[
            ("server", "fake-openai-upstream/1"),
            ("x-portkey-trace-id", "5b1e"),
            ("x-portkey-cache-status", "DISABLED"),
            ("x-ratelimit-remaining-requests", "99"),
        ]));
        assert_eq!(gw.name.as_deref(), Some("Portkey"));
        assert_eq!(gw.named_by, Some(NamedBy::Headers));
        assert_eq!(gw.evidence.as_deref(), Some("x-portkey-trace-id"));
        assert_eq!(
            gw.upstream,
            Some(Upstream {
                name: "fake-openai-upstream/1".into(),
                named_by: NamedBy::Server,
                evidence: "server".into(),
                server: None,
            })
        );
        let with_openai = fingerprint(&answers(&[
            ("server", "fake-openai-upstream/1"),
            ("x-portkey-trace-id", "5b1e"),
            ("openai-processing-ms", "12"),
        ]));
        assert_eq!(
            shown(&with_openai),
            (
                "Portkey".into(),
                "OpenAI; server: fake-openai-upstream/1".into()
            )
        );
    }

    #[test]
    fn each_gateway_is_named_by_its_own_headers() {
        /// Headers, and the gateway and upstream they name.
        type Case = (
            &'static [(&'static str, &'static str)],
            (&'static str, &'static str),
        );
        let cases: &[Case] = &[
            (
                &[("x-litellm-version", "1.106.12"), ("server", "uvicorn")],
                ("LiteLLM 1.106.12", "-"),
            ),
            (
                &[
                    ("x-litellm-key-rpm-limit", "100"),
                    ("llm_provider-openai-organization", "org"),
                    ("llm_provider-server", "cloudflare"),
                    ("server", "uvicorn"),
                ],
                ("LiteLLM", "OpenAI; server: cloudflare"),
            ),
            (
                &[
                    ("helicone-ratelimit-remaining", "9"),
                    ("anthropic-organization-id", "o"),
                ],
                ("Helicone", "Anthropic"),
            ),
            (
                &[("cf-aig-cache-status", "MISS"), ("server", "cloudflare")],
                ("Cloudflare AI Gateway", "-"),
            ),
            (
                &[
                    ("x-bifrost-provider", "anthropic"),
                    ("x-bifrost-request-id", "r"),
                ],
                ("Bifrost", "anthropic"),
            ),
            (
                &[("server", "APISIX/3.9.1"), ("x-ai-ratelimit-limit-m", "10")],
                ("APISIX 3.9.1", "-"),
            ),
            (
                &[
                    ("x-kong-llm-model", "openai/gpt-4.1"),
                    ("via", "1.1 kong/3.11.0.2-enterprise-edition"),
                    ("server", "cloudflare"),
                    ("openai-organization", "o"),
                ],
                (
                    "Kong AI Gateway 3.11.0.2-enterprise-edition",
                    "OpenAI; server: cloudflare",
                ),
            ),
            (
                &[("server", "kong/3.9.0"), ("x-kong-response-latency", "1")],
                ("Kong 3.9.0", "-"),
            ),
            (
                &[("apim-request-id", "r"), ("x-ms-region", "East US 2")],
                ("Azure API Management", "Azure OpenAI"),
            ),
            (&[("server", "envoy")], ("Envoy", "-")),
            (
                &[("server", "cloudflare"), ("openai-version", "2020-10-01")],
                ("server: cloudflare", "OpenAI"),
            ),
            (&[("x-ratelimit-limit", "10")], ("-", "-")),
        ];
        for (headers, want) in cases {
            let got = shown(&fingerprint(&answers(headers)));
            assert_eq!((got.0.as_str(), got.1.as_str()), *want, "{headers:?}");
        }
    }

    /// A provider's own front end is not a gateway in front of it: OpenAI's answers carry
    /// Envoy's `x-envoy-upstream-service-time`.
    #[test]
    fn a_providers_own_envoy_is_no_gateway() {
        let gw = fingerprint(&answers(&[
            ("server", "cloudflare"),
            ("x-envoy-upstream-service-time", "453"),
            ("openai-organization", "o"),
        ]));
        assert_eq!(shown(&gw), ("server: cloudflare".into(), "OpenAI".into()));
    }

    /// Every signature has a name and at least one mark, and no two share a name.
    #[test]
    fn the_tables_are_well_formed() {
        let mut names = std::collections::BTreeSet::new();
        for s in GATEWAYS.iter().chain(PROVIDERS) {
            assert!(!s.marks.is_empty(), "{}", s.name);
            assert!(names.insert(s.name), "{} twice", s.name);
            for m in s.marks {
                let text = match m {
                    Mark::Name(t) | Mark::Prefix(t) | Mark::Suffix(t) => *t,
                    Mark::Value(h, v) | Mark::Contains(h, v) => {
                        assert_eq!(*v, v.to_ascii_lowercase(), "{}", s.name);
                        h
                    }
                };
                assert_eq!(text, text.to_ascii_lowercase(), "{}", s.name);
            }
        }
    }
}
