//! End-to-end tests of ILS that need both halves at once; the tests are in this folder's
//! `*.rs` files (see README.md). The library itself is empty.
