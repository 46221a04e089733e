//! Slow clients: half-sent headers and bodies do not hold the service, and a request that
//! cannot be answered in time gets 408.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::common::TestApp;

fn connect(app: &TestApp) -> TcpStream {
    let address = app.base.trim_start_matches("http://").to_owned();
    let stream = TcpStream::connect(address).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("read timeout");
    stream
}

/// Reads until the server closes the connection (or 20 s pass); what it sent, and how long.
fn read_to_close(stream: &mut TcpStream) -> (String, Duration) {
    let started = Instant::now();
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    (
        String::from_utf8_lossy(&out).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_requests_are_cut_off_and_late_answers_are_408() {
    let app = TestApp::spawn_with(|s| {
        s.http.header_read_timeout_ms = 500;
        s.http.body_read_timeout_ms = 500;
    })
    .await;

    // Headers that never end: the connection is closed soon after the header timeout.
    let mut slow_headers = connect(&app);
    let (sent, waited) = tokio::task::spawn_blocking(move || {
        slow_headers
            .write_all(b"GET /api/health HTTP/1.1\r\nHost: ils\r\nX-Slow: ")
            .expect("write");
        read_to_close(&mut slow_headers)
    })
    .await
    .expect("thread");
    assert!(
        waited < Duration::from_secs(10),
        "a half-sent header was held for {waited:?}: {sent:?}"
    );
    assert!(!sent.contains("200 OK"), "{sent}");

    // A body shorter than its Content-Length: 408, soon after the body timeout.
    let mut short_body = connect(&app);
    let (sent, waited) = tokio::task::spawn_blocking(move || {
        short_body
            .write_all(
                b"POST /api/auth/login HTTP/1.1\r\nHost: ils\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"domain\": ",
            )
            .expect("write");
        read_to_close(&mut short_body)
    })
    .await
    .expect("thread");
    assert!(
        sent.starts_with("HTTP/1.1 408"),
        "a half-sent body is answered 408: {sent:?}"
    );
    assert!(sent.contains("request.timeout"), "{sent}");
    assert!(waited < Duration::from_secs(10), "{waited:?}");

    // The service still answers everyone else.
    let health = app
        .client
        .get(format!("{}/api/health", app.base))
        .send()
        .await;
    assert!(health.expect("health").status().is_success());
}

#[tokio::test]
async fn a_request_that_cannot_be_answered_in_time_gets_408() {
    let app = TestApp::spawn().await;
    // A replica whose deadline is shorter than a password check: sign-in cannot finish there.
    // (An unknown account is checked against that replica's dummy hash, made with
    // production-strength parameters, so no machine finishes it inside the deadline.)
    let strict = app
        .replica_with(|s| {
            s.http.request_timeout_ms = 1;
            s.auth.argon2_memory_kib = 65_536;
            s.auth.argon2_iterations = 3;
        })
        .await;
    let reply = app
        .client
        .post(format!("{}/api/auth/login", strict.base))
        .json(&serde_json::json!({
            "domain": crate::common::PLATFORM_DOMAIN,
            "email": "nobody@platform.ils.test",
            "password": crate::common::PASSWORD,
        }))
        .send()
        .await
        .expect("sent");
    assert_eq!(reply.status(), reqwest::StatusCode::REQUEST_TIMEOUT);
    let body: serde_json::Value = reply.json().await.expect("json");
    assert_eq!(body["code"], "request.timeout");
    // The same request on a replica with the default deadline is answered.
    let ok = app
        .login_reply(
            crate::common::PLATFORM_DOMAIN,
            crate::common::PLATFORM_EMAIL,
            crate::common::PASSWORD,
        )
        .await;
    assert_eq!(ok.status, reqwest::StatusCode::OK);
}
