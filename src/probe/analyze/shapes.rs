//! Checks across response shapes: a rate-limit header present on one endpoint/shape and missing
//! on another — one finding per defect, named LiteLLM's streaming or plain-dict drop
//! (BerriAI/litellm#27748) when the gateway is LiteLLM and the headers are its limiter's — and
//! the warning for a gateway that sends no rate-limit header at all.

use std::collections::BTreeSet;

use crate::endpoint::Mode;
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
pub(super) fn shape_comparison(exchanges: &[Exchange], out: &mut Vec<Finding>) {
    let ok: Vec<&Exchange> = exchanges.iter().filter(|e| e.shape.is_success()).collect();
    let litellm = is_litellm(exchanges);
    let mut names: BTreeSet<(Family, String)> = BTreeSet::new();
    for ex in &ok {
        for h in ex.rate_headers.iter().filter(|h| h.compared()) {
            names.insert((h.family, h.name.clone()));
        }
    }
    let variants = first_occurrences(ok.iter().map(|e| e.variant));
    let mut groups: Vec<(Places, Vec<Header>)> = Vec::new();
    for (family, name) in names {
        let places = places(&ok, &variants, &name);
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
}

/// Where `name` was present and missing, over the successful exchanges of each variant.
fn places(ok: &[&Exchange], variants: &[crate::endpoint::Variant], name: &str) -> Places {
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
