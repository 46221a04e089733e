//! Both providers' wire formats against the loopback server: streaming and not, usage,
//! keep-alives, errors in the stream, cut connections, rate limits with Retry-After, retries,
//! timeouts, the fallback chain, images, and keys.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use ils_llm::loopback::{Failure, LoopbackServer, Script};
use ils_llm::{
    ApiKey, Chain, ChatRequest, FinishReason, ImagePart, LlmError, Message, Part, Provider,
    ProviderConfig, ProviderKind, RetryPolicy, Role, StreamEvent, Target, TimeoutPhase, Timeouts,
    Usage,
};

const KEY: &str = "sk-loopback-secret";

fn provider(server: &LoopbackServer, kind: ProviderKind, timeouts: Timeouts) -> Provider {
    Provider::new(ProviderConfig {
        name: format!("{kind:?}").to_lowercase(),
        kind,
        base_url: match kind {
            ProviderKind::OpenAi => server.openai_base(),
            ProviderKind::Anthropic => server.base_url.clone(),
        },
        api_key: Some(ApiKey::new(KEY)),
        vision_models: vec!["vision-model".into()],
        timeouts,
    })
    .expect("provider")
}

fn request(model: &str) -> ChatRequest {
    ChatRequest {
        model: model.into(),
        messages: vec![
            Message::text(Role::System, "Answer from the practice's documents."),
            Message::text(Role::User, "Which lenses for a child's sports glasses?"),
        ],
        temperature: Some(0.2),
        max_tokens: 256,
    }
}

/// The text, usage and finish of a stream, or the error that ended it (with the text so far).
async fn drain(
    mut stream: ils_llm::EventStream,
) -> (
    String,
    Option<Usage>,
    Option<FinishReason>,
    Option<LlmError>,
) {
    let (mut text, mut usage, mut finish) = (String::new(), None, None);
    while let Some(event) = stream.next().await {
        match event {
            Ok(StreamEvent::Delta(t)) => text.push_str(&t),
            Ok(StreamEvent::Usage(u)) => usage = Some(u),
            Ok(StreamEvent::Finish(f)) => finish = Some(f),
            Err(e) => return (text, usage, finish, Some(e)),
        }
    }
    (text, usage, finish, None)
}

const KINDS: [ProviderKind; 2] = [ProviderKind::OpenAi, ProviderKind::Anthropic];

#[tokio::test]
async fn both_formats_stream_and_complete_with_usage() {
    let server = LoopbackServer::start(Some(KEY)).await.expect("server");
    for kind in KINDS {
        let p = provider(&server, kind, Timeouts::default());
        let script = Script {
            text: "Trivex or polycarbonate: impact-resistant, light, UV-blocking. Ünïcödé ✓".into(),
            chunk_chars: 1,
            keep_alives: 3,
            ..Script::default()
        };
        let expected_chunks = script.text.chars().count() as u32;
        server.script("m1", script.clone());
        let (text, usage, finish, error) =
            drain(p.stream(&request("m1")).await.expect("stream")).await;
        assert!(error.is_none(), "{kind:?}: {error:?}");
        assert_eq!(text, script.text, "{kind:?}");
        assert_eq!(finish, Some(FinishReason::Stop), "{kind:?}");
        assert_eq!(
            usage,
            Some(Usage {
                input_tokens: 42,
                output_tokens: expected_chunks
            }),
            "{kind:?}: usage comes from the provider"
        );

        server.script("m1", Script::answer("A whole answer."));
        let whole = p.complete(&request("m1")).await.expect("complete");
        assert_eq!(whole.text, "A whole answer.");
        assert_eq!(whole.finish, FinishReason::Stop);
        assert_eq!(whole.model, "m1");
        assert_eq!(whole.usage.map(|u| u.input_tokens), Some(42));
    }
    // What went over the wire: the key in the header each format uses, the system prompt
    // where each format puts it, the token cap always.
    let received = server.received();
    let openai = received
        .iter()
        .find(|r| r.path.contains("chat"))
        .expect("openai");
    assert_eq!(
        openai.headers["authorization"],
        format!("Bearer {KEY}").as_str()
    );
    assert_eq!(openai.body["messages"][0]["role"], "system");
    assert_eq!(openai.body["max_tokens"], 256);
    assert_eq!(openai.body["stream_options"]["include_usage"], true);
    let anthropic = received
        .iter()
        .find(|r| r.path == "/v1/messages")
        .expect("anthropic");
    assert_eq!(anthropic.headers["x-api-key"], KEY);
    assert_eq!(anthropic.headers["anthropic-version"], "2023-06-01");
    assert_eq!(
        anthropic.body["system"],
        "Answer from the practice's documents."
    );
    assert_eq!(anthropic.body["messages"][0]["role"], "user");
}

#[tokio::test]
async fn keys_are_required_and_never_shown() {
    let server = LoopbackServer::start(Some(KEY)).await.expect("server");
    let mut config = provider(&server, ProviderKind::OpenAi, Timeouts::default())
        .config()
        .clone();
    assert!(!format!("{config:?}").contains(KEY), "Debug hides the key");
    config.api_key = Some(ApiKey::new("wrong"));
    let wrong = Provider::new(config).expect("provider");
    match wrong.stream(&request("m")).await {
        Err(LlmError::Status { status: 401, .. }) => {}
        other => panic!("expected 401, got {:?}", other.err()),
    }
}

#[tokio::test]
async fn a_cut_connection_and_an_error_event_end_the_stream_with_what_came() {
    let server = LoopbackServer::start(None).await.expect("server");
    for kind in KINDS {
        let p = provider(&server, kind, Timeouts::default());
        server.script(
            "m",
            Script {
                text: "abcdefghijklmnop".into(),
                chunk_chars: 4,
                failure: Some(Failure::CutAfter(2)),
                ..Script::default()
            },
        );
        let (text, _, finish, error) = drain(p.stream(&request("m")).await.expect("stream")).await;
        assert_eq!(
            text, "abcdefgh",
            "{kind:?}: the text before the cut is kept"
        );
        assert_eq!(finish, None);
        assert!(matches!(error, Some(LlmError::Cut)), "{kind:?}: {error:?}");

        server.script(
            "m",
            Script {
                text: "abcdefghijklmnop".into(),
                chunk_chars: 4,
                failure: Some(Failure::ErrorEventAfter(1)),
                ..Script::default()
            },
        );
        let (text, _, _, error) = drain(p.stream(&request("m")).await.expect("stream")).await;
        assert_eq!(text, "abcd", "{kind:?}");
        assert!(
            matches!(error, Some(LlmError::Stream(_))),
            "{kind:?}: {error:?}"
        );
    }
}

#[tokio::test]
async fn rate_limits_are_retried_after_the_time_the_provider_asks() {
    let server = LoopbackServer::start(None).await.expect("server");
    for kind in KINDS {
        let p = Arc::new(provider(&server, kind, Timeouts::default()));
        server.script(
            "m",
            Script::failing(Failure::Status {
                status: 429,
                retry_after: Some(1),
            }),
        );
        server.script("m", Script::answer("after the pause"));
        let chain = Chain {
            targets: vec![Target {
                provider: p.clone(),
                model: "m".into(),
            }],
            retry: RetryPolicy {
                attempts: 3,
                base_delay: Duration::from_millis(10),
                max_delay: Duration::from_secs(5),
            },
        };
        let started = Instant::now();
        let (_, stream, attempts) = chain.stream(&request("ignored")).await.expect("answers");
        assert!(
            started.elapsed() >= Duration::from_millis(950),
            "{kind:?}: waited {:?}",
            started.elapsed()
        );
        assert_eq!(attempts.len(), 1);
        assert!(
            matches!(attempts[0].error, LlmError::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(1))
        );
        assert_eq!(drain(stream).await.0, "after the pause");
    }
}

#[tokio::test]
async fn the_chain_falls_back_and_says_when_nothing_answers() {
    let server = LoopbackServer::start(None).await.expect("server");
    let openai = Arc::new(provider(&server, ProviderKind::OpenAi, Timeouts::default()));
    let anthropic = Arc::new(provider(
        &server,
        ProviderKind::Anthropic,
        Timeouts::default(),
    ));
    let fast = RetryPolicy {
        attempts: 2,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
    };
    let chain = Chain {
        targets: vec![
            Target {
                provider: openai.clone(),
                model: "first".into(),
            },
            Target {
                provider: openai.clone(),
                model: "second".into(),
            },
            Target {
                provider: anthropic.clone(),
                model: "third".into(),
            },
        ],
        retry: fast,
    };
    // The first model is down (503 twice), the second refuses the request (400: no retry),
    // the third answers.
    server.script(
        "first",
        Script::failing(Failure::Status {
            status: 503,
            retry_after: None,
        }),
    );
    server.script(
        "first",
        Script::failing(Failure::Status {
            status: 503,
            retry_after: None,
        }),
    );
    server.script(
        "second",
        Script::failing(Failure::Status {
            status: 400,
            retry_after: None,
        }),
    );
    server.script("third", Script::answer("from the third"));
    let (target, stream, attempts) = chain.stream(&request("ignored")).await.expect("answers");
    assert_eq!(target.model, "third");
    assert_eq!(
        attempts
            .iter()
            .map(|a| a.model.as_str())
            .collect::<Vec<_>>(),
        ["first", "first", "second"]
    );
    assert_eq!(drain(stream).await.0, "from the third");

    for model in ["first", "second", "third"] {
        for _ in 0..2 {
            server.script(
                model,
                Script::failing(Failure::Status {
                    status: 529,
                    retry_after: None,
                }),
            );
        }
    }
    let nothing = chain
        .stream(&request("ignored"))
        .await
        .err()
        .expect("nothing answers");
    assert_eq!(nothing.attempts.len(), 6);
    assert!(nothing.to_string().contains("no model could be reached"));
}

#[tokio::test]
async fn slow_first_tokens_and_unreachable_providers_time_out_or_fail_fast() {
    let server = LoopbackServer::start(None).await.expect("server");
    let timeouts = Timeouts {
        connect: Duration::from_millis(500),
        first_token: Duration::from_millis(300),
        total: Duration::from_secs(5),
    };
    for kind in KINDS {
        let p = provider(&server, kind, timeouts);
        server.script(
            "slow",
            Script {
                first_delay: Duration::from_secs(3),
                ..Script::default()
            },
        );
        let started = Instant::now();
        let error = p.stream(&request("slow")).await.err().expect("times out");
        assert!(
            matches!(error, LlmError::Timeout(TimeoutPhase::FirstToken)),
            "{kind:?}: {error:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(error.is_retryable());

        // Tokens that stop coming: the total limit ends the stream.
        let p = provider(
            &server,
            kind,
            Timeouts {
                total: Duration::from_millis(600),
                ..timeouts
            },
        );
        server.script(
            "dribble",
            Script {
                text: "x".repeat(40),
                chunk_chars: 1,
                chunk_delay: Duration::from_millis(100),
                ..Script::default()
            },
        );
        let (text, _, _, error) = drain(p.stream(&request("dribble")).await.expect("stream")).await;
        assert!(
            matches!(error, Some(LlmError::Timeout(TimeoutPhase::Total))),
            "{kind:?}: {error:?}"
        );
        assert!(!text.is_empty() && text.len() < 40);
    }
    // Nothing listens on the port: a connection error, which the chain may retry.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let gone = Provider::new(ProviderConfig {
        name: "gone".into(),
        kind: ProviderKind::OpenAi,
        base_url: format!("http://127.0.0.1:{port}/v1"),
        api_key: None,
        vision_models: vec![],
        timeouts,
    })
    .expect("provider");
    let error = gone.stream(&request("m")).await.err().expect("unreachable");
    assert!(matches!(error, LlmError::Connect(_)), "{error:?}");
    assert!(error.is_retryable());
}

#[tokio::test]
async fn images_go_to_vision_models_only_in_each_formats_shape() {
    let server = LoopbackServer::start(None).await.expect("server");
    let image = ImagePart {
        media_type: "image/png".into(),
        data_base64: "iVBORw0KGgo=".into(),
    };
    let mut with_image = request("vision-model");
    with_image.messages[1]
        .parts
        .push(Part::Image(image.clone()));
    for kind in KINDS {
        let p = provider(&server, kind, Timeouts::default());
        let before = server.received().len();
        let mut refused = with_image.clone();
        refused.model = "text-only".into();
        assert!(matches!(
            p.stream(&refused).await.err(),
            Some(LlmError::Invalid(_))
        ));
        assert_eq!(
            server.received().len(),
            before,
            "{kind:?}: nothing was sent"
        );
        drain(p.stream(&with_image).await.expect("stream")).await;
    }
    let received = server.received();
    let openai = &received
        .iter()
        .rev()
        .find(|r| r.path.contains("chat"))
        .expect("openai")
        .body;
    let parts = &openai["messages"][1]["content"];
    assert_eq!(parts[1]["type"], "image_url");
    assert_eq!(
        parts[1]["image_url"]["url"],
        "data:image/png;base64,iVBORw0KGgo="
    );
    let anthropic = &received
        .iter()
        .rev()
        .find(|r| r.path == "/v1/messages")
        .expect("anthropic")
        .body;
    let block = &anthropic["messages"][0]["content"][1];
    assert_eq!(block["type"], "image");
    assert_eq!(block["source"]["type"], "base64");
    assert_eq!(block["source"]["media_type"], "image/png");

    // A request without a token cap is never sent.
    let p = provider(&server, ProviderKind::OpenAi, Timeouts::default());
    let mut uncapped = request("m");
    uncapped.max_tokens = 0;
    assert!(matches!(
        p.stream(&uncapped).await.err(),
        Some(LlmError::Invalid(_))
    ));
}

#[tokio::test]
async fn a_relayed_answer_ends_as_it_went_answered_cut_or_left() {
    use ils_llm::answer::{CUT_NOTE, Outcome, relay};
    use ils_llm::transform::Passthrough;
    let server = LoopbackServer::start(None).await.expect("server");
    let p = provider(&server, ProviderKind::OpenAi, Timeouts::default());
    let script = |failure| Script {
        text: "abcdefghijkl".into(),
        chunk_chars: 4,
        failure,
        ..Script::default()
    };
    for (failure, keep_reading, expected_text, expected) in [
        (None, true, "abcdefghijkl".to_owned(), Outcome::Answered),
        (
            Some(Failure::CutAfter(1)),
            true,
            format!("abcd{CUT_NOTE}"),
            Outcome::Cut,
        ),
        (None, false, "abcd".to_owned(), Outcome::Cancelled),
    ] {
        server.script("m", script(failure));
        let mut shown = String::new();
        let (text, usage, outcome) = relay(
            p.stream(&request("m")).await.expect("stream"),
            &mut Passthrough,
            &mut |piece| {
                shown.push_str(piece);
                keep_reading
            },
        )
        .await;
        assert_eq!((text.as_str(), outcome), (expected_text.as_str(), expected));
        assert_eq!(shown, expected_text, "what was shown is what is kept");
        assert_eq!(usage.is_some(), expected == Outcome::Answered);
    }
}
