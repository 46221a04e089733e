// No console window on Windows in release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    if let Some(problem) = ils_desktop::display_problem() {
        eprintln!("{problem}");
        std::process::exit(2);
    }
    ils_desktop::run();
}
