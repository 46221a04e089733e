//! News of a tenant's feed for long polls: every transaction that appends to a tenant's feed
//! sends `NOTIFY ils_sync, '<company id>'` (delivered when it commits, to every replica); each
//! replica listens on one connection and wakes the pulls of that tenant waiting on it.
//!
//! A pull that finds nothing new subscribes first, then reads, then waits: a commit between the
//! read and the wait still wakes it. If the listening connection drops, waiters wake at their
//! timeout and the listener reconnects; nothing is lost, since a pull always reads the feed.

use std::time::Duration;

use ils_core::CompanyId;
use sqlx::postgres::PgListener;
use tokio::sync::broadcast;

pub const CHANNEL: &str = "ils_sync";

/// The replica's subscription point.
#[derive(Clone, Debug)]
pub struct FeedNews {
    sender: broadcast::Sender<uuid::Uuid>,
}

impl FeedNews {
    /// Starts listening on `url` (reconnecting with a pause after a failure).
    pub fn start(url: String) -> Self {
        let (sender, _) = broadcast::channel(1024);
        let news = Self { sender };
        let weak = news.sender.downgrade();
        tokio::spawn(async move {
            loop {
                let Some(sender) = weak.upgrade() else { break };
                if let Err(e) = listen(&url, &sender).await {
                    tracing::warn!(error = %e, "sync notifications: listener failed, reconnecting");
                }
                drop(sender);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        news
    }

    pub fn subscribe(&self) -> broadcast::Receiver<uuid::Uuid> {
        self.sender.subscribe()
    }
}

async fn listen(url: &str, sender: &broadcast::Sender<uuid::Uuid>) -> sqlx::Result<()> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen(CHANNEL).await?;
    loop {
        let note = listener.recv().await?;
        if let Ok(company) = note.payload().parse::<uuid::Uuid>() {
            // No receiver is fine: nobody waits for this tenant now.
            let _ = sender.send(company);
        }
    }
}

/// Waits until `company`'s feed grows or `timeout` passes.
pub async fn wait(
    receiver: &mut broadcast::Receiver<uuid::Uuid>,
    company: CompanyId,
    timeout: Duration,
) {
    let company = company.into_uuid();
    let _ = tokio::time::timeout(timeout, async {
        loop {
            match receiver.recv().await {
                Ok(c) if c == company => return,
                Ok(_) => {}
                // Missed some news: read the feed again rather than guess.
                Err(broadcast::error::RecvError::Lagged(_)) => return,
                Err(broadcast::error::RecvError::Closed) => {
                    std::future::pending::<()>().await;
                }
            }
        }
    })
    .await;
}
