//! ILS Desktop's shell: a Tauri v2 window over the engine API ([`ils_node::Engine`]).
//!
//! The shell holds no rule. Each command takes its arguments as the engine's own request types,
//! calls one engine method on the blocking pool (never on the interface thread), and answers
//! with the engine's response or its error, `{code, message, fields}`. Long work — an ingest,
//! a question to the assistant, connecting to ILS Central — streams its progress through a
//! Tauri channel while it runs.

mod bench;
mod commands;
pub mod rendering;
mod state;

use ils_node::engine::NodeSettings;
use tauri::Manager;

pub use state::AppState;

/// Where the model ships inside the bundle (`bundle.resources` in tauri.conf.json).
const BUNDLED_MODEL: &str = "models/all-MiniLM-L6-v2";

/// Opens the engine the settings name and runs the window until it is closed, drawn the way
/// `rendering` says (its variables already set: [`rendering::Plan::apply`]).
pub fn run(rendering: rendering::Rendering) {
    bench::mark_start();
    init_tracing();
    tracing::info!(%rendering, "drawing the window");
    rendering::chose(rendering);
    let settings = match NodeSettings::load(None) {
        Ok(s) => s,
        Err(e) => fail(&format!("ILS Desktop cannot start: {e}")),
    };
    tauri::Builder::default()
        .plugin(tauri_plugin_dialog::init())
        .setup(move |app| {
            bench::mark("setup");
            let mut settings = settings;
            // The model inside the bundle, unless the settings name one or one sits beside
            // the program (a development build).
            if settings.model_dir.is_none()
                && !settings.model_path().join("model.safetensors").is_file()
                && let Ok(dir) = app.path().resource_dir()
            {
                let bundled = dir.join(BUNDLED_MODEL);
                if bundled.join("model.safetensors").is_file() {
                    settings.model_dir = Some(bundled);
                }
            }
            let state = AppState::new(settings);
            // Opened now, beside the window and its web view as they start, so that the first
            // screen is quick. The commands wait for it (`Opener::engine`); a failure is shown
            // in the window, which offers to try again, rather than only on a terminal nobody
            // reads.
            let opener = state.opener();
            let open = move || match opener.engine() {
                Ok(_) => bench::mark("engine opened"),
                Err(e) => {
                    tracing::error!(code = %e.code, "the practice's data did not open: {e}");
                }
            };
            if let Err(e) = std::thread::Builder::new()
                .name("ils-open".into())
                .spawn(open)
            {
                tracing::warn!("the data opens when first needed (no thread to open it: {e})");
            }
            app.manage(state);
            Ok(())
        })
        .on_page_load(|_, page| {
            bench::mark(match page.event() {
                tauri::webview::PageLoadEvent::Started => "page load started",
                tauri::webview::PageLoadEvent::Finished => "page load finished",
            });
        })
        .invoke_handler(commands::handler())
        .run(tauri::generate_context!())
        .unwrap_or_else(|e| fail(&format!("ILS Desktop stopped: {e}")));
}

/// Why no window can open here, if none can: on Linux and the BSDs a window needs an X11 or
/// Wayland display. Said plainly, with the alternatives, instead of GTK's own failure.
pub fn display_problem() -> Option<String> {
    if !cfg!(any(
        target_os = "linux",
        target_os = "freebsd",
        target_os = "openbsd"
    )) {
        return None;
    }
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    if set("DISPLAY") || set("WAYLAND_DISPLAY") {
        return None;
    }
    Some(
        "ILS Desktop needs a display to open its window, and this session has none \
         (neither DISPLAY nor WAYLAND_DISPLAY is set).\n\
         - On a server, run it under a virtual display: xvfb-run -a ils-desktop\n\
         - The same practice data from a terminal: the ils-node command (ils-node --help)\n\
         - The multi-practice service: make central (ILS Central with a demo practice)"
            .to_owned(),
    )
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ILS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn fail(message: &str) -> ! {
    eprintln!("{message}");
    std::process::exit(1)
}
