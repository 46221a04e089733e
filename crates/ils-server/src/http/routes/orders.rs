//! `/api/orders` and `/api/production/orders`.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use ils_core::order::{OrderData, OrderStatus};
use ils_core::{OrderId, PatientId};

use super::{Created, created, next_cursor, page_limit};
use crate::app::AppState;
use crate::auth::principal::record_denial;
use crate::clinical::orders;
use crate::error::{Error, Result};
use crate::http::dto::{
    OrderDto, OrderListParams, Page, PageParams, ProductionOrderDto, TimelineEntryDto,
    TransitionDto, TransitionRequest,
};
use crate::http::error::{ErrorBody, Json, Path, Query};
use crate::http::extract::{Authorized, need};

#[utoipa::path(get, path = "/api/orders", tag = "orders", params(OrderListParams),
    responses((status = 200, body = Page<OrderDto>), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::OrdersRead>,
    Query(q): Query<OrderListParams>,
) -> Result<Json<Page<OrderDto>>> {
    let limit = page_limit(q.limit, state.settings.http.max_page_size)?;
    let status = q
        .status
        .as_deref()
        .map(|s| {
            OrderStatus::parse(s).ok_or_else(|| {
                Error::bad_request(
                    "order.unknown_status",
                    format!("Unknown order status {s:?}; use draft, submitted, in_production, quality_check, shipped, delivered, cancelled or remade"),
                )
            })
        })
        .transpose()?;
    let input = orders::ListInput {
        status,
        patient: q.patient_id.map(PatientId::from_uuid),
        overdue: q.overdue.unwrap_or(false),
        after: q.after,
        limit,
    };
    let mut tx = state.db.tenant_tx_for_listing(&p.tenant()).await?;
    let rows = orders::list(&mut tx, &p.caller(), &input).await?;
    tx.commit().await?;
    let next = next_cursor(&rows, limit, |r| r.id);
    Ok(Json(Page {
        items: rows.into_iter().map(OrderDto::from).collect(),
        next,
    }))
}

/// Places a lens order from an active prescription (status draft).
#[utoipa::path(post, path = "/api/orders", tag = "orders", request_body = OrderData,
    responses(
        (status = 201, body = OrderDto, headers(("location" = String, description = "/api/orders/{id}")),
            links(
                ("get" = (operation_id = "orders.get", parameters(("id" = "$response.body#/id")))),
                ("transition" = (operation_id = "orders.transition", parameters(("id" = "$response.body#/id")))),
                ("timeline" = (operation_id = "orders.timeline", parameters(("id" = "$response.body#/id")))),
                ("dcs" = (operation_id = "orders.dcs", parameters(("id" = "$response.body#/id")))),
            )),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::OrdersCreate>,
    Json(body): Json<serde_json::Value>,
) -> Result<Created<OrderDto>> {
    let data = OrderData::from_json(&body)?;
    let mut tx = state.db.tenant_tx(&p.tenant()).await?;
    let row = orders::create(&mut tx, &p.caller(), &data).await?;
    tx.commit().await?;
    Ok(created(format!("/api/orders/{}", row.id), row.into()))
}

#[utoipa::path(get, path = "/api/orders/{id}", tag = "orders", params(("id" = Uuid, Path)),
    responses((status = 200, body = OrderDto), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::OrdersRead>,
    Path(id): Path<OrderId>,
) -> Result<Json<OrderDto>> {
    let mut tx = state.db.tenant_tx(&p.tenant()).await?;
    let row = orders::get(&mut tx, &p.caller(), id).await?;
    tx.commit().await?;
    Ok(Json(row.into()))
}

/// Moves an order through its status machine (who may depends on the action).
#[utoipa::path(post, path = "/api/orders/{id}/transitions", tag = "orders", params(("id" = Uuid, Path)),
    request_body = TransitionRequest,
    responses((status = 200, body = TransitionDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn transition(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::OrdersRead>,
    Path(id): Path<OrderId>,
    Json(body): Json<TransitionRequest>,
) -> Result<Json<TransitionDto>> {
    let mut tx = state.db.tenant_tx(&p.tenant()).await?;
    let outcome = match orders::apply(
        &mut tx,
        &p.caller(),
        id,
        body.action,
        body.reason.as_deref(),
    )
    .await
    {
        Ok(outcome) => outcome,
        Err(error @ Error::Forbidden { .. }) => {
            // The refused transaction is not committed; the refusal is audited on its own.
            drop(tx);
            let what = format!("{} an order", body.action.as_str());
            // The route, not the order's id: refusals write no record id into the log.
            record_denial(&state, &p, &what, "POST /api/orders/{id}/transitions").await;
            return Err(error);
        }
        Err(error) => return Err(error),
    };
    tx.commit().await?;
    Ok(Json(TransitionDto {
        order: outcome.order.into(),
        remake: outcome.remake.map(OrderDto::from),
    }))
}

/// Every status change of the order, oldest first, with time, user and note.
#[utoipa::path(get, path = "/api/orders/{id}/timeline", tag = "orders", params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<TimelineEntryDto>), (status = 404, body = ErrorBody)))]
pub async fn timeline(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::OrdersRead>,
    Path(id): Path<OrderId>,
) -> Result<Json<Vec<TimelineEntryDto>>> {
    let mut tx = state.db.tenant_tx(&p.tenant()).await?;
    let events = orders::timeline(&mut tx, &p.caller(), id).await?;
    tx.commit().await?;
    Ok(Json(
        events.into_iter().map(TimelineEntryDto::from).collect(),
    ))
}

/// The order as a Vision Council DCS record set for the lab.
#[utoipa::path(get, path = "/api/orders/{id}/dcs", tag = "orders", params(("id" = Uuid, Path)),
    responses((status = 200, content_type = "text/plain", body = String), (status = 404, body = ErrorBody)))]
pub async fn dcs(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::OrdersRead>,
    Path(id): Path<OrderId>,
) -> Result<Response> {
    let mut tx = state.db.tenant_tx(&p.tenant()).await?;
    let record = orders::dcs_record(&mut tx, &p.caller(), id).await?;
    tx.commit().await?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        record,
    )
        .into_response())
}

/// The production queue: what to make, oldest first, without patient details.
#[utoipa::path(get, path = "/api/production/orders", tag = "orders", params(PageParams),
    responses((status = 200, body = Page<ProductionOrderDto>), (status = 403, body = ErrorBody)))]
pub async fn production(
    State(state): State<AppState>,
    Authorized(p, ..): Authorized<need::ProductionRead>,
    Query(page): Query<PageParams>,
) -> Result<Json<Page<ProductionOrderDto>>> {
    let limit = page_limit(page.limit, state.settings.http.max_page_size)?;
    let mut tx = state.db.tenant_tx(&p.tenant()).await?;
    let rows = orders::production_queue(&mut tx, page.after, limit).await?;
    tx.commit().await?;
    let next = next_cursor(&rows, limit, |r| r.id);
    Ok(Json(Page {
        items: rows.into_iter().map(ProductionOrderDto::from).collect(),
        next,
    }))
}
