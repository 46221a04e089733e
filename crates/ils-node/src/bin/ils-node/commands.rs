//! The subcommands: parse, call the library, print. No business rules here.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{Local, NaiveDate};
use clap::Subcommand;
use ils_ai::embed::Embedder;
use ils_core::order::{OrderAction, OrderData, OrderStatus};
use ils_core::patient::PatientData;
use ils_core::rx::RxData;
use ils_core::{OrderId, PatientId, PrescriptionId, fhir};
use ils_node::kb::{self, Progress, SearchMode, SearchOptions};
use ils_node::store::{OrderFilter, StoredOrder, StoredPatient};
use ils_node::{Actor, Store};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::output::{CliError, CliResult, Out};

#[derive(Debug)]
pub struct Context {
    pub db: PathBuf,
    pub user: Option<String>,
    pub model: Option<PathBuf>,
    pub out: Out,
}

impl Context {
    /// The database, with the user signed in.
    pub fn store(&self) -> CliResult<Store> {
        if let Some(dir) = self.db.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| CliError::Input(format!("cannot create {}: {e}", dir.display())))?;
        }
        let mut store = Store::open_installation(&self.db)?;
        let user = match &self.user {
            Some(u) => u.clone(),
            None => format!(
                "local:{}",
                std::env::var("USER").unwrap_or_else(|_| "unknown".into())
            ),
        };
        let actor = Actor::new(&user).map_err(|e| CliError::Input(format!("--user: {e}")))?;
        store.sign_in(actor);
        Ok(store)
    }

    pub fn model_dir(&self) -> PathBuf {
        if let Some(m) = &self.model {
            return m.clone();
        }
        let local = PathBuf::from("models/all-MiniLM-L6-v2");
        if local.exists() {
            return local;
        }
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/all-MiniLM-L6-v2")
    }

    pub fn embedder(&self) -> CliResult<Embedder> {
        Ok(Embedder::load(&self.model_dir())?)
    }
}

fn today() -> NaiveDate {
    Local::now().date_naive()
}

/// Reads a JSON file a person wrote, with a message that says where it is wrong.
fn read_json(path: &Path) -> CliResult<serde_json::Value> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Input(format!("cannot read {}: {e}", path.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| CliError::Input(format!("{} is not valid JSON: {e}", path.display())))
}

fn from_json<T: serde::de::DeserializeOwned>(
    path: &Path,
    value: serde_json::Value,
) -> CliResult<T> {
    serde_json::from_value(value).map_err(|e| CliError::Input(format!("{}: {e}", path.display())))
}

pub fn init(ctx: &Context) -> CliResult {
    let mut store = ctx.store()?;
    #[derive(Serialize)]
    struct Init {
        database: String,
        schema_version: u32,
        device_id: String,
    }
    let info = Init {
        database: std::path::absolute(&ctx.db)?.display().to_string(),
        schema_version: store.schema_version()?,
        device_id: format!("{:016x}", store.device_id()?),
    };
    ctx.out.emit(&info, |i| {
        format!(
            "database {} ready (schema {}, device {})",
            i.database, i.schema_version, i.device_id
        )
    });
    Ok(())
}

#[derive(Debug, Subcommand)]
pub enum PatientCmd {
    /// Adds a patient.
    Add {
        /// The practice's own number for the patient.
        #[arg(long)]
        number: String,
        #[arg(long)]
        first: String,
        #[arg(long)]
        last: String,
        /// Date of birth, YYYY-MM-DD.
        #[arg(long)]
        dob: NaiveDate,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        phone: Option<String>,
        #[arg(long)]
        address: Option<String>,
        #[arg(long)]
        notes: Option<String>,
    },
    /// Lists patients by name.
    List {
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long, default_value_t = 0)]
        offset: u32,
    },
    /// Finds patients by the start of a name or by customer number.
    Search {
        query: String,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Shows a patient with their prescriptions and orders.
    Show { id: PatientId },
}

fn patient_line(p: &StoredPatient) -> String {
    format!(
        "{}  {:<10} {}, {}  born {}",
        p.id, p.data.customer_number, p.data.last_name, p.data.first_name, p.data.date_of_birth
    )
}

fn patient_lines(list: &[StoredPatient]) -> String {
    if list.is_empty() {
        return "no patients".into();
    }
    list.iter().map(patient_line).collect::<Vec<_>>().join("\n")
}

pub fn patients(ctx: &Context, cmd: PatientCmd) -> CliResult {
    let mut store = ctx.store()?;
    match cmd {
        PatientCmd::Add {
            number,
            first,
            last,
            dob,
            email,
            phone,
            address,
            notes,
        } => {
            let data = PatientData {
                customer_number: number,
                first_name: first,
                last_name: last,
                date_of_birth: dob,
                email,
                phone,
                address,
                notes,
            };
            let id = store.add_patient(&data, today())?;
            let p = store.patient(id)?;
            ctx.out.emit(&p, |p| format!("added {}", patient_line(p)));
        }
        PatientCmd::List { limit, offset } => {
            let list = store.search_patients(None, limit, offset)?;
            ctx.out.emit(&list, |l| patient_lines(l));
        }
        PatientCmd::Search { query, limit } => {
            let list = store.search_patients(Some(&query), limit, 0)?;
            ctx.out.emit(&list, |l| patient_lines(l));
        }
        PatientCmd::Show { id } => {
            #[derive(Serialize)]
            struct Record {
                patient: StoredPatient,
                prescriptions: Vec<ils_node::store::StoredPrescription>,
                orders: Vec<StoredOrder>,
            }
            let record = Record {
                patient: store.patient(id)?,
                prescriptions: store.prescriptions_of(id)?,
                orders: store.orders(OrderFilter {
                    patient: Some(id),
                    ..OrderFilter::default()
                })?,
            };
            ctx.out.emit(&record, |r| {
                let mut s = patient_line(&r.patient);
                for (label, value) in [
                    ("email", &r.patient.data.email),
                    ("phone", &r.patient.data.phone),
                    ("address", &r.patient.data.address),
                    ("notes", &r.patient.data.notes),
                ] {
                    if let Some(v) = value {
                        s.push_str(&format!("\n  {label}: {v}"));
                    }
                }
                s.push_str(&format!("\nprescriptions ({}):", r.prescriptions.len()));
                for rx in &r.prescriptions {
                    s.push_str(&format!(
                        "\n  {}  {:?} issued {} by {}",
                        rx.id, rx.data.kind, rx.data.issue_date, rx.data.prescriber
                    ));
                }
                s.push_str(&format!("\norders ({}):", r.orders.len()));
                for o in &r.orders {
                    s.push_str(&format!("\n  {}", order_line(o)));
                }
                s
            });
        }
    }
    Ok(())
}

#[derive(Debug, Subcommand)]
pub enum RxCmd {
    /// Adds a prescription from a JSON file: the ILS form, or a FHIR VisionPrescription.
    Add {
        #[arg(long)]
        patient: PatientId,
        file: PathBuf,
    },
    /// Shows a prescription.
    Show { id: PrescriptionId },
    /// Prints a prescription as a FHIR R4 VisionPrescription.
    ExportFhir { id: PrescriptionId },
}

fn eye_line(label: &str, e: &ils_core::rx::EyeRx) -> String {
    let mut s = format!("{label}: SPH {}", e.sphere);
    if let Some(c) = e.cylinder {
        s.push_str(&format!(" CYL {c}"));
    }
    if let Some(a) = e.axis {
        s.push_str(&format!(" AXIS {a}"));
    }
    if let Some(a) = e.add {
        s.push_str(&format!(" ADD {a}"));
    }
    s
}

pub fn rx(ctx: &Context, cmd: RxCmd) -> CliResult {
    let mut store = ctx.store()?;
    match cmd {
        RxCmd::Add { patient, file } => {
            let value = read_json(&file)?;
            let data: RxData = if value.get("resourceType").is_some() {
                fhir::import(&value).map_err(ils_node::StoreError::from)?
            } else {
                from_json(&file, value)?
            };
            let id = store.add_prescription(patient, &data, today())?;
            let rx = store.prescription(id)?;
            ctx.out
                .emit(&rx, |rx| format!("added prescription {}", rx.id));
        }
        RxCmd::Show { id } => {
            let rx = store.prescription(id)?;
            ctx.out.emit(&rx, |rx| {
                format!(
                    "{} ({:?}, {}) for patient {}\n  issued {} by {}\n  {}\n  {}",
                    rx.id,
                    rx.data.kind,
                    rx.data.status.as_str(),
                    rx.patient_id,
                    rx.data.issue_date,
                    rx.data.prescriber,
                    eye_line("R", &rx.data.right),
                    eye_line("L", &rx.data.left)
                )
            });
        }
        RxCmd::ExportFhir { id } => {
            let resource = store.prescription_fhir(id)?;
            // FHIR is JSON either way.
            println!(
                "{}",
                serde_json::to_string_pretty(&resource)
                    .map_err(|e| CliError::Other(e.to_string()))?
            );
        }
    }
    Ok(())
}

#[derive(Debug, Subcommand)]
pub enum OrderCmd {
    /// Creates a draft order from a JSON file (patient, prescription, lens, frame...).
    Create { file: PathBuf },
    /// Moves an order: submit, start_production, send_to_quality_check, ship, deliver,
    /// cancel (needs --reason) or remake (needs --reason).
    Transition {
        id: OrderId,
        action: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Lists orders, newest first.
    List {
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        patient: Option<PatientId>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// An order's timeline.
    Timeline { id: OrderId },
}

fn order_line(o: &StoredOrder) -> String {
    format!(
        "{}  {}  {:<13} {:?} {}",
        o.id,
        o.order_number,
        o.status.as_str(),
        o.data.lens_type,
        o.data.material
    )
}

fn parse_action(s: &str) -> CliResult<OrderAction> {
    OrderAction::parse(s).ok_or_else(|| {
        let all: Vec<&str> = OrderAction::ALL.iter().map(|a| a.as_str()).collect();
        CliError::Input(format!(
            "unknown action {s:?}; use one of {}",
            all.join(", ")
        ))
    })
}

pub fn orders(ctx: &Context, cmd: OrderCmd) -> CliResult {
    let mut store = ctx.store()?;
    match cmd {
        OrderCmd::Create { file } => {
            let data: OrderData = from_json(&file, read_json(&file)?)?;
            let order = store.create_order(&data, today())?;
            ctx.out
                .emit(&order, |o| format!("created {}", order_line(o)));
        }
        OrderCmd::Transition { id, action, reason } => {
            let action = parse_action(&action)?;
            let (order, remake) = store.transition_order(id, action, reason.as_deref(), today())?;
            #[derive(Serialize)]
            struct Moved {
                order: StoredOrder,
                remake: Option<StoredOrder>,
            }
            ctx.out.emit(&Moved { order, remake }, |m| {
                let mut s = format!("now {}", order_line(&m.order));
                if let Some(r) = &m.remake {
                    s.push_str(&format!("\nremake {}", order_line(r)));
                }
                s
            });
        }
        OrderCmd::List {
            status,
            patient,
            limit,
        } => {
            let status = status
                .map(|s| {
                    OrderStatus::parse(&s).ok_or_else(|| {
                        let all: Vec<&str> = OrderStatus::ALL.iter().map(|a| a.as_str()).collect();
                        CliError::Input(format!(
                            "unknown status {s:?}; use one of {}",
                            all.join(", ")
                        ))
                    })
                })
                .transpose()?;
            let list = store.orders(OrderFilter {
                status,
                patient,
                limit,
            })?;
            ctx.out.emit(&list, |l| {
                if l.is_empty() {
                    "no orders".into()
                } else {
                    l.iter().map(order_line).collect::<Vec<_>>().join("\n")
                }
            });
        }
        OrderCmd::Timeline { id } => {
            let events = store.order_timeline(id)?;
            ctx.out.emit(&events, |events| {
                events
                    .iter()
                    .map(|e| {
                        format!(
                            "{}  {:<13} {} by {}{}",
                            e.at,
                            e.to_status,
                            e.action.as_deref().unwrap_or(""),
                            e.actor,
                            e.note
                                .as_deref()
                                .map(|n| format!(" ({n})"))
                                .unwrap_or_default()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
    }
    Ok(())
}

#[derive(Debug, Subcommand)]
pub enum KbCmd {
    /// Adds files, or every .txt, .md and .pdf file under folders (replacing changed ones).
    Ingest {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Searches the knowledge base.
    Search {
        query: String,
        /// hybrid (vector and keyword, fused), vector or keyword.
        #[arg(long, default_value = "hybrid")]
        mode: SearchMode,
        #[arg(long, default_value_t = 5)]
        limit: usize,
    },
    /// Lists the documents.
    List,
    /// Removes a document (by id or path) with its chunks and vectors.
    Delete { document: String },
}

pub fn kb(ctx: &Context, cmd: KbCmd) -> CliResult {
    let mut store = ctx.store()?;
    match cmd {
        KbCmd::Ingest { paths } => ingest(ctx, &mut store, &paths),
        KbCmd::Search { query, mode, limit } => {
            let embedder = match mode {
                SearchMode::Keyword => None,
                _ => Some(ctx.embedder()?),
            };
            let opts = SearchOptions {
                mode,
                limit,
                ..SearchOptions::default()
            };
            let hits = match &embedder {
                Some(e) => kb::search(&store, e, &query, opts)?,
                None => kb::search_with_vector(&store, "", &query, None, opts)?,
            };
            ctx.out.emit(&hits, |hits| {
                if hits.is_empty() {
                    return "no results".into();
                }
                hits.iter()
                    .enumerate()
                    .map(|(i, h)| {
                        let snippet: String = h.text.chars().take(240).collect();
                        format!(
                            "{}. {} — {} [{}:{}-{}] score {:.4}\n   {}",
                            i + 1,
                            h.title,
                            h.heading,
                            h.source,
                            h.byte_start,
                            h.byte_end,
                            h.score,
                            snippet.replace('\n', " ")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            Ok(())
        }
        KbCmd::List => {
            let docs = kb::documents(&store)?;
            ctx.out.emit(&docs, |docs| {
                if docs.is_empty() {
                    return "the knowledge base is empty".into();
                }
                docs.iter()
                    .map(|d| {
                        format!(
                            "{}  {:<8} {:>4} chunks  {}  ({})",
                            d.id, d.format, d.chunks, d.title, d.source
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            Ok(())
        }
        KbCmd::Delete { document } => {
            let doc = kb::delete_document(&mut store, &document)?;
            ctx.out.emit(&doc, |d| {
                format!("deleted {} ({} chunks)", d.title, d.chunks)
            });
            Ok(())
        }
    }
}

/// Ingests every file, one transaction each, with a progress bar on stderr. A file that is
/// refused is reported and the rest go on; the exit code says whether any was refused.
fn ingest(ctx: &Context, store: &mut Store, paths: &[PathBuf]) -> CliResult {
    let embedder = ctx.embedder()?;
    let mut files = Vec::new();
    for p in paths {
        files.extend(kb::files_to_ingest(p)?);
    }
    if files.is_empty() {
        return Err(CliError::Input(
            "no .txt, .md or .pdf files found there".into(),
        ));
    }
    let bar = if ctx.out.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0)
    };
    bar.set_style(
        ProgressStyle::with_template("{msg:40!} [{bar:30}] {pos}/{len} chunks ({per_sec})")
            .map_err(|e| CliError::Other(e.to_string()))?
            .progress_chars("=> "),
    );
    // Ctrl-C stops after the current batch, leaving nothing of the document in progress (the
    // documents already done stay); a second Ctrl-C exits at once, which SQLite rolls back.
    let cancel = Arc::new(AtomicBool::new(false));
    {
        let cancel = Arc::clone(&cancel);
        let handler = ctrlc::set_handler(move || {
            if cancel.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
        });
        if let Err(e) = handler {
            eprintln!("warning: Ctrl-C will not cancel cleanly: {e}");
        }
    }
    #[derive(Serialize)]
    struct Report {
        ingested: Vec<kb::Ingested>,
        refused: Vec<Refused>,
    }
    #[derive(Serialize)]
    struct Refused {
        file: String,
        error: String,
    }
    let mut report = Report {
        ingested: Vec::new(),
        refused: Vec::new(),
    };
    for (i, f) in files.iter().enumerate() {
        bar.set_message(format!(
            "[{}/{}] {}",
            i + 1,
            files.len(),
            f.file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default()
        ));
        let base = bar.position();
        let result = kb::ingest_file(
            store,
            &embedder,
            f,
            &mut |p| match p {
                Progress::Started { chunks, .. } => {
                    bar.set_length(bar.length().unwrap_or(0) + *chunks as u64);
                }
                Progress::Embedded { done, .. } => bar.set_position(base + *done as u64),
                Progress::Finished { .. } => {}
            },
            &cancel,
        );
        match result {
            Ok(done) => report.ingested.push(done),
            Err(e @ (kb::KbError::Unsupported { .. } | kb::KbError::Unreadable { .. })) => {
                bar.suspend(|| {
                    if !ctx.out.json {
                        eprintln!("skipped: {e}");
                    }
                });
                report.refused.push(Refused {
                    file: f.display().to_string(),
                    error: e.to_string(),
                });
            }
            Err(e @ kb::KbError::Cancelled { .. }) => {
                bar.abandon();
                return Err(CliError::Input(format!(
                    "{e}; {} of {} files were done before",
                    report.ingested.len(),
                    files.len()
                )));
            }
            Err(e) => {
                bar.abandon();
                return Err(e.into());
            }
        }
    }
    bar.finish_and_clear();
    let refused = report.refused.len();
    ctx.out.emit(&report, |r| {
        let chunks: usize = r.ingested.iter().map(|d| d.chunks).sum();
        let mut s = String::new();
        for d in &r.ingested {
            s.push_str(&format!(
                "{:<9} {} ({} chunks)\n",
                format!("{:?}", d.outcome).to_lowercase(),
                d.title,
                d.chunks
            ));
        }
        s.push_str(&format!(
            "{} documents, {} chunks; {} refused",
            r.ingested.len(),
            chunks,
            r.refused.len()
        ));
        s
    });
    if refused > 0 {
        return Err(CliError::Input(format!(
            "{refused} of {} files were refused (see above)",
            files.len()
        )));
    }
    Ok(())
}
