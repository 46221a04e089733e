//! The retrieval rules both halves share: which words of a question are searched for, and how
//! the vector and keyword lists are fused (weighted reciprocal rank), so that a question finds
//! the same passages on the desktop and on ILS Central.

use std::hash::Hash;

/// Hybrid fusion is weighted reciprocal rank: a passage scores weight / (k + rank) in each
/// list that holds it. The keyword list's weight depends on the question:
/// `KEYWORD_WEIGHT_IDENTIFIER` when it names an identifier (`identifiers`: a code, a number, an
/// acronym), where matching the exact token is the best evidence there is, and
/// `KEYWORD_WEIGHT` otherwise, where a passage that shares the question's words but not its
/// meaning must not be fused above the passage whose meaning is closest.
///
/// Chosen on the tuning questions only (`crates/ils-node/tests/fixtures/kb/questions.toml`, 74
/// questions; unanswerable.toml's `tune` half for the "not answered" rule) from k in {5, 10}
/// and weights {0.2, 0.3, 0.5} × {0.5, 0.75, 1}; `questions_held_out.toml` (48 questions,
/// written by someone who saw only the documents) is only reported. The fixed weight 0.5 had
/// ranked paraphrased questions below vector search alone.
pub const KEYWORD_WEIGHT: f64 = 0.3;

/// The keyword list's weight when the question names an identifier.
pub const KEYWORD_WEIGHT_IDENTIFIER: f64 = 1.0;

/// The reciprocal-rank constant (Cormack, Clarke and Büttcher 2009 use 60; a small k lets the
/// first places of each list count for more than agreement lower down).
pub const RRF_K: f64 = 5.0;

/// A word held by more of a practice's passages than this is common: it does not choose which
/// passages a keyword search ranks (those holding a rarer word of the question do), so a
/// question with one common word does not rank most of the knowledge base.
pub const COMMON_WORD_PASSAGES: usize = 500;

/// The most passages a keyword search ranks.
pub const MAX_RANKED: usize = 2_000;

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

/// A passage a hybrid search found, with what fusion weighs.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate<T> {
    pub id: T,
    /// Cosine similarity of the passage's vector with the question's.
    pub cosine: f64,
    /// The keyword score (higher better), when the keyword list holds the passage.
    pub keyword: Option<f64>,
    /// Rank (from 1) in the vector list and in the keyword list, where it appeared.
    pub vector_rank: Option<usize>,
    pub keyword_rank: Option<usize>,
}

/// The candidates of a hybrid search from its two lists, best first each, as (id, cosine) and
/// (id, keyword score): every passage once, with its ranks. A passage only the keyword list
/// holds has no cosine (NaN): fusion weighs ranks only, and `judge` takes the best cosine of the
/// vector list, which holds the closest passages.
pub fn candidates<T: Copy + Eq>(vector: &[(T, f64)], keyword: &[(T, f64)]) -> Vec<Candidate<T>> {
    let mut out: Vec<Candidate<T>> = vector
        .iter()
        .enumerate()
        .map(|(i, (id, cosine))| Candidate {
            id: *id,
            cosine: *cosine,
            keyword: None,
            vector_rank: Some(i + 1),
            keyword_rank: None,
        })
        .collect();
    for (i, (id, score)) in keyword.iter().enumerate() {
        match out.iter_mut().find(|c| c.id == *id) {
            Some(c) => {
                c.keyword = Some(*score);
                c.keyword_rank = Some(i + 1);
            }
            None => out.push(Candidate {
                id: *id,
                cosine: f64::NAN,
                keyword: Some(*score),
                vector_rank: None,
                keyword_rank: Some(i + 1),
            }),
        }
    }
    out
}

/// How a hybrid search fuses its two lists (the constants above by default).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fusion {
    /// The keyword list's weight for a question without an identifier.
    pub keyword_weight: f64,
    /// The keyword list's weight for a question that names one.
    pub keyword_weight_identifier: f64,
    pub rrf_k: f64,
}

impl Default for Fusion {
    fn default() -> Self {
        Self {
            keyword_weight: KEYWORD_WEIGHT,
            keyword_weight_identifier: KEYWORD_WEIGHT_IDENTIFIER,
            rrf_k: RRF_K,
        }
    }
}

/// The question's identifiers: its tokens (runs of letters, digits and `-./`) that hold a digit
/// (`POL-REF-07`, `R31`, `1.67`) or are capitals only, three or more (`DIMS`, `OSDI`).
pub fn identifiers(question: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for token in question.split(|c: char| !(c.is_alphanumeric() || matches!(c, '-' | '.' | '/'))) {
        let token = token.trim_matches(|c: char| !c.is_alphanumeric());
        let has_digit = token.chars().any(|c| c.is_ascii_digit());
        let capitals = token.chars().count() >= 3 && token.chars().all(|c| c.is_uppercase());
        if (has_digit || capitals) && !out.iter().any(|t| t == token) {
            out.push(token.to_owned());
        }
    }
    out
}

/// The candidates of `question` in fused order, best first, each with its fused score.
pub fn fuse<T: Copy + Eq + Hash + Ord>(
    question: &str,
    candidates: Vec<Candidate<T>>,
    fusion: Fusion,
) -> Vec<(Candidate<T>, f64)> {
    let keyword_weight = if identifiers(question).is_empty() {
        fusion.keyword_weight
    } else {
        fusion.keyword_weight_identifier
    };
    let score = |c: &Candidate<T>| {
        c.vector_rank
            .map_or(0.0, |r| 1.0 / (fusion.rrf_k + r as f64))
            + c.keyword_rank
                .map_or(0.0, |r| keyword_weight / (fusion.rrf_k + r as f64))
    };
    let mut out: Vec<(Candidate<T>, f64)> = candidates
        .into_iter()
        .map(|c| {
            let s = score(&c);
            (c, s)
        })
        .collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.id.cmp(&b.0.id)));
    out
}

/// Whether a practice's documents answer a question, judged from what retrieval found. The
/// judgement is deliberately cautious: it says "not answered" only on evidence (an identifier
/// the documents never mention, or nothing close in meaning), so answerable questions are
/// rarely refused; questions that look answerable but are not are left to the model, which the
/// prompt tells to say so (`ils_llm::prompt`). Figures on the tuning and held-out halves of
/// `unanswerable.toml`: README, "Retrieval quality".
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Answerability {
    /// Nothing says the documents cannot answer.
    Answered,
    /// The question names codes (letters and digits together) that no passage holds.
    UnknownIdentifiers { identifiers: Vec<String> },
    /// The closest passage is about something else (its cosine is below `OFF_TOPIC_COSINE`, or
    /// below `UNFAMILIAR_COSINE` while `UNFAMILIAR_SHARE` of the question's words are in no
    /// passage), or there is no passage at all.
    NothingClose,
}

impl Answerability {
    pub fn documents_answer(&self) -> bool {
        matches!(self, Answerability::Answered)
    }
}

/// Below this cosine the closest passage is about something else.
pub const OFF_TOPIC_COSINE: f64 = 0.27;
/// A question with at least this share of its words in no passage...
pub const UNFAMILIAR_SHARE: f64 = 0.25;
/// ...is off the documents' subject below this cosine.
pub const UNFAMILIAR_COSINE: f64 = 0.35;

/// Judges whether the documents answer `question`: `best_cosine` is the cosine of the closest
/// passage found (None when the search had no vector, or found nothing), `absent_words` the
/// question's words (`query_words`) that no passage of the practice holds.
pub fn judge(question: &str, best_cosine: Option<f64>, absent_words: &[String]) -> Answerability {
    // Codes (letters and digits together: AP-220, Q12, SV-CR-150) are what a question can name
    // that the documents must hold to answer it; a plain number or an acronym may be put
    // differently in the text (£300 against "over £250", AMD against its words in full).
    let codes: Vec<String> = identifiers(question)
        .into_iter()
        .filter(|id| id.chars().any(|c| c.is_ascii_digit()) && id.chars().any(char::is_alphabetic))
        .collect();
    let (unknown, known): (Vec<String>, Vec<String>) = codes
        .into_iter()
        .partition(|id| query_words(id).iter().any(|w| absent_words.contains(w)));
    if !unknown.is_empty() {
        return Answerability::UnknownIdentifiers {
            identifiers: unknown,
        };
    }
    // A code the documents hold vouches for them, however short the question (its cosine with
    // any passage is low: "DEQ-5 cut-off score").
    if !known.is_empty() {
        return Answerability::Answered;
    }
    let words = query_words(question).len().max(1) as f64;
    let unfamiliar = absent_words.len() as f64 / words >= UNFAMILIAR_SHARE;
    match best_cosine {
        Some(c) if c < OFF_TOPIC_COSINE || (unfamiliar && c < UNFAMILIAR_COSINE) => {
            Answerability::NothingClose
        }
        None if absent_words.len() as f64 >= words => Answerability::NothingClose,
        _ => Answerability::Answered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_and_the_not_answered_rule() {
        assert_eq!(
            identifiers("Is POL-REF-07 ok for 1.67 lenses, DIMS or HAL? OK."),
            ["POL-REF-07", "1.67", "DIMS", "HAL"]
        );
        assert!(identifiers("what is a varifocal").is_empty());
        let absent = |ws: &[&str]| ws.iter().map(|w| (*w).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            judge("Appointa error AP-220", Some(0.63), &absent(&["220"])),
            Answerability::UnknownIdentifiers {
                identifiers: vec!["AP-220".into()]
            }
        );
        assert_eq!(
            judge("Appointa error AP-305", Some(0.64), &[]),
            Answerability::Answered
        );
        assert_eq!(
            judge(
                "When is the next train to London?",
                Some(0.26),
                &absent(&["london"])
            ),
            Answerability::NothingClose
        );
        assert_eq!(
            judge(
                "guest wifi password please",
                Some(0.30),
                &absent(&["guest", "wifi"])
            ),
            Answerability::NothingClose
        );
        assert_eq!(
            judge(
                "hates chunky specs edges",
                Some(0.36),
                &absent(&["hates", "chunky"])
            ),
            Answerability::Answered
        );
        assert_eq!(
            judge("zzz qqq", None, &absent(&["zzz", "qqq"])),
            Answerability::NothingClose
        );
        assert_eq!(judge("varifocal", None, &[]), Answerability::Answered);
    }

    #[test]
    fn question_words_and_fusion() {
        assert_eq!(
            query_words("What is the BEST lens for the best kids?"),
            ["best", "lens", "kids"]
        );
        let rrf = |k: f64, v: &[i64], kw: &[i64], weight: f64| {
            let scored = |l: &[i64]| l.iter().map(|id| (*id, 0.0)).collect::<Vec<_>>();
            let fusion = Fusion {
                keyword_weight: weight,
                keyword_weight_identifier: weight,
                rrf_k: k,
            };
            fuse("a question", candidates(&scored(v), &scored(kw)), fusion)
                .into_iter()
                .map(|(c, s)| (c.id, s))
                .collect::<Vec<_>>()
        };
        let fused = rrf(5.0, &[1, 2, 3], &[3, 1], 0.5);
        assert_eq!(fused.iter().map(|f| f.0).collect::<Vec<_>>(), [1, 3, 2]);
        // With k = 60, 3 (second in both lists) beats 1 and 2, each first in one list only.
        let fused = rrf(60.0, &[1, 3, 4], &[2, 3, 5], 1.0);
        assert_eq!(fused[0].0, 3);
        assert_eq!(fused[1].0, 1, "ties between 1 and 2 go to the smaller id");
        assert!((fused[0].1 - 2.0 / 62.0).abs() < 1e-12);
        assert_eq!(fused.len(), 5);
        // A weight scales a list's say: 3, fifth in both, beats the first of each list at equal
        // weights, but not once the second list counts half.
        let (a, b): (&[i64], &[i64]) = (&[1, 4, 6, 7, 3], &[2, 8, 9, 10, 3]);
        assert_eq!(rrf(5.0, a, b, 1.0)[0].0, 3);
        let weighted = rrf(5.0, a, b, 0.5);
        assert_eq!(weighted[0].0, 1);
        assert!((weighted[0].1 - 1.0 / 6.0).abs() < 1e-12);
        // The keyword list's first passage is fused above the vector list's first when the
        // question names an identifier, and below it otherwise.
        let found = || {
            vec![
                Candidate {
                    id: 1,
                    cosine: 0.6,
                    keyword: None,
                    vector_rank: Some(1),
                    keyword_rank: None,
                },
                Candidate {
                    id: 2,
                    cosine: 0.4,
                    keyword: Some(9.0),
                    vector_rank: Some(4),
                    keyword_rank: Some(1),
                },
            ]
        };
        assert_eq!(
            fuse("what does R31 mean", found(), Fusion::default())[0]
                .0
                .id,
            2
        );
        assert_eq!(
            fuse("what does this mean", found(), Fusion::default())[0]
                .0
                .id,
            1
        );
    }
}
