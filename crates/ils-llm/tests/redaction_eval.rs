//! The redaction measured on the committed synthetic set (`fixtures/redaction`, written by its
//! `make_set.py`): recall per kind of identifier (a planted identifier counts as caught when no
//! trace of it is left in the prompt that would leave), and the clinical terms and lens names
//! wrongly replaced. The patterns were adjusted on the `tune` split; the figures that count are
//! the `held_out` split's, on names, templates and formats no setting was chosen on.
//!
//! `cargo test -p ils-llm --test redaction_eval -- --nocapture` prints the table.

use std::collections::BTreeMap;

use ils_llm::redact::{KnownPatient, Redactor};
use serde_json::Value;

struct Tally {
    planted: BTreeMap<String, (usize, usize)>,
    kept: (usize, usize),
    misses: Vec<String>,
}

fn measure(split: &str) -> Tally {
    let set = include_str!("fixtures/redaction/redaction_set.jsonl");
    let mut tally = Tally {
        planted: BTreeMap::new(),
        kept: (0, 0),
        misses: Vec::new(),
    };
    for line in set.lines().filter(|l| !l.trim().is_empty()) {
        let record: Value = serde_json::from_str(line).expect("json line");
        if record["split"] != split {
            continue;
        }
        let text_of = |v: &Value| v.as_str().map(str::to_owned);
        let patients = record["patients"]
            .as_array()
            .expect("patients")
            .iter()
            .map(|p| KnownPatient {
                first_name: text_of(&p["first_name"]).unwrap_or_default(),
                last_name: text_of(&p["last_name"]).unwrap_or_default(),
                customer_number: text_of(&p["customer_number"]),
                phone: text_of(&p["phone"]),
                email: text_of(&p["email"]),
                address: None,
            })
            .collect();
        let mut redactor = Redactor::new(patients);
        let text = record["text"].as_str().expect("text");
        let out = redactor.redact(text);
        for planted in record["planted"].as_array().expect("planted") {
            let kind = planted["kind"].as_str().expect("kind").to_owned();
            let value = planted["value"].as_str().expect("value");
            let entry = tally.planted.entry(kind.clone()).or_default();
            entry.0 += 1;
            if out.contains(value) {
                tally.misses.push(format!("{kind} {value:?} in {out:?}"));
            } else {
                entry.1 += 1;
            }
        }
        for keep in record["keep"].as_array().expect("keep") {
            let term = keep.as_str().expect("term");
            tally.kept.0 += 1;
            if out.contains(term) {
                tally.kept.1 += 1;
            } else {
                tally
                    .misses
                    .push(format!("clinical term {term:?} replaced in {out:?}"));
            }
        }
    }
    tally
}

fn report(split: &str, tally: &Tally) {
    println!("redaction, {split} split:");
    for (kind, (planted, caught)) in &tally.planted {
        println!(
            "  {kind:<8} {caught:>4} / {planted:<4} recall {:.3}",
            *caught as f64 / *planted as f64
        );
    }
    println!(
        "  clinical terms and lens names kept: {} / {} ({} wrongly replaced)",
        tally.kept.1,
        tally.kept.0,
        tally.kept.0 - tally.kept.1
    );
    for miss in tally.misses.iter().take(15) {
        println!("    {miss}");
    }
}

#[test]
fn identifiers_are_caught_and_clinical_terms_kept_on_prompts_no_setting_was_chosen_on() {
    let tune = measure("tune");
    report("tune", &tune);
    let held_out = measure("held_out");
    report("held_out", &held_out);
    for (kind, (planted, caught)) in &held_out.planted {
        let recall = *caught as f64 / *planted as f64;
        assert!(
            recall >= 0.99,
            "{kind}: recall {recall:.3} on the held-out split"
        );
    }
    let wrongly = held_out.kept.0 - held_out.kept.1;
    assert!(
        wrongly * 100 <= held_out.kept.0,
        "{wrongly} of {} clinical terms replaced on the held-out split",
        held_out.kept.0
    );
    assert!(held_out.planted.values().map(|(n, _)| n).sum::<usize>() > 800);
}
