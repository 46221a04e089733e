//! The subcommands: parse, call the engine, print. No business rules here.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::NaiveDate;
use clap::{Args, Subcommand};
use ils_core::decide::patients::PatientQuery;
use ils_core::order::{OrderAction, OrderStatus};
use ils_core::patient::{PatientChanges, PatientData};
use ils_core::record::{OrderRecord, PatientRecord};
use ils_core::rx::RxStatus;
use ils_core::{OrderId, PatientId, PrescriptionId, Role};
use ils_node::engine::{IngestEvent, PrescriptionInput, read_json_file};
use ils_node::kb::{Progress, SearchMode, SearchOptions};
use ils_node::store::{NewPractice, NewUser, OrderFilter};
use ils_node::{Engine, EngineError};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::output::Out;

type CliResult = Result<(), EngineError>;

fn parse_with<T>(
    what: &str,
    text: &str,
    parse: impl Fn(&str) -> Option<T>,
    all: &[&str],
) -> Result<T, EngineError> {
    parse(text).ok_or_else(|| {
        EngineError::input(
            "input.invalid",
            format!("unknown {what} {text:?}; use one of {}", all.join(", ")),
        )
    })
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The practice's name (creates the practice on this computer).
    #[arg(long, requires_all = ["admin", "first", "last"])]
    practice: Option<String>,
    /// Its first administrator's e-mail address.
    #[arg(long)]
    admin: Option<String>,
    #[arg(long)]
    first: Option<String>,
    #[arg(long)]
    last: Option<String>,
    /// The practice's IANA time zone, e.g. Europe/London (default UTC).
    #[arg(long)]
    time_zone: Option<String>,
}

pub fn init(engine: &Engine, args: InitArgs, out: Out) -> CliResult {
    if let (Some(name), Some(admin), Some(first), Some(last)) =
        (args.practice, args.admin, args.first, args.last)
        && engine.info()?.practice.is_none()
    {
        engine.create_practice(&NewPractice {
            name,
            time_zone: args.time_zone,
            admin: NewUser {
                email: admin,
                first_name: first,
                last_name: last,
                role: Role::CompanyAdmin,
            },
        })?;
    }
    let info = engine.info()?;
    out.emit(&info, |i| {
        let practice = match &i.practice {
            Some(p) => format!("practice {} ({})", p.name, p.time_zone),
            None => "no practice yet: ils-node init --practice NAME --admin EMAIL --first NAME --last NAME".into(),
        };
        format!(
            "database {} ready (schema {}, device {})\n{practice}",
            i.database, i.schema_version, i.device_id
        )
    });
    Ok(())
}

#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Adds a user with a role: company_admin, ecp, lab_tech or engineer.
    Add {
        #[arg(long)]
        email: String,
        #[arg(long)]
        first: String,
        #[arg(long)]
        last: String,
        #[arg(long)]
        role: String,
    },
    /// Lists the practice's users.
    List,
}

pub fn users(engine: &Engine, cmd: UserCmd, out: Out) -> CliResult {
    match cmd {
        UserCmd::Add {
            email,
            first,
            last,
            role,
        } => {
            let role = role
                .parse::<Role>()
                .map_err(|e| EngineError::input("input.invalid", e.to_string()))?;
            let user = engine.add_user(&NewUser {
                email,
                first_name: first,
                last_name: last,
                role,
            })?;
            out.emit(&user, |u| format!("added {} ({})", u.email, u.role));
        }
        UserCmd::List => {
            let list = engine.users()?;
            out.emit(&list, |l| {
                l.iter()
                    .map(|u| {
                        format!(
                            "{}  {:<30} {:<14} {} {}",
                            u.id, u.email, u.role, u.first_name, u.last_name
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
    /// Finds patients by the start of a name, a customer number or a date of birth.
    Search {
        /// The start of the first or last name.
        name: Option<String>,
        #[arg(long)]
        number: Option<String>,
        #[arg(long)]
        dob: Option<NaiveDate>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Shows a patient with their prescriptions and orders.
    Show { id: PatientId },
    /// Changes a patient; --clear FIELD empties an optional field (email, phone, address,
    /// notes).
    Update {
        id: PatientId,
        #[arg(long)]
        number: Option<String>,
        #[arg(long)]
        first: Option<String>,
        #[arg(long)]
        last: Option<String>,
        #[arg(long)]
        dob: Option<NaiveDate>,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        phone: Option<String>,
        #[arg(long)]
        address: Option<String>,
        #[arg(long)]
        notes: Option<String>,
        #[arg(long)]
        clear: Vec<String>,
    },
    /// Removes a patient from every list (kept for the retention period).
    Delete { id: PatientId },
}

fn patient_line(p: &PatientRecord) -> String {
    format!(
        "{}  {:<10} {}, {}  born {}",
        p.id, p.data.customer_number, p.data.last_name, p.data.first_name, p.data.date_of_birth
    )
}

fn patient_lines(list: &[PatientRecord]) -> String {
    if list.is_empty() {
        return "no patients".into();
    }
    list.iter().map(patient_line).collect::<Vec<_>>().join("\n")
}

fn order_line(o: &OrderRecord) -> String {
    format!(
        "{}  {}  {:<13} {} {}",
        o.id,
        o.order_number,
        o.status.as_str(),
        o.data.lens_type.as_str(),
        o.data.material
    )
}

pub fn patients(engine: &Engine, cmd: PatientCmd, out: Out) -> CliResult {
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
            let p = engine.add_patient(&PatientData {
                customer_number: number,
                first_name: first,
                last_name: last,
                date_of_birth: dob,
                email,
                phone,
                address,
                notes,
            })?;
            out.emit(&p, |p| format!("added {}", patient_line(p)));
        }
        PatientCmd::List { limit, offset } => {
            let list = engine.search_patients(&PatientQuery::default(), limit, offset)?;
            out.emit(&list, |l| patient_lines(l));
        }
        PatientCmd::Search {
            name,
            number,
            dob,
            limit,
        } => {
            let query = PatientQuery {
                name_prefix: name,
                customer_number: number,
                date_of_birth: dob,
            };
            let list = engine.search_patients(&query, limit, 0)?;
            out.emit(&list, |l| patient_lines(l));
        }
        PatientCmd::Show { id } => {
            let page = engine.patient_page(id)?;
            out.emit(&page, |r| {
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
                        "\n  {}  {} {} issued {} by {}",
                        rx.id,
                        if rx.data.kind == ils_core::rx::RxKind::Spectacle {
                            "spectacles"
                        } else {
                            "contact lenses"
                        },
                        rx.data.status.as_str(),
                        rx.data.issue_date,
                        rx.data.prescriber
                    ));
                }
                s.push_str(&format!("\norders ({}):", r.orders.len()));
                for o in &r.orders {
                    s.push_str(&format!("\n  {}", order_line(o)));
                }
                s
            });
        }
        PatientCmd::Update {
            id,
            number,
            first,
            last,
            dob,
            email,
            phone,
            address,
            notes,
            clear,
        } => {
            let mut changes = PatientChanges {
                customer_number: number,
                first_name: first,
                last_name: last,
                date_of_birth: dob,
                email: email.map(Some),
                phone: phone.map(Some),
                address: address.map(Some),
                notes: notes.map(Some),
            };
            for field in clear {
                match field.as_str() {
                    "email" => changes.email = Some(None),
                    "phone" => changes.phone = Some(None),
                    "address" => changes.address = Some(None),
                    "notes" => changes.notes = Some(None),
                    other => {
                        return Err(EngineError::input(
                            "input.invalid",
                            format!(
                                "--clear {other}: only email, phone, address and notes can be cleared"
                            ),
                        ));
                    }
                }
            }
            let p = engine.update_patient(id, &changes)?;
            out.emit(&p, |p| format!("updated {}", patient_line(p)));
        }
        PatientCmd::Delete { id } => {
            engine.delete_patient(id)?;
            out.emit(&serde_json::json!({ "deleted": id }), |_| {
                format!("deleted patient {id}")
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
    /// Replaces the content of a draft prescription from a JSON file.
    Update { id: PrescriptionId, file: PathBuf },
    /// Changes the status: active, cancelled or entered_in_error.
    Status { id: PrescriptionId, status: String },
    /// Prints a prescription as a FHIR R4 VisionPrescription.
    ExportFhir { id: PrescriptionId },
    /// Reads a photo of a paper prescription (JPEG, PNG, WebP) with the practice's vision model
    /// into a draft: nothing is saved. Check it, complete it, and add it with `rx add`.
    Capture {
        photo: PathBuf,
        /// Write the draft (the ILS form, as read) to this file, to correct and add.
        #[arg(long)]
        out: Option<PathBuf>,
    },
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

fn rx_text(rx: &ils_core::record::PrescriptionRecord) -> String {
    format!(
        "{} ({}) for patient {}\n  issued {} by {}\n  {}\n  {}",
        rx.id,
        rx.data.status.as_str(),
        rx.patient_id,
        rx.data.issue_date,
        rx.data.prescriber,
        eye_line("R", &rx.data.right),
        eye_line("L", &rx.data.left)
    )
}

pub fn rx(engine: &Engine, cmd: RxCmd, out: Out) -> CliResult {
    match cmd {
        RxCmd::Add { patient, file } => {
            let input = PrescriptionInput(read_json_file(&file)?);
            let rx = engine.add_prescription(patient, &input)?;
            out.emit(&rx, |rx| format!("added prescription {}", rx.id));
        }
        RxCmd::Show { id } => {
            let rx = engine.prescription(id)?;
            out.emit(&rx, rx_text);
        }
        RxCmd::Update { id, file } => {
            let input = PrescriptionInput(read_json_file(&file)?);
            let rx = engine.update_prescription(id, &input)?;
            out.emit(&rx, rx_text);
        }
        RxCmd::Status { id, status } => {
            let status = parse_with(
                "status",
                &status,
                RxStatus::parse,
                &["draft", "active", "cancelled", "entered_in_error"],
            )?;
            let rx = engine.set_prescription_status(id, status)?;
            out.emit(&rx, |rx| {
                format!("prescription {} is now {}", rx.id, rx.data.status.as_str())
            });
        }
        RxCmd::Capture { photo, out: file } => {
            let captured = engine.capture_prescription_file(&photo)?;
            if let Some(file) = &file {
                let text = serde_json::to_string_pretty(&captured.prescription)
                    .map_err(|e| EngineError::internal(e.to_string()))?;
                std::fs::write(file, text).map_err(|e| {
                    EngineError::input(
                        "file.unwritable",
                        format!("cannot write {}: {e}", file.display()),
                    )
                })?;
            }
            out.emit(&captured, |c| {
                let mut s = format!("read by {} (nothing saved)", c.model);
                s.push_str(&format!(
                    "\n{}",
                    serde_json::to_string_pretty(&c.prescription).unwrap_or_default()
                ));
                if !c.unread.is_empty() {
                    s.push_str(&format!("\nnot read: {}", c.unread.join(", ")));
                }
                for p in &c.problems {
                    s.push_str(&format!("\nproblem: {}: {}", p.field, p.message));
                }
                s
            });
        }
        RxCmd::ExportFhir { id } => {
            let resource = engine.prescription_fhir(id)?;
            // FHIR is JSON either way.
            println!(
                "{}",
                serde_json::to_string_pretty(&resource)
                    .map_err(|e| EngineError::internal(e.to_string()))?
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
    /// Lists orders, oldest first.
    List {
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        patient: Option<PatientId>,
        /// Only open orders whose promised date has passed.
        #[arg(long)]
        overdue: bool,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Shows an order.
    Show { id: OrderId },
    /// An order's timeline.
    Timeline { id: OrderId },
    /// The order as the lab's DCS record set.
    Dcs { id: OrderId },
}

pub fn orders(engine: &Engine, cmd: OrderCmd, out: Out) -> CliResult {
    match cmd {
        OrderCmd::Create { file } => {
            let order = engine.create_order(&read_json_file(&file)?)?;
            out.emit(&order, |o| format!("created {}", order_line(o)));
        }
        OrderCmd::Transition { id, action, reason } => {
            let all: Vec<&str> = OrderAction::ALL.iter().map(|a| a.as_str()).collect();
            let action = parse_with("action", &action, OrderAction::parse, &all)?;
            let moved = engine.transition_order(id, action, reason.as_deref())?;
            out.emit(&moved, |m| {
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
            overdue,
            limit,
        } => {
            let all: Vec<&str> = OrderStatus::ALL.iter().map(|a| a.as_str()).collect();
            let status = status
                .map(|s| parse_with("status", &s, OrderStatus::parse, &all))
                .transpose()?;
            let list = engine.orders(OrderFilter {
                status,
                patient,
                overdue,
                limit,
            })?;
            out.emit(&list, |l| {
                if l.is_empty() {
                    "no orders".into()
                } else {
                    l.iter().map(order_line).collect::<Vec<_>>().join("\n")
                }
            });
        }
        OrderCmd::Show { id } => {
            let order = engine.order(id)?;
            out.emit(&order, order_line);
        }
        OrderCmd::Timeline { id } => {
            let events = engine.order_timeline(id)?;
            out.emit(&events, |events| {
                events
                    .iter()
                    .map(|e| {
                        format!(
                            "{}  {:<13} {} by {}{}",
                            e.at.format("%Y-%m-%d %H:%M:%S"),
                            e.to_status.as_str(),
                            e.action.as_str(),
                            e.actor.map(|a| a.to_string()).unwrap_or_default(),
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
        OrderCmd::Dcs { id } => {
            print!("{}", engine.order_dcs(id)?);
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

pub fn kb(engine: &Engine, cmd: KbCmd, out: Out) -> CliResult {
    match cmd {
        KbCmd::Ingest { paths } => ingest(engine, &paths, out),
        KbCmd::Search { query, mode, limit } => {
            let hits = engine.search_documents(
                &query,
                SearchOptions {
                    mode,
                    limit,
                    ..SearchOptions::default()
                },
            )?;
            out.emit(&hits, |hits| {
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
                            crate::output::for_terminal(&h.title),
                            crate::output::for_terminal(&h.heading),
                            crate::output::for_terminal(&h.source),
                            h.byte_start,
                            h.byte_end,
                            h.score,
                            crate::output::for_terminal(&snippet.replace('\n', " "))
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            Ok(())
        }
        KbCmd::List => {
            let docs = engine.documents()?;
            out.emit(&docs, |docs| {
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
            let doc = engine.delete_document(&document)?;
            out.emit(&doc, |d| {
                format!("deleted {} ({} chunks)", d.title, d.chunks)
            });
            Ok(())
        }
    }
}

/// Ingests every file with a progress bar on stderr; the engine decides what is refused.
fn ingest(engine: &Engine, paths: &[PathBuf], out: Out) -> CliResult {
    let bar = if out.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0)
    };
    bar.set_style(
        ProgressStyle::with_template("{msg:40!} [{bar:30}] {pos}/{len} chunks ({per_sec})")
            .map_err(|e| EngineError::internal(e.to_string()))?
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
    let mut files = 0;
    let mut base = 0;
    let mut current = String::new();
    let report = engine.ingest(
        paths,
        &mut |event| match event {
            IngestEvent::Found { files: n } => files = *n,
            IngestEvent::File { index, path } => {
                current = path.clone();
                base = bar.position();
                let name = std::path::Path::new(path)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                bar.set_message(format!("[{}/{}] {name}", index + 1, files));
            }
            IngestEvent::Document {
                progress: Progress::Started { chunks, .. },
            } => {
                bar.set_length(bar.length().unwrap_or(0) + *chunks as u64);
            }
            IngestEvent::Document {
                progress: Progress::Embedded { done, .. },
            } => {
                bar.set_position(base + *done as u64);
            }
            IngestEvent::Document {
                progress: Progress::Finished { .. },
            } => {}
            IngestEvent::Refused(r) => bar.suspend(|| {
                if !out.json {
                    eprintln!("skipped: {}", r.message);
                }
            }),
        },
        &cancel,
    )?;
    if report.cancelled {
        bar.abandon();
        return Err(EngineError::input(
            "kb.cancelled",
            format!(
                "the ingest was cancelled; nothing of {current} was written; {} of {} files were done before",
                report.ingested.len(),
                report.files
            ),
        ));
    }
    bar.finish_and_clear();
    #[derive(Serialize)]
    struct Shown<'a> {
        ingested: &'a [ils_node::kb::Ingested],
        refused: &'a [ils_node::engine::Refused],
    }
    out.emit(
        &Shown {
            ingested: &report.ingested,
            refused: &report.refused,
        },
        |r| {
            let chunks: usize = r.ingested.iter().map(|d| d.chunks).sum();
            let mut s = String::new();
            for d in r.ingested {
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
        },
    );
    if !report.refused.is_empty() {
        return Err(EngineError::input(
            "kb.files_refused",
            format!(
                "{} of {} files were refused (see above)",
                report.refused.len(),
                report.files
            ),
        ));
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only entries about this record (its id).
    #[arg(long)]
    entity: Option<String>,
    #[arg(long, default_value_t = 50)]
    limit: u32,
}

pub fn audit(engine: &Engine, args: AuditArgs, out: Out) -> CliResult {
    let entries = engine.audit_entries(args.entity.as_deref(), args.limit)?;
    out.emit(&entries, |entries| {
        entries
            .iter()
            .map(|e| {
                format!(
                    "{}  {:<24} {:<13} {}  by {}",
                    e.at,
                    e.action,
                    e.entity,
                    e.entity_id.as_deref().unwrap_or("-"),
                    e.actor
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct AskArgs {
    pub question: String,
    /// Continue this conversation (its id, from an earlier answer).
    #[arg(long)]
    pub conversation: Option<String>,
    /// Show the matching passages only, without calling any model.
    #[arg(long)]
    pub offline: bool,
}

/// Streams the answer to stdout as it comes (text), or prints the whole answer (JSON).
pub fn ask(engine: &Engine, args: AskArgs, out: Out) -> CliResult {
    use std::io::Write as _;
    let mut streamed = false;
    let answer = engine.ask(
        &ils_node::assistant::AskRequest {
            question: args.question,
            conversation: args.conversation,
            offline: args.offline,
        },
        &mut |event| {
            if out.json {
                return;
            }
            if let ils_node::assistant::AskEvent::Delta { text } = event {
                streamed = true;
                let mut stdout = std::io::stdout().lock();
                let _ = stdout.write_all(crate::output::for_terminal(text).as_bytes());
                let _ = stdout.flush();
            }
        },
    )?;
    if out.json {
        out.emit(&answer, |_| String::new());
        return Ok(());
    }
    if streamed {
        println!();
    } else {
        println!("{}", crate::output::for_terminal(&answer.text));
    }
    if streamed && !answer.citations.is_empty() {
        println!();
        for c in &answer.citations {
            println!(
                "[{}] {} — {}",
                c.number,
                crate::output::for_terminal(&c.document),
                crate::output::for_terminal(&c.excerpt)
            );
        }
    }
    let usage = answer
        .usage
        .map(|u| format!(", {} + {} tokens", u.input_tokens, u.output_tokens))
        .unwrap_or_default();
    eprintln!(
        "({}; {}{usage}, {} ms; conversation {})",
        serde_json::to_value(answer.outcome)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        answer.model.as_deref().unwrap_or("no model"),
        answer.latency_ms,
        answer.conversation
    );
    Ok(())
}
