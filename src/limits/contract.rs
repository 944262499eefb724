//! The 429 contract per endpoint (BerriAI/litellm#37754): every refusal the run met from the
//! gateway's own limiter, grouped by the limit it names. Where one endpoint's 429 for a limit
//! says when to retry (`retry-after`, `retry-after-ms`, a reset) and another's for the same
//! limit does not, clients of the second retry blind: a finding. Router-cooldown and upstream
//! 429s are not the key's limit and are left out.

use std::collections::BTreeSet;

use super::session::Session;
use super::{CheckId, LimitType, LimitsOptions, Origin, Outcomes, Status};
use crate::endpoint::Variant;
use crate::verdict::{Finding, FindingKind};

// One pass over the refusals, then one verdict per cell and per limit: read in order, as the README states the rule.
#[allow(clippy::too_many_lines)]
pub(super) fn judge(
    s: &mut Session<'_>,
    opts: &LimitsOptions,
    variants: &[Variant],
    out: &mut Outcomes,
) {
    let check = CheckId::RetryAdvice;
    if !opts.runs(check) {
        out.rest_not_checked(check, variants, "not asked for (`--checks`)");
        return;
    }
    let own: Vec<_> = s
        .refusals
        .iter()
        .filter(|(_, _, r)| r.origin == Origin::Own)
        .collect();
    let left_out = s.refusals.len() - own.len();
    if left_out > 0 {
        let cooldown = s
            .refusals
            .iter()
            .filter(|(_, _, r)| r.origin == Origin::Cooldown)
            .count();
        out.notes.push(format!(
            "{left_out} 429s left out of the 429 contract: {cooldown} from the router's cooldown, {} from the upstream — not the key's limit",
            left_out - cooldown
        ));
    }
    let types: BTreeSet<LimitType> = own.iter().map(|(_, _, r)| r.limit).collect();
    // Per limit: the variants whose every refusal says when, and those whose refusals never do.
    let mut missing: Vec<(Variant, Vec<LimitType>)> = Vec::new();
    let mut advised: Vec<(Variant, String)> = Vec::new();
    let mut silent_everywhere: Vec<LimitType> = Vec::new();
    for t in &types {
        let of_type: Vec<_> = own.iter().filter(|(_, _, r)| r.limit == *t).collect();
        let says = |v: Variant| {
            of_type
                .iter()
                .filter(|(w, _, _)| *w == v)
                .any(|(_, _, r)| r.says_when())
        };
        let seen: BTreeSet<Variant> = of_type.iter().map(|(v, _, _)| *v).collect();
        let with: Vec<Variant> = seen.iter().copied().filter(|v| says(*v)).collect();
        if with.is_empty() {
            silent_everywhere.push(*t);
            continue;
        }
        for v in seen.iter().copied().filter(|v| !says(*v)) {
            match missing.iter_mut().find(|(w, _)| *w == v) {
                Some((_, ts)) => ts.push(*t),
                None => missing.push((v, vec![*t])),
            }
        }
        for v in with {
            let advice = of_type
                .iter()
                .filter(|(w, _, _)| *w == v)
                .find_map(|(_, _, r)| {
                    r.advice
                        .clone()
                        .or(r.reset_label.then(|| "reset_at".into()))
                })
                .unwrap_or_default();
            if !advised.iter().any(|(w, _)| *w == v) {
                advised.push((v, advice));
            }
        }
    }
    let names = |ts: &[LimitType]| ts.iter().map(|t| t.name()).collect::<Vec<_>>().join(", ");
    for &v in variants {
        if let Some((_, ts)) = missing.iter().find(|(w, _)| *w == v) {
            out.cell(
                check,
                v,
                Status::Defect,
                format!(
                    "429 ({}) carries no `retry-after`, `retry-after-ms` or reset, where another endpoint's 429 for the same limit does",
                    names(ts)
                ),
            );
        } else if let Some((_, advice)) = advised.iter().find(|(w, _)| *w == v) {
            let long = out.too_long.iter().find(|(w, _, _)| *w == v).copied();
            match long {
                Some((_, _, actual_ms)) => out.cell(
                    check,
                    v,
                    Status::Suspicious,
                    format!(
                        "429 advises `{advice}`, but the slot came back {:.1} s later",
                        actual_ms / 1000.0
                    ),
                ),
                None => out.cell(check, v, Status::Held, format!("429 carries `{advice}`")),
            }
        } else if own.iter().any(|(w, _, _)| *w == v) {
            out.cell(
                check,
                v,
                Status::Suspicious,
                "no 429 of the key's limits says when to retry, on any endpoint".into(),
            );
        }
    }
    out.rest_not_checked(
        check,
        variants,
        "no 429 from the key's own limiter was met on it",
    );
    if !missing.is_empty() {
        let litellm = s.is_litellm();
        let with: Vec<String> = advised.iter().map(|(v, _)| v.to_string()).collect();
        let headers: BTreeSet<String> = advised
            .iter()
            .map(|(_, a)| a.split(':').next().unwrap_or_default().trim().to_string())
            .collect();
        let example = advised
            .first()
            .map(|(v, a)| format!("{v}'s carries `{a}`"))
            .unwrap_or_default();
        let mut f = Finding::new(
            FindingKind::RetryAdviceMissing,
            format!(
                "429s from the key's own limiter on {} say nothing about when to retry (no `retry-after`, `retry-after-ms` or reset){}, while the same limit's 429 on {} does ({example}); clients that pace on it retry at once",
                missing
                    .iter()
                    .map(|(v, ts)| format!("{v} ({})", names(ts)))
                    .collect::<Vec<_>>()
                    .join(", "),
                if litellm {
                    " (BerriAI/litellm#37754)"
                } else {
                    ""
                },
                with.join(", ")
            ),
        );
        f.headers = headers.into_iter().collect();
        f.present_on = with;
        f.missing_on = missing.iter().map(|(v, _)| v.to_string()).collect();
        f.link = litellm.then(|| "https://github.com/BerriAI/litellm/issues/37754".into());
        out.findings.push(f);
    }
    if !silent_everywhere.is_empty() {
        out.findings.push(
            Finding::new(
                FindingKind::NoRetryHint,
                format!(
                    "no 429 for the key's {} limit says when to retry, on any endpoint: clients can only guess",
                    names(&silent_everywhere)
                ),
            )
            .warning(),
        );
    }
    if !out.too_long.is_empty() {
        let list = out
            .too_long
            .iter()
            .map(|(v, a, b)| {
                format!(
                    "{v} advised {:.0} s, free again after {:.1} s",
                    a / 1000.0,
                    b / 1000.0
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        let mut w = Finding::new(
            FindingKind::RetryAdviceTooLong,
            format!(
                "429s for `max_parallel_requests` advise far longer than the slot takes to come back: {list}. Clients that obey wait for nothing; the advice is the window, not the time to a free slot"
            ),
        )
        .warning();
        w.missing_on = out.too_long.iter().map(|(v, _, _)| v.to_string()).collect();
        out.findings.push(w);
    }
}
