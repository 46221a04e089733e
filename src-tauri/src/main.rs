// No console window on Windows in release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

// One `unsafe`: setting the rendering plan's variables before any thread exists.
#[allow(unsafe_code)]
fn main() {
    if let Some(problem) = ils_desktop::display_problem() {
        eprintln!("{problem}");
        std::process::exit(2);
    }
    let plan = match ils_desktop::rendering::for_this_computer() {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("ILS Desktop cannot start: {e}");
            std::process::exit(2);
        }
    };
    // SAFETY: nothing has started a thread yet; GTK and WebKit read these variables later.
    unsafe { plan.apply() };
    ils_desktop::run(plan.rendering);
}
