//! Checks across response shapes: a rate-limit header present on one endpoint/shape and missing
//! on another, and the LiteLLM v3 limiter's signature (BerriAI/litellm#27748).

use std::collections::BTreeSet;

use crate::endpoint::Mode;
use crate::headers::{Family, LITELLM_ISSUE_URL, LITELLM_VERSION};
use crate::http::{Exchange, Shape};

use super::{Finding, FindingKind, first_occurrences, has_family, join, label};

/// Headers sharing where they were present and where missing: (present, missing, headers).
type Group = (Vec<String>, Vec<String>, Vec<(Family, String)>);

/// Headers compared across shapes, and where each was seen or missed.
pub(super) fn shape_comparison(exchanges: &[Exchange], out: &mut Vec<Finding>) {
    let ok: Vec<&Exchange> = exchanges.iter().filter(|e| e.shape.is_success()).collect();
    let mut names: BTreeSet<(Family, String)> = BTreeSet::new();
    for ex in &ok {
        for h in &ex.rate_headers {
            if h.family.compared_across_shapes() {
                names.insert((h.family, h.name.clone()));
            }
        }
    }
    let variants = first_occurrences(ok.iter().map(|e| e.variant));
    // Headers that share the same present/missing sets become one finding: the v3 drop takes
    // all four counters at once, and four identical lines would bury the point.
    let mut groups: Vec<Group> = Vec::new();
    for (family, name) in names {
        let mut present = Vec::new();
        let mut missing = Vec::new();
        for v in &variants {
            let of_v: Vec<&&Exchange> = ok.iter().filter(|e| e.variant == *v).collect();
            let with = of_v
                .iter()
                .filter(|e| e.rate_header(&name).is_some())
                .count();
            if with > 0 {
                present.push(label(*v));
            }
            if with < of_v.len() {
                if with > 0 {
                    missing.push(format!(
                        "{} (in {} of {} rounds)",
                        label(*v),
                        of_v.len() - with,
                        of_v.len()
                    ));
                } else {
                    missing.push(label(*v));
                }
            }
        }
        if missing.is_empty() {
            continue;
        }
        match groups
            .iter_mut()
            .find(|(p, m, _)| *p == present && *m == missing)
        {
            Some((_, _, names)) => names.push((family, name)),
            None => groups.push((present, missing, vec![(family, name)])),
        }
    }
    for (present, missing, names) in groups {
        let shown: Vec<String> = names.iter().map(|(_, n)| format!("`{n}`")).collect();
        let mut f = Finding::new(
            FindingKind::MissingOnShape,
            format!(
                "{} present on {}, missing on {}",
                shown.join(", "),
                present.join(", "),
                missing.join(", ")
            ),
        );
        if names.iter().any(|(f, _)| *f == Family::LitellmDescriptor) {
            f.link = Some(LITELLM_ISSUE_URL.into());
        }
        f.headers = names.into_iter().map(|(_, n)| n).collect();
        f.present_on = present;
        f.missing_on = missing;
        out.push(f);
    }
}

/// LiteLLM's v3 drop: limits configured (key-limit headers) and counters on non-streaming
/// responses, none on streams or on plain dicts.
pub(super) fn litellm_signature(
    exchanges: &[Exchange],
    out: &mut Vec<Finding>,
    notes: &mut Vec<String>,
) {
    let ok: Vec<&Exchange> = exchanges.iter().filter(|e| e.shape.is_success()).collect();
    let control = |e: &&&Exchange| has_family(e, Family::LitellmKeyLimit);
    let counters = |e: &&&Exchange| has_family(e, Family::LitellmDescriptor);
    let is_litellm = exchanges
        .iter()
        .any(|e| e.header(LITELLM_VERSION).is_some() || has_family(e, Family::LitellmKeyLimit));
    if !is_litellm {
        return;
    }
    if !ok.iter().any(|e| control(&e)) && !ok.iter().any(|e| counters(&e)) {
        notes.push(format!(
            "LiteLLM without key limits: no `{}` header, so the key has no rpm/tpm limit and the v3 header check does not apply; probe with a key that has limits",
            crate::headers::LITELLM_KEY_RPM_LIMIT
        ));
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
    let with_counters: Vec<String> = first_occurrences(
        ok.iter()
            .filter(|e| e.variant.mode == Mode::NonStreaming && counters(e))
            .map(|e| label(e.variant)),
    );
    if with_counters.is_empty() {
        return;
    }
    let dropped = |shape: Shape| -> Vec<String> {
        first_occurrences(
            ok.iter()
                .filter(|e| e.shape == shape && control(e) && !counters(e))
                .map(|e| label(e.variant)),
        )
    };
    let descriptors: BTreeSet<String> = ok
        .iter()
        .flat_map(|e| e.rate_headers.iter())
        .filter(|h| h.family == Family::LitellmDescriptor)
        .map(|h| format!("`{}`", h.name))
        .collect();
    let streams = dropped(Shape::Sse);
    if !streams.is_empty() {
        let mut f = Finding::new(
            FindingKind::LitellmV3StreamingDrop,
            format!(
                "LiteLLM v3 limiter streaming header drop (BerriAI/litellm#27748): limits are configured (`x-litellm-key-*-limit` present) and {} are present on {} but absent on {}",
                join(&descriptors),
                with_counters.join(", "),
                streams.join(", ")
            ),
        );
        f.present_on.clone_from(&with_counters);
        f.missing_on = streams;
        f.link = Some(LITELLM_ISSUE_URL.into());
        out.push(f);
    }
    let dicts = dropped(Shape::PlainDict);
    if !dicts.is_empty() {
        let mut f = Finding::new(
            FindingKind::LitellmV3PlainDictDrop,
            format!(
                "LiteLLM v3 limiter plain-dict header drop (BerriAI/litellm#27748): {} are present on {} but absent on the plain-dict responses of {}",
                join(&descriptors),
                with_counters.join(", "),
                dicts.join(", ")
            ),
        );
        f.present_on = with_counters;
        f.missing_on = dicts;
        f.link = Some(LITELLM_ISSUE_URL.into());
        out.push(f);
    }
}
