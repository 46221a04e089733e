//! The short cache of each user's standing (account status, role, tenant status and tier).
//!
//! Access tokens live up to 15 minutes, but a disabled user or a suspended tenant must be refused
//! sooner: every request checks the standing, read from the database at most every
//! `status_cache_secs` (≤ 30 s) per user. This replica drops entries at once when it makes the
//! change itself; other replicas catch up within the interval.

use std::time::{Duration, Instant};

use dashmap::DashMap;
use ils_core::{CompanyId, UserId};

use crate::db::{Db, TenantCtx};
use crate::error::Result;
use crate::store::users::{self, StandingRow};

#[derive(Debug)]
pub struct StandingCache {
    ttl: Duration,
    entries: DashMap<(CompanyId, UserId), (Instant, Option<StandingRow>)>,
}

impl StandingCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: DashMap::new(),
        }
    }

    /// The user's standing; `None` when the user no longer exists.
    pub async fn get(&self, db: &Db, ctx: &TenantCtx, user: UserId) -> Result<Option<StandingRow>> {
        let key = (ctx.company_id(), user);
        if let Some(entry) = self.entries.get(&key)
            && entry.0.elapsed() < self.ttl
        {
            return Ok(entry.1);
        }
        let mut tx = db.tenant_tx(ctx).await?;
        let row = users::standing(&mut tx, user).await?;
        tx.end_read();
        self.entries.insert(key, (Instant::now(), row));
        Ok(row)
    }

    pub fn forget_user(&self, company: CompanyId, user: UserId) {
        self.entries.remove(&(company, user));
    }

    pub fn forget_company(&self, company: CompanyId) {
        self.entries.retain(|(c, _), _| *c != company);
    }

    /// Drops expired entries so that the cache does not grow without bound.
    pub fn purge_expired(&self) {
        let ttl = self.ttl;
        self.entries.retain(|_, (at, _)| at.elapsed() < ttl);
    }
}
