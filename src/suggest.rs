//! "Did you mean": the closest known name to a mistyped one, for scenario keys, threshold
//! metrics and header rules alike.

/// The closest candidate to `word`, if one is close enough to be a likely typo.
pub fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    // A word that starts a candidate (`p99` for `p99_ms`) most likely means the shortest such.
    if let Some(c) = candidates
        .iter()
        .filter(|c| word.len() >= 2 && c.starts_with(word) && **c != word)
        .min_by_key(|c| c.len())
    {
        return Some(c);
    }
    candidates
        .iter()
        .map(|c| (levenshtein(word, c), *c))
        .filter(|(d, c)| *d <= (c.len().max(word.len()) / 3).max(1) && *d > 0)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Edit distance between two short words.
fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(cur).min(row[j])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_are_close_names_only() {
        assert_eq!(
            suggest("endpoint", &["endpoints", "repeat"]),
            Some("endpoints")
        );
        assert_eq!(suggest("streem", &["stream", "status"]), Some("stream"));
        assert_eq!(suggest("zzzzzz", &["stream", "status"]), None);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
    }
}
