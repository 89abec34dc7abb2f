//! The spine over HTTP: supervised processes as operators see and steer them, and the
//! periodic clean-up running on the scheduler.

use cityx_testkit::TestApp;
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test]
async fn processes_are_shown_stopped_and_started() {
    let app = TestApp::spawn().await;
    let id = cityx_core::ProcessId::new();
    app.app()
        .repo()
        .insert_process(&cityx_db::NewProcess {
            id,
            kind: "relay".into(),
            subject: cityx_core::process::Subject {
                kind: "channel".into(),
                id: "c-1".into(),
            },
            station_id: None,
            spec: json!({ "url": "srt://relay.example:9000" }),
        })
        .await
        .expect("process");
    let token = &app.admin_token;
    let (s, list) = app.get("/api/v1/processes?kind=relay", token).await;
    assert_eq!(s, 200, "{list}");
    let p = &list["items"][0];
    assert_eq!(p["id"], id.to_string());
    assert_eq!(
        (p["desired"].as_str(), p["state"].as_str()),
        (Some("running"), Some("pending"))
    );
    assert_eq!(p["subject"], json!({ "type": "channel", "id": "c-1" }));
    assert_eq!(p["spec"]["url"], "srt://relay.example:9000");
    assert_eq!(
        (p["restarts"].as_u64(), p["node"].is_null()),
        (Some(0), true)
    );
    let (s, none) = app.get("/api/v1/processes?kind=ingest", token).await;
    assert_eq!(
        (s.as_u16(), none["items"].as_array().map(Vec::len)),
        (200, Some(0))
    );

    let (s, stopped) = app
        .post(&format!("/api/v1/processes/{id}/stop"), token, json!({}))
        .await;
    assert_eq!(s, 200, "{stopped}");
    // No node holds it, so it is stopped at once; the audit log says who stopped it.
    assert_eq!(
        (stopped["desired"].as_str(), stopped["state"].as_str()),
        (Some("stopped"), Some("stopped"))
    );
    let (_, audit) = app.get("/api/v1/audit?action=process_stopped", token).await;
    assert_eq!(audit["items"][0]["target_id"], id.to_string(), "{audit}");
    let (s, started) = app
        .post(&format!("/api/v1/processes/{id}/start"), token, json!({}))
        .await;
    assert_eq!(s, 200, "{started}");
    assert_eq!(
        (started["desired"].as_str(), started["state"].as_str()),
        (Some("running"), Some("pending"))
    );

    let unknown = cityx_core::ProcessId::new();
    let (s, e) = app
        .get(&format!("/api/v1/processes/{unknown}"), token)
        .await;
    assert_eq!(
        (s.as_u16(), e["error"]["code"].as_str()),
        (404, Some("process_not_found"))
    );
    // A malformed id is no such resource, as for every other path id.
    let (s, e) = app.get("/api/v1/processes/not-an-id", token).await;
    assert_eq!(
        (s.as_u16(), e["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    app.stop().await;
}

#[tokio::test]
async fn the_clean_up_runs_on_the_scheduler() {
    let app = TestApp::spawn_with(|s| s.jobs.enabled = true).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let tidy = loop {
        let (s, list) = app.get("/api/v1/schedules", &app.admin_token).await;
        assert_eq!(s, 200, "{list}");
        let tidy = list["items"]
            .as_array()
            .and_then(|items| items.iter().find(|t| t["name"] == "tidy").cloned());
        if let Some(t) = tidy.filter(|t| t["runs"].as_u64() >= Some(1)) {
            break t;
        }
        assert!(Instant::now() < deadline, "tidy never ran: {list}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        (tidy["every"].as_str(), tidy["misfire"].as_str()),
        (Some("every 60s"), Some("run_once"))
    );
    assert_eq!(tidy["job_kind"], "tidy");
    assert!(tidy["last_job"].is_string(), "{tidy}");
    // The run is an ordinary job, and it succeeded.
    let job = tidy["last_job"]
        .as_str()
        .expect("job")
        .parse()
        .expect("job id");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let seen = app
            .app()
            .repo()
            .get_job(job)
            .await
            .expect("job")
            .expect("the run's job");
        assert_eq!(seen.kind, "tidy");
        if seen.state == "succeeded" {
            break;
        }
        assert!(seen.state != "dead", "the tidy job died: {seen:?}");
        assert!(
            Instant::now() < deadline,
            "the tidy job never finished: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.stop().await;
}
