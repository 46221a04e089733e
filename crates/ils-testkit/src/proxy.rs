//! A TCP proxy on loopback that a test can cut: how tests take ILS Central away from a device
//! (the network down) and how they lose a reply after the server acted on the request (a
//! connection dropped between the server's commit and its response reaching the device).

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

/// What the proxy does with connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Forwards both ways.
    Pass = 0,
    /// Closes every connection at once, as a server that cannot be reached.
    Refuse = 1,
    /// Forwards requests, and closes the connection as soon as the server starts to answer:
    /// the server has done the work, the client never hears of it.
    LoseReplies = 2,
}

impl Mode {
    fn from_u8(v: u8) -> Self {
        match v {
            1 => Mode::Refuse,
            2 => Mode::LoseReplies,
            _ => Mode::Pass,
        }
    }
}

/// The running proxy; stops when dropped.
#[derive(Debug)]
pub struct Proxy {
    /// `http://127.0.0.1:PORT`, to give to the client instead of the server's address.
    pub base: String,
    mode: Arc<AtomicU8>,
    target: Arc<Mutex<String>>,
    live: Arc<Mutex<Vec<AbortHandle>>>,
    accept: AbortHandle,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut_all();
    }
}

impl Proxy {
    /// A proxy to `upstream` (`http://host:port`), passing traffic. Must be called inside a
    /// Tokio runtime.
    pub async fn start(upstream: &str) -> std::io::Result<Self> {
        let target = Arc::new(Mutex::new(host_port(upstream)));
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let mode = Arc::new(AtomicU8::new(Mode::Pass as u8));
        let live: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let accept = tokio::spawn({
            let mode = Arc::clone(&mode);
            let live = Arc::clone(&live);
            let target = Arc::clone(&target);
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    let now = Mode::from_u8(mode.load(Ordering::SeqCst));
                    if now == Mode::Refuse {
                        drop(client);
                        continue;
                    }
                    let upstream = target.lock().unwrap_or_else(|p| p.into_inner()).clone();
                    let task = tokio::spawn(forward(client, upstream, now));
                    let mut live = live.lock().unwrap_or_else(|p| p.into_inner());
                    live.retain(|t| !t.is_finished());
                    live.push(task.abort_handle());
                }
            }
        })
        .abort_handle();
        Ok(Self {
            base,
            mode,
            target,
            live,
            accept,
        })
    }

    /// Sends new connections to another upstream (a server restarted on another port); open
    /// ones are cut.
    pub fn retarget(&self, upstream: &str) {
        *self.target.lock().unwrap_or_else(|p| p.into_inner()) = host_port(upstream);
        self.cut_all();
    }

    /// Changes what the proxy does; open connections are cut so that the change holds at once
    /// (clients keep connections alive between requests).
    pub fn set(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
        self.cut_all();
    }

    pub fn mode(&self) -> Mode {
        Mode::from_u8(self.mode.load(Ordering::SeqCst))
    }

    fn cut_all(&self) {
        for task in self
            .live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            task.abort();
        }
    }
}

fn host_port(upstream: &str) -> String {
    upstream
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned()
}

async fn forward(mut client: TcpStream, target: String, mode: Mode) {
    let Ok(mut server) = TcpStream::connect(&target).await else {
        return;
    };
    match mode {
        Mode::Pass | Mode::Refuse => {
            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
        }
        Mode::LoseReplies => {
            let (mut client_read, _client_write) = client.split();
            let (mut server_read, mut server_write) = server.split();
            // The request goes up; the first byte of the answer means the server has acted on
            // it. Both connections close there, the answer unread.
            let upload = async {
                let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
                std::future::pending::<()>().await;
            };
            let mut first = [0u8; 1];
            tokio::select! {
                () = upload => {}
                _ = server_read.read(&mut first) => {}
            }
        }
    }
}
