//! The real window, driven from outside: Xvfb (a virtual display), tauri-driver (the WebDriver
//! bridge Tauri ships) with WebKitGTK's own WebKitWebDriver, and plain W3C WebDriver calls over
//! HTTP on loopback. Every step can keep a screenshot under the build folder.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};

/// How long a step waits for the interface to show what it expects.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// An error WebDriver answered, with its W3C error code (`code`), kept typed so that a caller
/// can tell one code from another without reading the message.
#[derive(Debug, thiserror::Error)]
#[error("WebDriver {path}: {code}: {message}")]
struct WebDriverError {
    path: String,
    code: String,
    message: String,
}

/// The W3C WebDriver error code of an element that left the page while it was being used.
const STALE: &str = "stale element reference";

/// A child process stopped when dropped. A process group leader (tauri-driver, which starts
/// WebKitWebDriver, which starts the app) is stopped with its whole group, so nothing outlives
/// the test.
struct Guard {
    child: Child,
    group: bool,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.group {
            let group = format!("-{}", self.child.id());
            let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Finds a program the setup step installs, or says which step installs it.
fn program(name: &str, places: &[PathBuf]) -> Result<PathBuf> {
    let mut candidates: Vec<PathBuf> = places.to_vec();
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|d| d.join(name)));
    }
    candidates.into_iter().find(|p| p.is_file()).ok_or_else(|| {
        anyhow!(
            "{name} was not found; scripts/setup-desktop.sh installs it (make test runs it first)"
        )
    })
}

/// The virtual display, tauri-driver and one WebDriver session of the app.
pub struct Window {
    http: reqwest::Client,
    base: String,
    session: String,
    pub artifacts: PathBuf,
    shots: usize,
    /// The virtual display, e.g. `:99`.
    display: String,
    // Dropped in this order: the session is ended first (in `Drop`), then the driver, then
    // the display.
    _driver: Guard,
    _display: Guard,
}

pub struct Launch<'a> {
    pub app: &'a Path,
    /// Environment of the app (its data folder, the model).
    pub env: Vec<(String, String)>,
    /// Where screenshots go.
    pub artifacts: PathBuf,
}

impl Window {
    pub async fn open(launch: Launch<'_>) -> Result<Self> {
        let xvfb = program("Xvfb", &[])?;
        let cargo_bin = std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
            .unwrap_or_default()
            .join("bin");
        let tauri_driver = program("tauri-driver", &[cargo_bin.join("tauri-driver")])?;
        let native = program(
            "WebKitWebDriver",
            &[PathBuf::from("/usr/bin/WebKitWebDriver")],
        )?;

        // Xvfb picks a free display number and writes it to the descriptor it is given.
        let mut display = Command::new(xvfb)
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1280x800x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting Xvfb")?;
        let mut line = String::new();
        BufReader::new(display.stdout.take().expect("piped"))
            .read_line(&mut line)
            .context("reading Xvfb's display number")?;
        let display = Guard {
            child: display,
            group: false,
        };
        let number = line.trim();
        if number.is_empty() {
            bail!("Xvfb did not start");
        }

        let (port, native_port) = (free_port(), free_port());
        let mut driver = Command::new(tauri_driver);
        // Only what the app needs from this environment: a developer's own ILS_* settings
        // (a database, a benchmark switch) must not reach the app under test.
        driver.env_clear();
        for keep in ["PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER"] {
            if let Some(v) = std::env::var_os(keep) {
                driver.env(keep, v);
            }
        }
        std::os::unix::process::CommandExt::process_group(&mut driver, 0);
        driver
            .args(["--port", &port.to_string()])
            .args(["--native-port", &native_port.to_string()])
            .arg("--native-driver")
            .arg(native)
            .env("DISPLAY", format!(":{number}"))
            // No accessibility bus and no GPU on a virtual display.
            .env("NO_AT_BRIDGE", "1")
            .env("WEBKIT_DISABLE_COMPOSITING_MODE", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in &launch.env {
            driver.env(k, v);
        }
        std::fs::create_dir_all(&launch.artifacts)?;
        let driver = Guard {
            child: driver.spawn().context("starting tauri-driver")?,
            group: true,
        };

        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()?;
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let session = loop {
            let reply = http
                .post(format!("{base}/session"))
                .json(&json!({"capabilities": {"alwaysMatch": {
                    "browserName": "wry",
                    "tauri:options": {"application": launch.app}
                }}}))
                .send()
                .await;
            match reply {
                Ok(r) => {
                    let body: Value = r.json().await?;
                    match body["value"]["sessionId"].as_str() {
                        Some(id) => break id.to_owned(),
                        None => bail!("no WebDriver session: {body}"),
                    }
                }
                Err(_) if started.elapsed() < Duration::from_secs(20) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => bail!("tauri-driver did not answer: {e}"),
            }
        };
        Ok(Self {
            http,
            base,
            session,
            artifacts: launch.artifacts,
            shots: 0,
            display: format!(":{number}"),
            _driver: driver,
            _display: display,
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value> {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut request = self.http.request(method, &url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let reply: Value = request.send().await?.json().await?;
        if let Some(code) = reply["value"]["error"].as_str() {
            return Err(WebDriverError {
                path: path.to_owned(),
                code: code.to_owned(),
                message: reply["value"]["message"].as_str().unwrap_or("").to_owned(),
            }
            .into());
        }
        Ok(reply["value"].clone())
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value> {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    async fn get(&self, path: &str) -> Result<Value> {
        self.call(reqwest::Method::GET, path, None).await
    }

    /// The elements `css` matches now. When the page changes while WebKitWebDriver makes the
    /// handles of what it found, it answers "stale element reference" for the whole find: the
    /// find is made again on the page as it is then.
    pub async fn all(&self, css: &str) -> Result<Vec<String>> {
        let mut attempt = 0;
        let found = loop {
            attempt += 1;
            match self
                .post("/elements", json!({"using": "css selector", "value": css}))
                .await
            {
                Err(e)
                    if attempt < 10
                        && e.downcast_ref::<WebDriverError>()
                            .is_some_and(|e| e.code == STALE) =>
                {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                found => break found?,
            }
        };
        Ok(found
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|e| e.as_object()?.values().next()?.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Waits until `css` matches at least one element; the first.
    pub async fn find(&self, css: &str) -> Result<String> {
        let started = Instant::now();
        loop {
            if let Some(first) = self.all(css).await?.into_iter().next() {
                return Ok(first);
            }
            if started.elapsed() > PATIENCE {
                let shot = self.shot("missing").await.unwrap_or_default();
                bail!("nothing matched {css} within {PATIENCE:?} (screenshot: {shot})");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until `css` matches exactly `n` elements.
    pub async fn count(&self, css: &str, n: usize) -> Result<()> {
        let started = Instant::now();
        loop {
            let found = self.all(css).await?.len();
            if found == n {
                return Ok(());
            }
            if started.elapsed() > PATIENCE {
                let shot = self.shot("count").await.unwrap_or_default();
                bail!("{css} matched {found}, not {n} (screenshot: {shot})");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the first element `css` matches has text containing `text`.
    pub async fn text_contains(&self, css: &str, text: &str) -> Result<String> {
        let started = Instant::now();
        loop {
            if let Some(id) = self.all(css).await?.into_iter().next() {
                let shown = self.text_of(&id).await.unwrap_or_default();
                if shown.contains(text) {
                    return Ok(shown);
                }
                if started.elapsed() > PATIENCE {
                    let shot = self.shot("text").await.unwrap_or_default();
                    bail!("{css} shows {shown:?}, not {text:?} (screenshot: {shot})");
                }
            } else if started.elapsed() > PATIENCE {
                let shot = self.shot("missing").await.unwrap_or_default();
                bail!("nothing matched {css} within {PATIENCE:?} (screenshot: {shot})");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the first element `css` matches has exactly `text` (trimmed).
    pub async fn text_equals(&self, css: &str, text: &str) -> Result<()> {
        let started = Instant::now();
        loop {
            let id = self.find(css).await?;
            let shown = self.text_of(&id).await.unwrap_or_default();
            if shown.trim() == text {
                return Ok(());
            }
            if started.elapsed() > PATIENCE {
                let shot = self.shot("text").await.unwrap_or_default();
                bail!("{css} shows {shown:?}, not {text:?} (screenshot: {shot})");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Runs `script` in the page as an asynchronous script: it ends by calling its last
    /// argument with the answer.
    pub async fn run_async(&self, script: &str) -> Result<Value> {
        self.post("/execute/async", json!({"script": script, "args": []}))
            .await
    }

    /// The element's text (its `textContent`: WebKitWebDriver's rendered-text getter leaves out
    /// text in boxes with clipped overflow).
    pub async fn text_of(&self, element: &str) -> Result<String> {
        Ok(self
            .get(&format!("/element/{element}/property/textContent"))
            .await?
            .as_str()
            .unwrap_or("")
            .to_owned())
    }

    pub async fn click(&self, css: &str) -> Result<()> {
        let id = self.find(css).await?;
        if let Err(e) = self.post(&format!("/element/{id}/click"), json!({})).await {
            let shot = self.shot("click").await.unwrap_or_default();
            bail!("clicking {css}: {e} (screenshot: {shot})");
        }
        Ok(())
    }

    /// Clears the field and types `text` into it.
    pub async fn fill(&self, css: &str, text: &str) -> Result<()> {
        let id = self.find(css).await?;
        self.post(&format!("/element/{id}/clear"), json!({}))
            .await?;
        self.post(&format!("/element/{id}/value"), json!({"text": text}))
            .await?;
        Ok(())
    }

    /// Presses Enter in the field (submits its form, as a person at the keyboard does).
    pub async fn enter(&self, css: &str) -> Result<()> {
        let id = self.find(css).await?;
        self.post(&format!("/element/{id}/value"), json!({"text": "\u{E007}"}))
            .await?;
        Ok(())
    }

    /// Picks the option of a `<select>` whose value is `value`.
    pub async fn select(&self, css: &str, value: &str) -> Result<()> {
        self.click(&format!("{css} option[value=\"{value}\"]"))
            .await
    }

    /// Keeps a screenshot of the display as `NN-name.png`; its path. (WebKitWebDriver's own
    /// screenshot never answers on a virtual display without compositing, so the display is
    /// captured from outside, with ImageMagick's `import`.)
    pub async fn shot(&self, name: &str) -> Result<String> {
        let path = self.artifacts.join(format!("{:02}-{name}.png", self.shots));
        let status = tokio::process::Command::new("import")
            .args(["-display", &self.display, "-window", "root"])
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await
            .context("running ImageMagick's import for a screenshot")?;
        if !status.success() {
            bail!("the screenshot {} failed", path.display());
        }
        Ok(path.display().to_string())
    }

    /// A screenshot of a named step (numbered in order).
    pub async fn step(&mut self, name: &str) -> Result<()> {
        self.shots += 1;
        self.shot(name).await.map(|_| ())
    }
}

impl Drop for Window {
    fn drop(&mut self) {
        // End the session so that tauri-driver closes the app; the guards stop the rest.
        let url = format!("{}/session/{}", self.base, self.session);
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(async {
                    let _ = reqwest::Client::new()
                        .delete(url)
                        .timeout(Duration::from_secs(5))
                        .send()
                        .await;
                });
            }
        })
        .join();
    }
}
