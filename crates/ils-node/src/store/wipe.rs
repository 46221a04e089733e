//! A practice erased on ILS Central (GDPR) is erased on its devices too: every row the practice
//! recorded leaves the file — records, passages, vectors, full-text entries, conversations, the
//! outbox, sync's versions and conflicts, users and the audit log — and the file is rebuilt so
//! that no byte of them stays. The file keeps only its device id and its schema.

use rusqlite::TransactionBehavior;

use super::{Store, StoreError};

impl Store {
    /// Removes everything the practice recorded in this file (see the module documentation),
    /// and signs out.
    pub fn erase_practice(&mut self) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Rows are deleted in any order; the foreign keys are checked at the commit, when
        // nothing is left to point at.
        tx.pragma_update(None, "defer_foreign_keys", "ON")?;
        let virtual_tables: Vec<String> = tx
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%'",
            )?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let tables: Vec<String> = tx
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'
                 AND sql NOT LIKE 'CREATE VIRTUAL TABLE%' ORDER BY name",
            )?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        // The audit log refuses deletions (append-only): its guards step aside for this one
        // transaction and come back as they were.
        let guards: Vec<(String, String)> = tx
            .prepare(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_log'",
            )?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        for (name, _) in &guards {
            tx.execute_batch(&format!("DROP TRIGGER \"{}\"", name.replace('"', "\"\"")))?;
        }
        for table in &tables {
            let shadow = virtual_tables
                .iter()
                .any(|v| table.starts_with(&format!("{v}_")));
            match table.as_str() {
                _ if shadow => {}
                "meta" => {
                    tx.execute("DELETE FROM meta WHERE key <> 'device_id'", [])?;
                }
                "kb_generation" => {
                    tx.execute("UPDATE kb_generation SET value = value + 1", [])?;
                }
                name => {
                    tx.execute_batch(&format!("DELETE FROM \"{}\"", name.replace('"', "\"\"")))?;
                }
            }
        }
        if virtual_tables.iter().any(|v| v == "chunks_fts") {
            tx.execute(
                "INSERT INTO chunks_fts (chunks_fts) VALUES ('delete-all')",
                [],
            )?;
        }
        for (_, sql) in &guards {
            tx.execute_batch(sql)?;
        }
        tx.commit()?;
        self.sign_out();
        // Deleted pages were overwritten (secure_delete); the file is rebuilt without them and
        // the write-ahead log emptied.
        self.conn.execute_batch("VACUUM")?;
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        // The vector index of this process goes too (it is rebuilt from the file when needed).
        *self
            .kb_index
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Default::default();
        Ok(())
    }
}
