//! What several test binaries of the engine share.

use std::path::Path;

/// The message of the injected failure.
pub const INJECTED: &str = "injected failure";

/// From now on every outbox insert into the database at `path` fails, as a crash or a full disk
/// between a record and its change would: the tests then check that neither is written.
pub fn fail_outbox_writes(path: &Path) {
    rusqlite::Connection::open(path)
        .expect("raw connection")
        .execute_batch(
            "CREATE TRIGGER fail_outbox BEFORE INSERT ON outbox
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
        )
        .expect("trigger");
}
