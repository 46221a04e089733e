//! The knowledge base on a real SQLite file with the real embedding model: ingest, replace,
//! delete, cancel, bad input, and the three search modes.

mod common;

use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, Ordering};

use ils_ai::embed::Embedder;
use ils_node::Store;
use ils_node::kb::{self, KbError, Outcome, Progress, SearchMode, SearchOptions};

static EMBEDDER: LazyLock<Embedder> = LazyLock::new(|| {
    Embedder::load(
        &PathBuf::from(
            std::env::var("CARGO_MANIFEST_DIR")
                .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned()),
        )
        .join("../../models/all-MiniLM-L6-v2"),
    )
    .expect("the model (run `make setup`)")
});

/// The practice's administrator (who manages the knowledge base) signed in.
fn open(dir: &Path) -> Store {
    let mut store = common::open(&dir.join("ils.db"));
    store.sign_in(common::ADMIN).expect("signs in");
    store
}

fn ingest(store: &mut Store, path: &Path) -> Result<kb::Ingested, KbError> {
    kb::ingest_file(store, &EMBEDDER, path, &mut |_| {}, &AtomicBool::new(false))
}

/// (documents, chunks, rows in the FTS index, chunks in a fresh store's vector index)
fn counts(store_path: &Path) -> (i64, i64, i64, i64) {
    let store = Store::open(store_path).expect("opens");
    let indexed = kb::search::indexed_chunks(&store, &kb::model_tag(&EMBEDDER)).expect("index");
    drop(store);
    // sqlite-vec is registered process-wide by Store::open, so a raw connection sees vec0 too.
    let raw = rusqlite::Connection::open(store_path).expect("raw");
    let n = |sql: &str| -> i64 { raw.query_row(sql, [], |r| r.get(0)).expect(sql) };
    (
        n("SELECT count(*) FROM documents"),
        n("SELECT count(*) FROM chunks"),
        n("SELECT count(*) FROM chunks_fts_docsize"),
        indexed as i64,
    )
}

fn search(store: &Store, q: &str, mode: SearchMode) -> Vec<kb::Hit> {
    kb::search(
        store,
        &EMBEDDER,
        q,
        SearchOptions {
            mode,
            limit: 3,
            ..SearchOptions::default()
        },
    )
    .expect("search")
}

const MATERIALS: &str = "# Lens materials\n\n## Trivex\n\nTrivex is a urethane-based material \
with an index of 1.53. It is light, tough and gives sharp optics, which makes it a good choice \
for rimless frames and for children.\n\n## High index\n\nA 1.74 lens is the thinnest and \
lightest option for a strong prescription. Fit it with an anti-reflective coating, because \
high-index surfaces reflect more light.\n";

const CARE: &str = "# Contact lens care\n\nNever rinse or store contact lenses in tap water: \
it can carry Acanthamoeba, which causes a painful and sight-threatening keratitis. Replace the \
lens case every month and let it air-dry upside down.\n";

#[test]
fn ingest_search_replace_and_delete() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("ils.db");
    let docs = dir.path().join("docs");
    std::fs::create_dir(&docs).expect("docs");
    std::fs::write(docs.join("materials.md"), MATERIALS).expect("write");
    std::fs::write(docs.join("care.md"), CARE).expect("write");
    std::fs::write(docs.join("photo.jpg"), b"\xff\xd8\xff").expect("write");
    let mut store = open(dir.path());

    let files = kb::files_to_ingest(&docs).expect("walk");
    assert_eq!(files.len(), 2, "only the kinds of file it reads: {files:?}");
    let mut events = Vec::new();
    for f in &files {
        let done = kb::ingest_file(
            &mut store,
            &EMBEDDER,
            f,
            &mut |p| events.push(p.clone()),
            &AtomicBool::new(false),
        )
        .expect("ingests");
        assert_eq!(done.outcome, Outcome::Added);
    }
    assert!(matches!(events[0], Progress::Started { .. }));
    assert!(matches!(
        events.last(),
        Some(Progress::Finished {
            outcome: Outcome::Added,
            ..
        })
    ));
    let (d, c, f, v) = counts(&db);
    assert_eq!(
        (d, f, v),
        (2, c, c),
        "every chunk is indexed once for each search"
    );

    // Keyword, vector and hybrid each find the right passage; hits carry their citation.
    let k = search(&store, "Acanthamoeba", SearchMode::Keyword);
    assert_eq!(k.len(), 1);
    assert_eq!(k[0].title, "Contact lens care");
    let hit = &search(
        &store,
        "which lenses are thinnest for a very strong glasses prescription",
        SearchMode::Vector,
    )[0];
    assert!(hit.text.contains("1.74"), "{hit:?}");
    let text = std::fs::read_to_string(docs.join("materials.md")).expect("read");
    assert_eq!(
        &text[hit.byte_start as usize..hit.byte_end as usize],
        hit.text,
        "the byte range points at the passage in the document"
    );
    assert_eq!(hit.heading, "Lens materials > High index");
    let h = search(&store, "tap water keratitis risk", SearchMode::Hybrid);
    assert_eq!(h[0].title, "Contact lens care");
    assert!(h[0].vector_rank.is_some() && h[0].keyword_rank.is_some());

    // The same file again changes nothing; a changed file replaces its chunks.
    let again = ingest(&mut store, &docs.join("materials.md")).expect("again");
    assert_eq!(again.outcome, Outcome::Unchanged);
    std::fs::write(
        docs.join("materials.md"),
        "# Lens materials\n\nPolycarbonate has an Abbe value of 30 and is very impact resistant.\n",
    )
    .expect("write");
    let replaced = ingest(&mut store, &docs.join("materials.md")).expect("replace");
    assert_eq!(replaced.outcome, Outcome::Replaced);
    assert_eq!(replaced.document_id, again.document_id);
    let (d, c2, f, v) = counts(&db);
    assert_eq!((d, f, v), (2, c2, c2));
    assert!(
        search(&store, "Trivex", SearchMode::Keyword).is_empty(),
        "old chunks are gone"
    );
    assert_eq!(search(&store, "Abbe", SearchMode::Keyword).len(), 1);

    // Deleting removes the document with its chunks, index rows and vectors.
    let gone = kb::delete_document(&mut store, &docs.join("care.md").display().to_string())
        .expect("delete");
    assert_eq!(gone.title, "Contact lens care");
    assert!(search(&store, "Acanthamoeba", SearchMode::Keyword).is_empty());
    let (d, c3, f, v) = counts(&db);
    assert_eq!((d, f, v), (1, c3, c3));
    assert!(matches!(
        kb::delete_document(&mut store, "no-such-document"),
        Err(KbError::NotFound(_))
    ));

    // Sync and audit saw every change.
    let changes = store.pending_changes().expect("outbox");
    let ops: Vec<&str> = changes
        .iter()
        .filter(|c| c.entity == "document")
        .map(|c| c.operation.as_str())
        .collect();
    assert_eq!(ops, ["upsert", "upsert", "upsert", "delete"]);
    // A change describes the document (hash, model, size); its text is kept once, in the
    // document's row, never copied into the outbox or beside every chunk.
    for c in changes.iter().filter(|c| c.entity == "document") {
        assert!(
            !c.change.contains("Acanthamoeba") && !c.change.contains("urethane"),
            "the change carries no text: {}",
            c.change
        );
    }
    let raw = rusqlite::Connection::open(&db).expect("raw");
    let chunk_columns: Vec<String> = raw
        .prepare("SELECT name FROM pragma_table_info('chunks')")
        .expect("columns")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("names");
    assert!(
        !chunk_columns.contains(&"text".to_owned()),
        "{chunk_columns:?}"
    );
    let audit: Vec<String> = store
        .audit_entries(None, 100)
        .expect("audit")
        .into_iter()
        .map(|a| a.action)
        .collect();
    assert!(audit.contains(&"kb.document_replace".to_owned()));
    assert!(audit.contains(&"kb.document_delete".to_owned()));
}

fn long_document(sentences: usize) -> String {
    let mut s = String::from("# Handbook\n\n");
    for i in 0..sentences {
        s.push_str(&format!(
            "Paragraph {i} explains a practice procedure for frame number {i} in some detail. "
        ));
        if i % 5 == 4 {
            s.push_str("\n\n");
        }
    }
    s
}

#[test]
fn a_cancelled_ingest_leaves_nothing_and_keeps_the_old_version() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("ils.db");
    let file = dir.path().join("handbook.md");
    std::fs::write(&file, long_document(600)).expect("write");
    let mut store = open(dir.path());
    let cancel = AtomicBool::new(false);
    let mut batches = 0;
    let err = kb::ingest_file(
        &mut store,
        &EMBEDDER,
        &file,
        &mut |p| {
            if let Progress::Embedded { done, total, .. } = p {
                assert!(done < total, "cancelled before the end");
                batches += 1;
                cancel.store(true, Ordering::Relaxed);
            }
        },
        &cancel,
    )
    .expect_err("cancelled");
    assert!(matches!(err, KbError::Cancelled { .. }), "{err}");
    assert_eq!(batches, 1);
    assert_eq!(counts(&db), (0, 0, 0, 0));

    // With an earlier version in place, a cancelled replacement keeps it whole.
    std::fs::write(&file, MATERIALS).expect("write");
    let first = ingest(&mut store, &file).expect("ingests");
    std::fs::write(&file, long_document(600)).expect("write");
    let cancel = AtomicBool::new(true);
    assert!(kb::ingest_file(&mut store, &EMBEDDER, &file, &mut |_| {}, &cancel).is_err());
    let (d, c, f, v) = counts(&db);
    assert_eq!((d, c, f, v), (1, first.chunks as i64, c, c));
    assert_eq!(search(&store, "Trivex", SearchMode::Keyword).len(), 1);
}

/// A one-page PDF showing `lines` (none: a page without text, like a scan).
fn pdf(lines: &[&str]) -> Vec<u8> {
    use lopdf::{Document, Object, Stream, dictionary};
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
    });
    let resources_id = doc.add_object(dictionary! {
        "Font" => dictionary! { "F1" => font_id },
    });
    let mut content = String::from("BT /F1 12 Tf 72 760 Td 14 TL\n");
    for line in lines {
        content.push_str(&format!("({line}) Tj T*\n"));
    }
    content.push_str("ET\n");
    let content_id = doc.add_object(Stream::new(dictionary! {}, content.into_bytes()));
    let page_id = doc.add_object(dictionary! {
        "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
    });
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1,
            "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    let mut out = Vec::new();
    doc.save_to(&mut out).expect("pdf");
    out
}

#[test]
fn pdf_text_is_ingested() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("policy.pdf");
    std::fs::write(
        &file,
        pdf(&[
            "Spectacle collection policy.",
            "Glasses not collected within 90 days are recycled after a reminder letter.",
        ]),
    )
    .expect("write");
    let mut store = open(dir.path());
    let done = ingest(&mut store, &file).expect("ingests the PDF");
    assert_eq!(done.chunks, 1);
    let hits = search(&store, "uncollected glasses recycled", SearchMode::Hybrid);
    assert!(hits[0].text.contains("90 days"), "{hits:?}");
}

#[test]
fn bad_files_are_refused_clearly_and_nothing_is_written() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("ils.db");
    let mut store = open(dir.path());
    let huge = dir.path().join("huge.txt");
    std::fs::File::create(&huge)
        .expect("create")
        .set_len(kb::MAX_FILE_BYTES + 1)
        .expect("sparse file");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty.txt", Vec::new(), "it is empty"),
        ("blank.md", b" \n\n\t".to_vec(), "it is empty"),
        (
            "binary.txt",
            b"\x7fELF\x02\x01\x01\0\0\0\0".to_vec(),
            "binary file",
        ),
        ("latin1.md", b"Caf\xe9 cr\xe8me".to_vec(), "not UTF-8"),
        ("scan.pdf", pdf(&[]), "no text layer"),
        (
            "broken.pdf",
            b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\ngarbage".to_vec(),
            "cannot be read",
        ),
        ("fake.pdf", b"just words".to_vec(), "not a PDF"),
        (
            "sheet.xlsx",
            b"PK\x03\x04".to_vec(),
            "unsupported kind of file",
        ),
    ];
    for (name, bytes, needle) in &cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).expect("write");
        let err = ingest(&mut store, &path).expect_err(name);
        let message = err.to_string();
        assert!(message.contains(needle), "{name}: {message}");
        assert!(
            message.contains(name),
            "{name}: the message names the file: {message}"
        );
    }
    let err = ingest(&mut store, &huge).expect_err("huge");
    assert!(err.to_string().contains("up to 50 MiB"), "{err}");
    let err = ingest(&mut store, &dir.path().join("missing.md")).expect_err("missing");
    assert!(matches!(err, KbError::Io { .. }), "{err}");
    assert_eq!(counts(&db), (0, 0, 0, 0));
    assert!(store.pending_changes().expect("outbox").is_empty());

    // Queries are checked too.
    for (q, limit) in [("   ", 5), ("ok", 0), ("ok", 101)] {
        let err = kb::search(
            &store,
            &EMBEDDER,
            q,
            SearchOptions {
                limit,
                ..SearchOptions::default()
            },
        )
        .expect_err("bad query");
        assert!(matches!(err, KbError::BadQuery { .. }));
    }
    assert!(search(&store, "\"NEAR( AND OR *", SearchMode::Keyword).is_empty());
}

#[test]
fn a_document_is_not_written_without_its_outbox_change() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("ils.db");
    let file = dir.path().join("care.md");
    std::fs::write(&file, CARE).expect("write");
    let mut store = open(dir.path());
    common::fail_outbox_writes(&db);
    let err = ingest(&mut store, &file).expect_err("the outbox write fails");
    assert!(err.to_string().contains(common::INJECTED), "{err}");
    assert_eq!(counts(&db), (0, 0, 0, 0));
}

/// The vector index lives in each process's memory; another connection's writes (another
/// process: the CLI while the app runs) reach it at the next search, deletions included.
#[test]
fn the_vector_index_follows_writes_made_by_another_connection() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("materials.md"), MATERIALS).expect("write");
    std::fs::write(dir.path().join("care.md"), CARE).expect("write");
    let mut first = open(dir.path());
    ingest(&mut first, &dir.path().join("materials.md")).expect("ingests");
    let sources = |store: &Store, q: &str| -> Vec<String> {
        search(store, q, SearchMode::Vector)
            .into_iter()
            .map(|h| h.source)
            .collect()
    };
    let tap_water = "can contact lenses be rinsed in tap water";
    assert!(
        sources(&first, tap_water)
            .iter()
            .all(|s| s.ends_with("materials.md")),
        "the index is built with the first document only"
    );

    let mut second = open(dir.path());
    ingest(&mut second, &dir.path().join("care.md")).expect("ingests");
    assert!(
        sources(&first, tap_water)[0].ends_with("care.md"),
        "a document another connection wrote is found"
    );
    let materials = ingest(&mut first, &dir.path().join("materials.md")).expect("unchanged");
    kb::delete_document(&mut second, &materials.document_id).expect("deletes");
    let after = sources(&first, "thinnest lens for a strong prescription");
    assert!(
        after.iter().all(|s| s.ends_with("care.md")),
        "a deleted document is never returned: {after:?}"
    );
    let model = kb::model_tag(&EMBEDDER);
    assert_eq!(
        kb::search::indexed_chunks(&first, &model).expect("index"),
        kb::search::indexed_chunks(&second, &model).expect("index")
    );
}

#[test]
fn a_documents_change_goes_with_its_passages_and_a_replaced_version_does_not_go() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("care.md");
    std::fs::write(&path, CARE).expect("write");
    let mut store = open(dir.path());
    ingest(&mut store, &path).expect("ingests");
    std::fs::write(
        &path,
        format!("{CARE}\n\nRinse lenses with fresh solution only.\n"),
    )
    .expect("write");
    let replaced = ingest(&mut store, &path).expect("replaces");
    assert_eq!(store.sync_state().expect("state").pending, 2);

    // Only the version this file holds goes, whole: every passage with its vector.
    let batch = store.next_push(100, 6 << 20).expect("next push");
    assert_eq!(batch.len(), 1, "the replaced version is not sent");
    let change = ils_core::change::Change::decode(&batch[0].1).expect("change");
    let Some(ils_core::change::Record::Document(d)) = change.record else {
        panic!("a document");
    };
    let passages = d.passages.expect("passages travel with the change");
    assert_eq!(passages.len(), replaced.chunks);
    assert_eq!(passages.len(), d.chunks as usize);
    assert!(passages.iter().all(|p| p.decode_vector().is_some()));
    assert!(passages.iter().any(|p| p.text.contains("fresh solution")));
    // The outbox keeps the change without them.
    let kept = common::count(&dir.path().join("ils.db"), "outbox");
    assert_eq!(kept, 2);
    assert!(
        !store
            .outbox_changes()
            .expect("outbox")
            .iter()
            .any(|c| c.contains("passages"))
    );
    assert_eq!(store.sync_state().expect("state").pending, 1);
}
