//! `ratecheck validate FILE...`: read and lint every scenario without sending anything.

use std::io::Write;
use std::path::PathBuf;

use super::{Ended, write_out};
use crate::cli::ValidateArgs;
use crate::config::CliError;
use crate::run::leaf_steps;
use crate::scenario::{self, Loaded};
use crate::verdict::Exit;

/// Reads every file; any bad one makes the error, with each file's located error before it.
pub fn read_all(files: &[PathBuf], target_given: bool) -> Result<Vec<Loaded>, CliError> {
    let mut loaded = Vec::new();
    let mut errors = Vec::new();
    for f in files {
        match scenario::read(f, target_given) {
            Ok(l) => loaded.push(l),
            Err(e) => errors.push(match e.excerpt() {
                Some(x) => format!("{e}\n{x}"),
                None => e.to_string(),
            }),
        }
    }
    if !errors.is_empty() {
        let mut e = CliError::usage(format!(
            "{} of {} scenario files cannot be used",
            errors.len(),
            files.len()
        ))
        .hint("fix the errors above; `ratecheck validate FILE` checks without sending anything");
        e.preceding = errors;
        return Err(e);
    }
    Ok(loaded)
}

/// Runs `ratecheck validate`.
pub fn run(args: &ValidateArgs, out: &mut dyn Write) -> Result<Ended, CliError> {
    let loaded = read_all(&args.files, args.target.is_some())?;
    let mut text = String::new();
    for l in &loaded {
        let n = leaf_steps(l);
        text.push_str(&format!(
            "{}: ok ({}, {n} {} once loops are unrolled)\n",
            l.path.display(),
            l.name(),
            if n == 1 { "step" } else { "steps" }
        ));
    }
    write_out(out, &text)?;
    Ok(Ended::with(Exit::Ok))
}
