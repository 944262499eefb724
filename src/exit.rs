//! Exit codes: named, documented in the README, and decided in one place.

use crate::http::FailureKind;
use crate::probe::ProbeReport;

/// How a run ended. The numeric codes are stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: every check passed.
    Ok,
    /// 1: findings: headers missing, malformed or inconsistent.
    Findings,
    /// 2: usage or input error: bad flags, bad URL, unreadable file, no model to use.
    Usage,
    /// 3: target unreachable, or authentication failed.
    Unreachable,
    /// 4: the target accepted the connection but did not answer in time.
    Timeout,
    /// 5: the target answered with a broken response: a stream cut mid-way, a garbage body.
    Protocol,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Findings => 1,
            Exit::Usage => 2,
            Exit::Unreachable => 3,
            Exit::Timeout => 4,
            Exit::Protocol => 5,
        }
    }

    /// A stable one-word name, used in JSON reports.
    pub fn name(self) -> &'static str {
        match self {
            Exit::Ok => "ok",
            Exit::Findings => "findings",
            Exit::Usage => "usage",
            Exit::Unreachable => "unreachable",
            Exit::Timeout => "timeout",
            Exit::Protocol => "protocol",
        }
    }

    /// The more severe of two exits: a run that could not start outranks one that could not
    /// finish, which outranks one that finished and found things.
    pub fn worst(self, other: Exit) -> Exit {
        let rank = |e: Exit| match e {
            Exit::Ok => 0,
            Exit::Findings => 1,
            Exit::Protocol => 2,
            Exit::Timeout => 3,
            Exit::Unreachable => 4,
            Exit::Usage => 5,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

/// Maps a failure class to its exit.
pub fn for_failure(kind: FailureKind) -> Exit {
    match kind {
        FailureKind::Connect | FailureKind::Auth => Exit::Unreachable,
        FailureKind::Timeout => Exit::Timeout,
        FailureKind::StreamCut | FailureKind::BadBody => Exit::Protocol,
    }
}

/// The exit a probe report maps to.
pub fn for_probe(report: &ProbeReport) -> Exit {
    let mut exit = Exit::Ok;
    if let Some(abort) = &report.aborted {
        exit = if report.exchanges.is_empty() && matches!(abort.failure.kind, FailureKind::BadBody)
        {
            // No model could be found: the user must say which one.
            Exit::Usage
        } else {
            for_failure(abort.failure.kind)
        };
    }
    for ex in &report.exchanges {
        if let Some(f) = &ex.failure {
            exit = exit.worst(for_failure(f.kind));
        }
    }
    if !report.findings.is_empty() {
        exit = exit.worst(Exit::Findings);
    }
    exit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_and_ordered() {
        let all = [
            Exit::Ok,
            Exit::Findings,
            Exit::Usage,
            Exit::Unreachable,
            Exit::Timeout,
            Exit::Protocol,
        ];
        for (i, e) in all.iter().enumerate() {
            assert_eq!(usize::from(e.code()), i);
        }
        assert_eq!(Exit::Findings.worst(Exit::Protocol), Exit::Protocol);
        assert_eq!(Exit::Unreachable.worst(Exit::Findings), Exit::Unreachable);
    }
}
