//! The job API: `POST /api/jobs`, `GET /api/jobs/{id}`,
//! `GET /api/jobs/{id}/download`, `GET /api/jobs/{id}/results` (a
//! screenshots job's or crawl's pictures as base64 JSON),
//! `GET /api/jobs/{id}/pages` (a crawl's pages as recorded) and
//! `DELETE /api/jobs/{id}`, each behind
//! an API key (`[[api_keys]]`). Without a key configured the routes answer
//! 404, saying how to turn them on.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Extension, Path, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;

use super::ApiError;
use crate::app::App;
use crate::jobs::{AccessError, Client, JobError, JobService, State};

/// The largest job body read.
pub const MAX_JOB_BODY: usize = 64 * 1024;

#[derive(Clone)]
struct Service(Option<Arc<JobService>>);

/// The job routes over `service`, or answers that the API is off.
pub fn routes(service: Option<Arc<JobService>>) -> Router<App> {
    Router::new()
        .route("/api/jobs", post(submit).get(list))
        .route("/api/jobs/{id}", get(status).delete(cancel))
        .route("/api/jobs/{id}/download", get(download))
        .route("/api/jobs/{id}/results", get(results))
        .route("/api/jobs/{id}/pages", get(pages))
        .layer(Extension(Service(service)))
}

/// The service and the caller, or why not.
fn caller(service: &Service, headers: &HeaderMap) -> Result<(Arc<JobService>, Client), ApiError> {
    let Some(service) = &service.0 else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "jobs_off",
            "the job API is off: add an [[api_keys]] entry to the config to turn it on",
        ));
    };
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    let client = service.authenticate(authorization).map_err(from_job)?;
    Ok((service.clone(), client))
}

#[derive(Serialize)]
struct Accepted {
    id: String,
    status: State,
    status_url: String,
    download_url: String,
    /// Whether an identical job already existed, and this is it.
    existing: bool,
}

/// `POST /api/jobs`: 202 with the job's id and where to poll.
async fn submit(
    Extension(service): Extension<Service>,
    request: Request,
) -> Result<Response, ApiError> {
    let (service, client) = caller(&service, request.headers())?;
    let body = axum::body::to_bytes(request.into_body(), MAX_JOB_BODY)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("a job body may have at most {MAX_JOB_BODY} bytes"),
            )
        })?;
    let (id, existing) = service.submit(&client, &body).await.map_err(from_job)?;
    let view = service.status(&client, &id).await.map_err(from_job)?;
    let location = HeaderValue::from_str(&view.status_url).map_err(|_| internal())?;
    let accepted = Accepted {
        id,
        status: view.status,
        status_url: view.status_url,
        download_url: view.download_url,
        existing,
    };
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        axum::Json(accepted),
    )
        .into_response())
}

/// `?limit=&before=`: a page of the key's jobs.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    limit: Option<usize>,
    before: Option<String>,
}

/// A page of jobs, and where the next one is.
#[derive(Serialize)]
struct JobList {
    jobs: Vec<crate::jobs::JobView>,
    /// The next page's address, while there may be more.
    next: Option<String>,
}

/// The most jobs one page lists.
const MAX_PAGE: usize = 100;

/// `GET /api/jobs`: the key's own jobs, newest first, `limit` (20, at
/// most 100) a page; `next` names the following page.
async fn list(
    Extension(service): Extension<Service>,
    super::query::Params(query): super::query::Params<ListQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (service, client) = caller(&service, &headers)?;
    let limit = query.limit.unwrap_or(20).clamp(1, MAX_PAGE);
    let (jobs, last) = service
        .list(&client, limit, query.before.as_deref())
        .await
        .map_err(from_job)?;
    let next = last.map(|id| format!("/api/jobs?limit={limit}&before={id}"));
    let page = JobList { jobs, next };
    Ok(([(header::CACHE_CONTROL, "no-store")], axum::Json(page)).into_response())
}

/// `GET /api/jobs/{id}`.
async fn status(
    Extension(service): Extension<Service>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (service, client) = caller(&service, &headers)?;
    let view = service.status(&client, &id).await.map_err(from_job)?;
    Ok(([(header::CACHE_CONTROL, "no-store")], axum::Json(view)).into_response())
}

/// `DELETE /api/jobs/{id}`: cancels it and deletes its result.
async fn cancel(
    Extension(service): Extension<Service>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (service, client) = caller(&service, &headers)?;
    let view = service.cancel(&client, &id).await.map_err(from_job)?;
    Ok(axum::Json(view).into_response())
}

/// `GET /api/jobs/{id}/results`: the index of a screenshots job or crawl,
/// each picture as base64.
async fn results(
    Extension(service): Extension<Service>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (service, client) = caller(&service, &headers)?;
    let results = service.results(&client, &id).await.map_err(from_job)?;
    Ok((
        [(header::CACHE_CONTROL, "private, no-cache")],
        axum::Json(results),
    )
        .into_response())
}

/// `GET /api/jobs/{id}/pages`: a crawl's pages as the database holds them.
async fn pages(
    Extension(service): Extension<Service>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (service, client) = caller(&service, &headers)?;
    let pages = service.pages(&client, &id).await.map_err(from_job)?;
    let body = serde_json::json!({ "pages": pages });
    Ok(([(header::CACHE_CONTROL, "no-store")], axum::Json(body)).into_response())
}

/// `GET /api/jobs/{id}/download`: the image, zip or animation, streamed.
async fn download(
    Extension(service): Extension<Service>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (service, client) = caller(&service, &headers)?;
    let sent = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let matches = |etag: &str| {
        let etag = format!("\"{etag}\"");
        sent.as_deref()
            .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
    };
    let (output, blob) = service
        .download(&client, &id, |output| matches(&output.etag))
        .await
        .map_err(from_job)?;
    let etag_value =
        HeaderValue::from_str(&format!("\"{}\"", output.etag)).map_err(|_| internal())?;
    let Some(blob) = blob else {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag_value)]).into_response());
    };
    let disposition = format!("attachment; filename=\"{}\"", output.file_name);
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_str(&output.media_type).map_err(|_| internal())?,
        ),
        (header::CONTENT_LENGTH, HeaderValue::from(blob.len)),
        (header::ETAG, etag_value),
        (
            header::CONTENT_DISPOSITION,
            HeaderValue::from_str(&disposition).map_err(|_| internal())?,
        ),
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-cache"),
        ),
    ];
    let body = axum::body::Body::from_stream(blob.body);
    Ok((headers, body).into_response())
}

fn internal() -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "internal error; the server log has the details",
    )
}

/// Maps a job API error to its answer, once.
fn from_job(e: JobError) -> ApiError {
    let message = e.to_string();
    match e {
        JobError::Access(AccessError::Missing | AccessError::Unrecognised) => {
            ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
        }
        JobError::Access(AccessError::RateLimited { retry_after, .. }) => {
            ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
                .with_retry_after(retry_after.as_secs().max(1))
        }
        JobError::Invalid(_) => ApiError::bad_request("invalid_job", message),
        JobError::TooManyJobs { .. } => {
            ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_jobs", message)
                .with_retry_after(5)
        }
        JobError::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, "unknown_job", message),
        JobError::QuotaExceeded { .. } => {
            ApiError::new(StatusCode::TOO_MANY_REQUESTS, "quota_exceeded", message)
        }
        JobError::BrowserQuota { retry_after, .. } => {
            ApiError::new(StatusCode::TOO_MANY_REQUESTS, "browser_quota", message)
                .with_retry_after(retry_after.as_secs() + 1)
        }
        JobError::StorageFull { .. } => ApiError::new(
            StatusCode::INSUFFICIENT_STORAGE,
            "jobs_storage_full",
            message,
        )
        .with_retry_after(60),
        JobError::Damaged(_) => ApiError::new(StatusCode::GONE, "job_result_damaged", message)
            .with_state(State::Failed.as_str()),
        JobError::NotReady { state, .. } => {
            ApiError::new(StatusCode::CONFLICT, "job_not_done", message).with_state(state.as_str())
        }
        JobError::Gone { state, .. } => {
            ApiError::new(StatusCode::GONE, "job_result_gone", message).with_state(state.as_str())
        }
        JobError::Db(cause) => {
            tracing::error!(error = %cause, "job database error");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "jobs_unavailable",
                "the job database is unavailable; try again shortly",
            )
            .with_retry_after(5)
        }
        JobError::Store(cause) => {
            tracing::error!(error = %cause, "job storage error");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "jobs_unavailable",
                "the job storage is unavailable; try again shortly",
            )
            .with_retry_after(5)
        }
    }
}
