//! How the window is drawn, chosen before GTK and WebKit start.
//!
//! On a computer without a GPU (a virtual machine, a remote desktop, a server under Xvfb) every
//! page is painted by the CPU whatever WebKit is told. Left to itself, WebKitGTK still opens an
//! EGL display in the app process to ask which GPU device its web process should use, and GTK
//! probes GLX for GL-capable visuals: both load Mesa's software OpenGL driver and LLVM, 49 MiB
//! resident in the app process for nothing, and the web process composites through software
//! OpenGL. So when the computer has no GPU render node (`/dev/dri/renderD*`) the app draws in
//! software from the start: GTK's GL is off (`GDK_GL=disable`), WebKit paints without its
//! DMA-BUF renderer (`WEBKIT_DISABLE_DMABUF_RENDERER`), and WebKit is told there is no render
//! device (`WEBKIT_WEB_RENDER_DEVICE_FILE`, which it would otherwise learn through EGL). A
//! variable the user has set is never overridden. With a GPU, WebKit decides as usual.
//!
//! `ILS_DESKTOP_RENDERING` overrides the detection: `auto` (the default), `software`, or `gpu`
//! (leave everything to WebKit, as on a computer with a GPU).

use std::fmt;
use std::path::Path;
use std::sync::OnceLock;

/// The variable that overrides the detection.
pub const OVERRIDE: &str = "ILS_DESKTOP_RENDERING";

/// What software drawing sets, unless the user set it already. The render device is a name
/// that matches no device: WebKit's web process then allocates no GPU buffers, as it does when
/// EGL reports no device.
const SOFTWARE: [(&str, &str); 3] = [
    ("GDK_GL", "disable"),
    ("WEBKIT_DISABLE_DMABUF_RENDERER", "1"),
    ("WEBKIT_WEB_RENDER_DEVICE_FILE", "none"),
];

/// How the window will be drawn, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rendering {
    /// WebKit and GTK choose, using the GPU where they can.
    Gpu(Why),
    /// Painted by the CPU, with no OpenGL loaded in the app process.
    Software(Why),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// The computer has a GPU render node.
    RenderNode,
    /// The computer has no GPU render node.
    NoRenderNode,
    /// `ILS_DESKTOP_RENDERING` asked for it.
    Asked,
    /// Not Linux: the system's web view decides.
    System,
}

/// A plan: how the window will be drawn and the variables to set for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub rendering: Rendering,
    pub set: Vec<(&'static str, &'static str)>,
}

/// `ILS_DESKTOP_RENDERING` holds something other than `auto`, `software` or `gpu`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "ILS_DESKTOP_RENDERING is {0:?}; it must be auto (the default: software drawing when the \
     computer has no GPU), software, or gpu"
)]
pub struct BadOverride(pub String);

/// The plan for a computer: `var` reads the environment, `has_render_node` says whether a GPU
/// render node exists.
pub fn plan(
    var: impl Fn(&str) -> Option<String>,
    has_render_node: bool,
) -> Result<Plan, BadOverride> {
    let rendering = match var(OVERRIDE).as_deref().map(str::trim) {
        None | Some("" | "auto") if has_render_node => Rendering::Gpu(Why::RenderNode),
        None | Some("" | "auto") => Rendering::Software(Why::NoRenderNode),
        Some("software") => Rendering::Software(Why::Asked),
        Some("gpu") => Rendering::Gpu(Why::Asked),
        Some(other) => return Err(BadOverride(other.to_owned())),
    };
    let set = match rendering {
        Rendering::Gpu(_) => Vec::new(),
        Rendering::Software(_) => SOFTWARE
            .into_iter()
            .filter(|(name, _)| var(name).is_none())
            .collect(),
    };
    Ok(Plan { rendering, set })
}

/// Whether `dev_dri` (normally `/dev/dri`) holds a render node.
pub fn has_render_node(dev_dri: &Path) -> bool {
    std::fs::read_dir(dev_dri).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("renderD"))
    })
}

/// The plan for this computer and this process's environment.
pub fn for_this_computer() -> Result<Plan, BadOverride> {
    if !cfg!(target_os = "linux") {
        return Ok(Plan {
            rendering: Rendering::Gpu(Why::System),
            set: Vec::new(),
        });
    }
    plan(
        |name| std::env::var(name).ok(),
        has_render_node(Path::new("/dev/dri")),
    )
}

impl Plan {
    /// Sets the plan's variables for GTK and WebKit to read.
    ///
    /// # Safety
    /// No other thread may exist yet: another thread reading the environment while it changes
    /// is undefined behaviour.
    #[allow(unsafe_code)]
    pub unsafe fn apply(&self) {
        for (name, value) in &self.set {
            // SAFETY: the caller guarantees this process has no other thread.
            unsafe { std::env::set_var(name, value) };
        }
    }
}

static CHOSEN: OnceLock<Rendering> = OnceLock::new();

/// Records how this window is drawn, for the about panel.
pub fn chose(rendering: Rendering) {
    let _ = CHOSEN.set(rendering);
}

/// How this window is drawn, as the about panel says it.
pub fn chosen() -> String {
    CHOSEN
        .get()
        .map_or_else(|| "not chosen".to_owned(), ToString::to_string)
}

impl fmt::Display for Rendering {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (how, why) = match self {
            Rendering::Gpu(why) => ("gpu", why),
            Rendering::Software(why) => ("software", why),
        };
        let why = match why {
            Why::RenderNode => "the computer has a GPU render node",
            Why::NoRenderNode => "the computer has no GPU render node",
            Why::Asked => "ILS_DESKTOP_RENDERING",
            Why::System => "the system's web view decides",
        };
        write!(f, "{how} ({why})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn without_a_render_node_the_window_is_drawn_in_software_with_no_gl_in_the_app() {
        let plan = plan(env(&[]), false).expect("plan");
        assert_eq!(plan.rendering, Rendering::Software(Why::NoRenderNode));
        assert_eq!(plan.set, SOFTWARE.to_vec());
    }

    #[test]
    fn with_a_render_node_webkit_chooses_and_nothing_is_set() {
        let plan = plan(env(&[]), true).expect("plan");
        assert_eq!(plan.rendering, Rendering::Gpu(Why::RenderNode));
        assert!(plan.set.is_empty());
    }

    #[test]
    fn the_override_wins_over_the_detection_both_ways() {
        let software = plan(env(&[(OVERRIDE, "software")]), true).expect("plan");
        assert_eq!(software.rendering, Rendering::Software(Why::Asked));
        assert_eq!(software.set.len(), SOFTWARE.len());
        let gpu = plan(env(&[(OVERRIDE, " gpu ")]), false).expect("plan");
        assert_eq!(gpu.rendering, Rendering::Gpu(Why::Asked));
        assert!(gpu.set.is_empty());
        let auto = plan(env(&[(OVERRIDE, "auto")]), false).expect("plan");
        assert_eq!(auto.rendering, Rendering::Software(Why::NoRenderNode));
    }

    #[test]
    fn a_variable_the_user_set_is_left_as_it_is() {
        let plan = plan(
            env(&[("WEBKIT_DISABLE_DMABUF_RENDERER", "0"), ("GDK_GL", "")]),
            false,
        )
        .expect("plan");
        assert_eq!(plan.set, vec![("WEBKIT_WEB_RENDER_DEVICE_FILE", "none")]);
    }

    #[test]
    fn an_unknown_override_is_refused_with_the_choices() {
        let err = plan(env(&[(OVERRIDE, "opengl")]), false).expect_err("refused");
        assert_eq!(err, BadOverride("opengl".to_owned()));
        let message = err.to_string();
        for choice in ["auto", "software", "gpu", "\"opengl\""] {
            assert!(message.contains(choice), "{message}");
        }
    }

    #[test]
    fn render_nodes_are_found_by_name() {
        let dir = tempfile::tempdir().expect("dir");
        assert!(!has_render_node(dir.path()));
        std::fs::write(dir.path().join("card0"), "").expect("card");
        assert!(!has_render_node(dir.path()));
        std::fs::write(dir.path().join("renderD128"), "").expect("node");
        assert!(has_render_node(dir.path()));
        assert!(!has_render_node(&dir.path().join("missing")));
    }
}
