//! The embedder against an independent float64 reference (models/reference/embed_reference.py),
//! on the real model fetched by `make setup`.

use std::path::PathBuf;

use ils_ai::Embedder;

fn model_dir() -> PathBuf {
    PathBuf::from(
        std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned()),
    )
    .join("../../models/all-MiniLM-L6-v2")
}

fn cosine(a: &[f32], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(*x) * y).sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|y| y * y).sum::<f64>().sqrt();
    dot / (na * nb)
}

fn reference() -> Vec<(String, Vec<f64>)> {
    let fixture: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/reference_embeddings.json")).expect("fixture");
    fixture["sentences"]
        .as_array()
        .expect("sentences")
        .iter()
        .map(|s| {
            let text = s["text"].as_str().expect("text").to_owned();
            let vector = s["embedding"]
                .as_array()
                .expect("embedding")
                .iter()
                .map(|v| v.as_f64().expect("f64"))
                .collect();
            (text, vector)
        })
        .collect()
}

#[test]
fn candle_matches_the_independent_reference() {
    let embedder = Embedder::load(&model_dir()).expect("the model is fetched by make setup");
    assert_eq!(embedder.id().dimensions, 384);
    let reference = reference();
    let texts: Vec<&str> = reference.iter().map(|(t, _)| t.as_str()).collect();
    // All at once (padded to the longest) and one by one must both match.
    let batched = embedder.embed(&texts).expect("embeds");
    let mut lowest = f64::MAX;
    for (i, (text, expected)) in reference.iter().enumerate() {
        let alone = embedder.embed(&[text]).expect("embeds");
        for (how, got) in [("batched", &batched[i]), ("alone", &alone[0])] {
            assert_eq!(got.len(), 384);
            let c = cosine(got, expected);
            lowest = lowest.min(c);
            assert!(c >= 0.999, "{how} {text:?}: cosine {c}");
            let norm: f32 = got.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-4, "unit length, got {norm}");
        }
    }
    println!("lowest cosine to the float64 reference: {lowest:.9}");
}

#[test]
fn similar_texts_are_close() {
    let embedder = Embedder::load(&model_dir()).expect("model");
    let v = embedder
        .embed(&[
            "How should I clean my contact lenses?",
            "Remove contact lenses before swimming and never rinse them with tap water.",
            "The practice opens at 8:30 on weekdays and closes at noon on Saturdays.",
        ])
        .expect("embeds");
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    assert!(
        dot(&v[0], &v[1]) > dot(&v[0], &v[2]) + 0.1,
        "care question is nearer lens care than opening hours"
    );
    assert!(embedder.embed(&[]).expect("empty").is_empty());
}
