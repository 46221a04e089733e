//! The retrieval rules both halves share: which words of a question are searched for, and how
//! the vector and keyword lists are fused (weighted reciprocal rank), so that a question finds
//! the same passages on the desktop and on ILS Central.

use std::collections::HashMap;
use std::hash::Hash;

/// Hybrid: how much the keyword list counts against the vector list.
///
/// This and `RRF_K` were chosen on the first 40 questions of the evaluation set
/// (tests/fixtures/kb), before the 14 identifier questions were added, from k in {1, 5, 10, 20,
/// 60} and weights {0.5, 1}. The usual k = 60 with equal weights let any chunk that both lists
/// rank anywhere in their top 40 outrank the vector list's first result, which lost
/// paraphrased questions whose words the answer does not share (README, retrieval figures).
pub const KEYWORD_WEIGHT: f64 = 0.5;

/// The reciprocal-rank constant (Cormack, Clarke and Büttcher 2009 use 60; see
/// `KEYWORD_WEIGHT` for why it is smaller here).
pub const RRF_K: f64 = 5.0;

/// Words too common to help a keyword search (a usual English stop list, as NLTK's).
pub const STOP_WORDS: [&str; 136] = [
    "a",
    "about",
    "above",
    "after",
    "again",
    "against",
    "all",
    "am",
    "an",
    "and",
    "any",
    "anyone",
    "anything",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "could",
    "did",
    "do",
    "does",
    "doing",
    "down",
    "during",
    "each",
    "every",
    "few",
    "for",
    "from",
    "further",
    "get",
    "getting",
    "go",
    "going",
    "got",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "herself",
    "him",
    "himself",
    "his",
    "how",
    "i",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "itself",
    "just",
    "me",
    "more",
    "most",
    "my",
    "myself",
    "no",
    "nor",
    "not",
    "now",
    "of",
    "off",
    "on",
    "once",
    "only",
    "or",
    "other",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "same",
    "she",
    "should",
    "so",
    "some",
    "someone",
    "something",
    "such",
    "than",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "to",
    "too",
    "under",
    "until",
    "up",
    "very",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "would",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
];

/// The words of a question that are searched for: lower-cased, split at anything that is not a
/// letter or digit, without stop words and repeats, in order.
pub fn query_words(text: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for w in text.split(|c: char| !c.is_alphanumeric()) {
        let w = w.to_lowercase();
        if w.is_empty() || STOP_WORDS.contains(&w.as_str()) || words.contains(&w) {
            continue;
        }
        words.push(w);
    }
    words
}

/// Fuses ranked lists of ids by weighted reciprocal rank; best first, ties by id.
pub fn rrf_fuse<T: Copy + Eq + Hash + Ord>(k: f64, lists: &[(&[T], f64)]) -> Vec<(T, f64)> {
    let mut scores: HashMap<T, f64> = HashMap::new();
    for (list, weight) in lists {
        for (rank, id) in list.iter().enumerate() {
            *scores.entry(*id).or_default() += weight / (k + rank as f64 + 1.0);
        }
    }
    let mut fused: Vec<(T, f64)> = scores.into_iter().collect();
    fused.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    fused
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn question_words_and_fusion() {
        assert_eq!(
            query_words("What is the BEST lens for the best kids?"),
            ["best", "lens", "kids"]
        );
        let fused = rrf_fuse(5.0, &[(&[1, 2, 3][..], 1.0), (&[3, 1][..], 0.5)]);
        assert_eq!(fused.iter().map(|f| f.0).collect::<Vec<_>>(), [1, 3, 2]);
    }
}
