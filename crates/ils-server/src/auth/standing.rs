//! The short cache of each user's standing (account status, role, tenant status and tier).
//!
//! Access tokens live up to 15 minutes, but a disabled user or a suspended tenant must be refused
//! sooner: every request checks the standing, read from the database at most every
//! `status_cache_secs` (≤ 30 s) per user. The replica that makes a change drops the entries at
//! once and, with a shared Redis, tells the others, which drop theirs as the news arrives
//! ([`crate::shared::Invalidation`]); without Redis they catch up within the interval.

use std::sync::atomic::{AtomicU64, Ordering};
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
    /// Moves on every invalidation: a read that started before one is not cached, so a
    /// standing read just before a change cannot outlive the news of the change.
    generation: AtomicU64,
}

impl StandingCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: DashMap::new(),
            generation: AtomicU64::new(0),
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
        let generation = self.generation.load(Ordering::Acquire);
        let mut tx = db.tenant_tx(ctx).await?;
        let row = users::standing(&mut tx, user).await?;
        tx.end_read();
        if self.generation.load(Ordering::Acquire) == generation {
            self.entries.insert(key, (Instant::now(), row));
        }
        Ok(row)
    }

    pub fn forget_user(&self, company: CompanyId, user: UserId) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.remove(&(company, user));
    }

    pub fn forget_company(&self, company: CompanyId) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.retain(|(c, _), _| *c != company);
    }

    pub fn forget_all(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.clear();
    }

    /// Applies news of a change, from this replica or another.
    pub fn apply(&self, news: crate::shared::Invalidation) {
        use crate::shared::Invalidation;
        match news {
            Invalidation::User(company, user) => self.forget_user(company, user),
            Invalidation::Company(company) => self.forget_company(company),
            Invalidation::Everything => self.forget_all(),
        }
    }

    /// Drops expired entries so that the cache does not grow without bound.
    pub fn purge_expired(&self) {
        let ttl = self.ttl;
        self.entries.retain(|_, (at, _)| at.elapsed() < ttl);
    }
}
