//! `sqlx::migrate!` embeds the migrations when this crate compiles, but Cargo does not know it
//! reads that directory: without this, a new migration file is left out of an incremental build.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations/postgres");
}
