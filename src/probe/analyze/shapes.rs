//! Checks across response shapes: a rate-limit header present on one endpoint/shape and missing
//! on another — one finding per defect, named LiteLLM's streaming or plain-dict drop
//! (BerriAI/litellm#27748) when the gateway is LiteLLM and the headers are its limiter's — and
//! the warning for a gateway that sends no rate-limit header at all.

use std::collections::{BTreeMap, BTreeSet};

use crate::endpoint::{Endpoint, Mode, Variant};
use crate::headers::{Family, LITELLM_ISSUE_URL, LITELLM_KEY_RPM_LIMIT};
use crate::http::{Exchange, Shape};

use super::{Finding, FindingKind, first_occurrences, is_litellm, label};

/// A header missing somewhere: its name, whether it is LiteLLM's limiter's own.
struct Header {
    name: String,
    limiter: bool,
}

/// Where a header was seen and missed: (present on, missing on) as variant labels, and the
/// exchanges it was missing from.
struct Places {
    present: Vec<String>,
    missing: Vec<String>,
    missed: Vec<(Mode, Shape)>,
}

/// Headers compared across shapes, one finding per group of headers that share where they were
/// present and where missing: the drop takes all of a limiter's counters at once, and four
/// identical lines would bury the point.
pub(super) fn shape_comparison(
    exchanges: &[Exchange],
    out: &mut Vec<Finding>,
    notes: &mut Vec<String>,
) {
    let ok: Vec<&Exchange> = exchanges.iter().filter(|e| e.shape.is_success()).collect();
    let litellm = is_litellm(exchanges);
    let upstream =
        |family: Family| family.provider_dialect() && !(litellm && family == Family::Openai);
    let mut names: BTreeSet<(Family, String)> = BTreeSet::new();
    // The provider dialects each endpoint answers in, on any of its shapes.
    let mut dialects: BTreeMap<Endpoint, BTreeSet<Family>> = BTreeMap::new();
    for ex in &ok {
        for h in ex.rate_headers.iter().filter(|h| h.compared()) {
            names.insert((h.family, h.name.clone()));
            if upstream(h.family) {
                dialects
                    .entry(ex.variant.endpoint)
                    .or_default()
                    .insert(h.family);
            }
        }
    }
    let variants = first_occurrences(ok.iter().map(|e| e.variant));
    let speaks = |v: &Variant, family: Family| {
        dialects
            .get(&v.endpoint)
            .is_some_and(|d| d.contains(&family))
    };
    let mut apart: BTreeSet<Family> = BTreeSet::new();
    // Upstream headers and the endpoints that carry no provider's headers at all.
    let mut silent: BTreeMap<Family, (Vec<String>, Vec<Endpoint>)> = BTreeMap::new();
    let mut groups: Vec<(Places, Vec<Header>)> = Vec::new();
    for (family, name) in names {
        // A gateway's own limiter headers belong on every endpoint; an upstream's only on the
        // endpoints that answer in its dialect (their own endpoint among them).
        let scope: Vec<Variant> = if upstream(family) {
            let (with, without): (Vec<Variant>, Vec<Variant>) =
                variants.iter().partition(|v| speaks(v, family));
            for v in without {
                if dialects.contains_key(&v.endpoint) {
                    apart.insert(family);
                } else {
                    let (names, places) = silent.entry(family).or_default();
                    if !names.contains(&name) {
                        names.push(name.clone());
                    }
                    if !places.contains(&v.endpoint) {
                        places.push(v.endpoint);
                    }
                }
            }
            with
        } else {
            variants.clone()
        };
        let places = places(&ok, &scope, &name);
        if places.missing.is_empty() {
            continue;
        }
        let header = Header {
            limiter: litellm && matches!(family, Family::LitellmDescriptor | Family::Openai),
            name,
        };
        match groups
            .iter_mut()
            .find(|(p, _)| p.present == places.present && p.missing == places.missing)
        {
            Some((_, headers)) => headers.push(header),
            None => groups.push((places, vec![header])),
        }
    }
    for (places, headers) in groups {
        out.extend(group_findings(&places, &headers));
    }
    if !apart.is_empty() {
        notes.push(dialect_note(&dialects));
    }
    for (family, (names, endpoints)) in silent {
        out.push(silent_warning(&ok, family, &names, &endpoints));
    }
}

/// An upstream's headers on some endpoints, and none of any provider on others: a drop when
/// those endpoints share the upstream, nothing when theirs sends none. Suspicious, not proof.
fn silent_warning(
    ok: &[&Exchange],
    family: Family,
    names: &[String],
    endpoints: &[Endpoint],
) -> Finding {
    let present: Vec<String> = first_occurrences(
        ok.iter()
            .filter(|e| {
                e.rate_headers
                    .iter()
                    .any(|h| h.family == family && h.compared())
            })
            .map(|e| e.variant.endpoint.name()),
    )
    .into_iter()
    .map(str::to_string)
    .collect();
    let missing: Vec<String> = endpoints.iter().map(|e| e.name().to_string()).collect();
    let shown: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    let mut f = Finding::new(
        FindingKind::MissingOnShape,
        format!(
            "{} ({}) present on {}, absent from every answer of {}, which carry no provider's rate-limit headers: a drop if they share {}'s upstream, nothing if theirs sends none",
            shown.join(", "),
            dialect_name(family),
            present.join(", "),
            missing.join(", "),
            present.first().map_or("that", String::as_str),
        ),
    );
    f.headers = names.to_vec();
    f.present_on = present;
    f.missing_on = missing;
    f.warning()
}

/// A provider dialect, in words.
fn dialect_name(family: Family) -> &'static str {
    match family {
        Family::Openai => "OpenAI's `x-ratelimit-*`",
        Family::Anthropic => "Anthropic's `anthropic-ratelimit-*`",
        Family::AnthropicUnified => "Anthropic's `anthropic-ratelimit-unified-*`",
        Family::WindowNamed => "window-named `x-ratelimit-*-minute`/`-day`",
        Family::XRatelimit => "bare `x-ratelimit-{limit,remaining,reset}`",
        Family::Flag => "rate-limit flags",
        _ => "other `x-ratelimit-*` names",
    }
}

/// Endpoints answering in different provider dialects: each compared within its own.
fn dialect_note(dialects: &BTreeMap<Endpoint, BTreeSet<Family>>) -> String {
    let each: Vec<String> = dialects
        .iter()
        .map(|(e, fams)| {
            let names: Vec<&str> = fams.iter().map(|f| dialect_name(*f)).collect();
            format!("{} in {}", e.name(), names.join(" and "))
        })
        .collect();
    format!(
        "the endpoints pass through headers of different providers ({}): an upstream's headers are compared only on the endpoints that answer in its dialect; the gateway's own on every endpoint",
        each.join("; ")
    )
}

/// Where `name` was present and missing, over the successful exchanges of each variant.
fn places(ok: &[&Exchange], variants: &[Variant], name: &str) -> Places {
    let mut p = Places {
        present: Vec::new(),
        missing: Vec::new(),
        missed: Vec::new(),
    };
    for v in variants {
        let of_v: Vec<&&Exchange> = ok.iter().filter(|e| e.variant == *v).collect();
        let own = |e: &&&Exchange| {
            e.rate_headers
                .iter()
                .any(|h| h.name == name && h.compared())
        };
        let with = of_v.iter().filter(|e| own(e)).count();
        if with > 0 {
            p.present.push(label(*v));
        }
        if with < of_v.len() {
            p.missing.push(if with > 0 {
                format!(
                    "{} (in {} of {} rounds)",
                    label(*v),
                    of_v.len() - with,
                    of_v.len()
                )
            } else {
                label(*v)
            });
            if let Some(e) = of_v.iter().find(|e| !own(e)) {
                p.missed.push((v.mode, e.shape));
            }
        }
    }
    p
}

/// One group's findings: LiteLLM's limiter headers missing on streams and on plain dicts are
/// two defects with two upstream histories; anything else is one `missing_on_shape`.
fn group_findings(places: &Places, headers: &[Header]) -> Vec<Finding> {
    let shown: Vec<String> = headers.iter().map(|h| format!("`{}`", h.name)).collect();
    let names: Vec<String> = headers.iter().map(|h| h.name.clone()).collect();
    let limiter = headers.iter().all(|h| h.limiter);
    let present = places.present.join(", ");
    let make = |kind, message: String, missing: Vec<String>| {
        let mut f = Finding::new(kind, message);
        f.headers.clone_from(&names);
        f.present_on.clone_from(&places.present);
        f.missing_on = missing;
        if headers.iter().any(|h| h.limiter) {
            f.link = Some(LITELLM_ISSUE_URL.into());
        }
        f
    };
    if !limiter {
        return vec![make(
            FindingKind::MissingOnShape,
            format!(
                "{} present on {present}, missing on {}",
                shown.join(", "),
                places.missing.join(", ")
            ),
            places.missing.clone(),
        )];
    }
    let mut streams = Vec::new();
    let mut dicts = Vec::new();
    let mut others = Vec::new();
    for (place, (mode, shape)) in places.missing.iter().zip(&places.missed) {
        match (mode, shape) {
            (Mode::Streaming, Shape::Sse) => streams.push(place.clone()),
            (_, Shape::PlainDict) => dicts.push(place.clone()),
            _ => others.push(place.clone()),
        }
    }
    let mut out = Vec::new();
    if !streams.is_empty() {
        out.push(make(
            FindingKind::LitellmV3StreamingDrop,
            format!(
                "LiteLLM streaming header drop (BerriAI/litellm#27748): the limiter's {} are present on {present} but absent on {}",
                shown.join(", "),
                streams.join(", ")
            ),
            streams,
        ));
    }
    if !dicts.is_empty() {
        out.push(make(
            FindingKind::LitellmV3PlainDictDrop,
            format!(
                "LiteLLM plain-dict header drop (BerriAI/litellm#27748, fixed in 1.102.0): the limiter's {} are present on {present} but absent on the plain-dict responses of {}",
                shown.join(", "),
                dicts.join(", ")
            ),
            dicts,
        ));
    }
    if !others.is_empty() {
        out.push(make(
            FindingKind::MissingOnShape,
            format!(
                "{} present on {present}, missing on {}",
                shown.join(", "),
                others.join(", ")
            ),
            others,
        ));
    }
    out
}

/// No rate-limit header anywhere: a warning, in words. LiteLLM without key limits sends none by
/// design, which is a note instead. Streams answered with JSON are noted too.
pub(super) fn presence(exchanges: &[Exchange], out: &mut Vec<Finding>, notes: &mut Vec<String>) {
    let ok: Vec<&Exchange> = exchanges.iter().filter(|e| e.shape.is_success()).collect();
    if ok.is_empty() {
        return;
    }
    for ex in &ok {
        if ex.variant.mode == Mode::Streaming && ex.shape == Shape::PlainDict {
            notes.push(format!(
                "{} asked for a stream and got JSON; it is checked as a plain dict, not as a stream",
                label(ex.variant)
            ));
        }
    }
    let own = ok.iter().any(|e| {
        e.rate_headers
            .iter()
            .any(crate::headers::RateHeader::compared)
    });
    if own {
        return;
    }
    if is_litellm(exchanges) {
        notes.push(format!(
            "LiteLLM without key limits: no `{LITELLM_KEY_RPM_LIMIT}` header, so the key has no rpm/tpm limit and the limiter's header check does not apply; probe with a key that has limits"
        ));
        return;
    }
    let upstream = ok
        .iter()
        .any(|e| e.rate_headers.iter().any(|h| h.family == Family::Provider));
    out.push(Finding::new(
        FindingKind::NoRateLimitHeaders,
        format!(
            "none of the {} successful responses carried a rate-limit header of the gateway's own{}: clients cannot pace themselves and learn the limit only from 429s",
            ok.len(),
            if upstream {
                " (only the upstream's `llm_provider-*` copies)"
            } else {
                ""
            }
        ),
    ));
}
