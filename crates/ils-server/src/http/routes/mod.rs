//! Route handlers, one module per area. Each handler parses, authorises (through its
//! extractors) and calls one library function.

pub mod assistant;
pub mod auth;
pub mod capture;
pub mod company;
pub mod gdpr;
pub mod kb;
pub mod models;
pub mod orders;
pub mod patients;
pub mod platform;
pub mod sync;
pub mod system;
pub mod users;

use axum::http::{HeaderName, StatusCode, header};

use crate::error::{Error, Result};

/// A 201 answer: the new resource in the body, its address in `Location`.
pub type Created<T> = (
    StatusCode,
    [(HeaderName, String); 1],
    crate::http::error::Json<T>,
);

pub fn created<T>(location: String, body: T) -> Created<T> {
    (
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        crate::http::error::Json(body),
    )
}

pub const DEFAULT_PAGE_SIZE: u32 = 50;

/// The page size a client asked for, within `1..=max`.
pub fn page_limit(requested: Option<u32>, max: u32) -> Result<u32> {
    match requested {
        None => Ok(DEFAULT_PAGE_SIZE.min(max)),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(n) => Err(Error::bad_request(
            "pagination.limit_out_of_range",
            format!("limit must be between 1 and {max}, got {n}"),
        )),
    }
}

/// The cursor for the next page: the last id when the page is full.
pub fn next_cursor<T>(
    items: &[T],
    limit: u32,
    id: impl Fn(&T) -> uuid::Uuid,
) -> Option<uuid::Uuid> {
    if items.len() == limit as usize {
        items.last().map(id)
    } else {
        None
    }
}
