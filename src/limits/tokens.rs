//! Tokens charged as used: each endpoint's charge, read between two controls, classed against
//! the `usage` it reported and against non-streaming chat's; one finding names every endpoint
//! charged nothing (or only in part) where chat is charged.

use super::session::Session;
use super::{CONTROL, CheckId, Outcomes, Status};
use crate::endpoint::Variant;
use crate::http::Usage;
use crate::verdict::{Finding, FindingKind};

/// What a charge was, against the usage reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Charged {
    /// Input and output tokens.
    Full,
    /// Output tokens only.
    Output,
    /// Input tokens only.
    Input,
    /// Nothing (at most one token).
    Nothing,
    /// Something else.
    Other,
}

impl Charged {
    pub(super) fn of(charge: i64, usage: Option<Usage>) -> Charged {
        let near = |want: Option<u64>| {
            want.and_then(|w| i64::try_from(w).ok())
                .is_some_and(|w| (charge - w).abs() <= (w / 10).max(2))
        };
        if charge <= 1 {
            return Charged::Nothing;
        }
        let Some(u) = usage else {
            return Charged::Other;
        };
        if near(u.total()) {
            Charged::Full
        } else if near(u.output) {
            Charged::Output
        } else if near(u.input) {
            Charged::Input
        } else {
            Charged::Other
        }
    }

    fn words(self) -> &'static str {
        match self {
            Charged::Full => "input and output tokens",
            Charged::Output => "its output tokens only",
            Charged::Input => "its input tokens only",
            Charged::Nothing => "nothing",
            Charged::Other => "neither its input, its output nor their total",
        }
    }
}

/// One request's charge.
pub(super) struct Charge {
    pub(super) variant: Variant,
    pub(super) tokens: i64,
    pub(super) usage: Option<Usage>,
    pub(super) class: Charged,
}

impl Charge {
    fn reported(&self) -> String {
        self.usage
            .and_then(|u| u.total())
            .map_or_else(|| "no usage".into(), |t| format!("{t} tokens"))
    }
}

// One table of charge classes against chat's, then the one finding that names every endpoint.
#[allow(clippy::too_many_lines)]
pub(super) fn judge_tokens(
    s: &mut Session<'_>,
    charges: &[Charge],
    chat_charge: i64,
    out: &mut Outcomes,
) {
    let check = CheckId::TokensCharged;
    let reference = charges.iter().find(|c| c.variant == CONTROL);
    let header = s
        .last
        .as_ref()
        .and_then(|a| a.reading.tokens.as_ref())
        .map(|c| c.header.clone())
        .unwrap_or_default();
    let mut defects: Vec<(&Charge, String)> = Vec::new();
    for c in charges {
        let said = format!(
            "charged {} for a call that reported {} ({})",
            c.tokens,
            c.reported(),
            c.class.words()
        );
        if c.variant == CONTROL {
            match c.class {
                Charged::Full => out.cell(check, c.variant, Status::Held, said),
                Charged::Output | Charged::Input => {
                    s.notes.push(format!(
                        "non-streaming chat is charged {}: {} of {} (LiteLLM's `general_settings.token_rate_limit_type` chooses input, output or total; BerriAI/litellm#17664)",
                        c.class.words(),
                        c.tokens,
                        c.reported()
                    ));
                    out.cell(check, c.variant, Status::Held, said);
                }
                Charged::Nothing => out.cell(
                    check,
                    c.variant,
                    Status::Suspicious,
                    format!("{said}: the key's tokens limit counts nothing here"),
                ),
                Charged::Other => out.cell(check, c.variant, Status::Suspicious, said),
            }
            continue;
        }
        let Some(r) = reference else {
            out.cell(
                check,
                c.variant,
                Status::Suspicious,
                format!("{said}; non-streaming chat was not measured to compare with"),
            );
            continue;
        };
        let chat = format!(
            "the same call on non-streaming chat was charged {} ({})",
            r.tokens,
            r.class.words()
        );
        let defect = match (c.class, r.class) {
            (Charged::Nothing, Charged::Full | Charged::Output | Charged::Input)
            | (Charged::Output | Charged::Input, Charged::Full) => true,
            // No usage to compare with: only nothing against a charged chat is proof.
            (Charged::Other, _) if c.usage.is_none() => c.tokens <= 1 && chat_charge >= 5,
            _ => false,
        };
        if defect {
            out.cell(
                check,
                c.variant,
                Status::Defect,
                format!("{said}, where {chat}"),
            );
            defects.push((c, said));
        } else if c.class == Charged::Full
            // Charged as chat is, by a policy the notes name: input, output or both. Nothing
            // on both, or something neither explains, is never held.
            || (c.class == r.class && matches!(c.class, Charged::Output | Charged::Input))
        {
            out.cell(check, c.variant, Status::Held, said);
        } else {
            out.cell(
                check,
                c.variant,
                Status::Suspicious,
                format!("{said}, where {chat}"),
            );
            let mut w = Finding::new(
                FindingKind::TokensNotCharged,
                format!(
                    "tokens charged unlike chat on {}: {said}, where {chat}",
                    c.variant
                ),
            )
            .warning();
            w.headers = vec![header.clone()];
            w.missing_on = vec![c.variant.to_string()];
            out.findings.push(w);
        }
    }
    if let Some(r) = reference.filter(|r| r.class == Charged::Nothing) {
        let mut w = Finding::new(
            FindingKind::TokensNotCharged,
            format!(
                "tokens are not charged even on non-streaming chat: `{header}` fell by {} for a call that reported {}; the key's tokens limit counts nothing",
                r.tokens,
                r.reported()
            ),
        )
        .warning();
        w.headers = vec![header.clone()];
        out.findings.push(w);
    }
    if defects.is_empty() {
        return;
    }
    let r = reference.map(|r| (r.tokens, r.reported(), r.class.words()));
    let litellm = s.is_litellm();
    let mut f = Finding::new(
        FindingKind::TokensNotCharged,
        format!(
            "tokens are not charged as used on {}{}: {}{}",
            defects
                .iter()
                .map(|(c, _)| c.variant.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            if litellm {
                " (BerriAI/litellm#17706, #18671)"
            } else {
                ""
            },
            defects
                .iter()
                .map(|(c, said)| format!("{} {said}", c.variant))
                .collect::<Vec<_>>()
                .join("; "),
            r.map_or_else(String::new, |(t, u, w)| format!(
                "; the same call on non-streaming chat was charged {t} for {u} ({w}), read on `{header}` between identical requests"
            ))
        ),
    );
    f.headers = vec![header];
    f.missing_on = defects.iter().map(|(c, _)| c.variant.to_string()).collect();
    f.present_on = charges
        .iter()
        .filter(|c| !defects.iter().any(|(d, _)| d.variant == c.variant))
        .map(|c| c.variant.to_string())
        .collect();
    f.link = litellm.then(|| "https://github.com/BerriAI/litellm/issues/17706".into());
    out.findings.push(f);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_are_classed_against_usage() {
        let u = Usage {
            input: Some(60),
            output: Some(10),
            total: Some(70),
        };
        assert_eq!(Charged::of(70, Some(u)), Charged::Full);
        assert_eq!(Charged::of(11, Some(u)), Charged::Output);
        assert_eq!(Charged::of(60, Some(u)), Charged::Input);
        assert_eq!(Charged::of(1, Some(u)), Charged::Nothing);
        assert_eq!(Charged::of(35, Some(u)), Charged::Other);
        assert_eq!(Charged::of(35, None), Charged::Other);
    }
}
