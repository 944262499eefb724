//! Counts in words, as every report says them: "1 finding", "3 findings", "0 files".

/// `n` and `word`, plural unless `n` is one. Every noun the reports count takes an `s`.
pub fn counted<N: TryInto<u64>>(n: N, word: &str) -> String {
    let n = n.try_into().unwrap_or(u64::MAX);
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_is_singular_the_rest_plural() {
        assert_eq!(super::counted(1u32, "finding"), "1 finding");
        assert_eq!(super::counted(0u32, "file"), "0 files");
        assert_eq!(super::counted(12u64, "window"), "12 windows");
    }
}
