//! Conditional and unconditional Put Blobs (and Set Blob Metadata) racing on one blob, on
//! flat and hierarchical accounts. These writes commit from the runtime's threads holding the
//! blob's lock across their awaited commit (or fall back to a blocking thread when the lock is
//! taken): either way a condition is checked against the newest durable row, so exactly one
//! racer wins a create-if-absent or a compare-and-swap, and the blob ends as the last
//! acknowledged write.

mod common;

use common::{send, send_to, start_with_namespace, Auth, TestServer};
use http::{Method, StatusCode};

const RACERS: usize = 48;

async fn setup(hns: bool) -> TestServer {
    let server = start_with_namespace(hns).await;
    let r = send(
        &server,
        Method::PUT,
        "/devstoreaccount1/race?restype=container",
        &[],
        b"",
        Auth::SharedKey,
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    server
}

/// Sends one Put Blob per body at once; returns each reply (status, ETag), in body order.
async fn race(
    server: &TestServer,
    path: &str,
    extra: &[(&str, &str)],
    bodies: &[Vec<u8>],
) -> Vec<(StatusCode, String)> {
    let tasks: Vec<_> = bodies
        .iter()
        .map(|body| {
            let (addr, path, body) = (server.addr, path.to_string(), body.clone());
            let mut headers: Vec<(String, String)> = vec![("x-ms-blob-type".into(), "BlockBlob".into())];
            headers.extend(extra.iter().map(|(n, v)| (n.to_string(), v.to_string())));
            tokio::spawn(async move {
                let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
                let r = send_to(addr, Method::PUT, &path, &headers, &body, Auth::SharedKey).await;
                let etag = r
                    .headers
                    .get("etag")
                    .map(|v| v.to_str().unwrap().to_string())
                    .unwrap_or_default();
                (r.status, etag)
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

async fn get(server: &TestServer, path: &str) -> (Vec<u8>, String) {
    let r = send(server, Method::GET, path, &[], b"", Auth::SharedKey).await;
    assert_eq!(r.status, StatusCode::OK);
    (r.body.to_vec(), r.headers["etag"].to_str().unwrap().to_string())
}

fn bodies(tag: &str) -> Vec<Vec<u8>> {
    (0..RACERS)
        .map(|i| format!("{tag} body {i} ").repeat(100 + i).into_bytes())
        .collect()
}

async fn races(hns: bool) {
    let server = setup(hns).await;
    let path = if hns {
        "/devstoreaccount1/race/dir/blob"
    } else {
        "/devstoreaccount1/race/blob"
    };

    // Create-if-absent: one winner, every other racer refused, the winner's body stored.
    let created = bodies("create");
    let replies = race(&server, path, &[("if-none-match", "*")], &created).await;
    let winners: Vec<usize> = (0..RACERS).filter(|&i| replies[i].0 == StatusCode::CREATED).collect();
    assert_eq!(winners.len(), 1, "hns={hns}: {replies:?}");
    assert!(
        replies
            .iter()
            .all(|(s, _)| *s == StatusCode::CREATED || *s == StatusCode::CONFLICT),
        "{replies:?}"
    );
    let (body, etag) = get(&server, path).await;
    assert_eq!(body, created[winners[0]]);
    assert_eq!(etag, replies[winners[0]].1);

    // Compare-and-swap on the ETag: again exactly one winner.
    let swapped = bodies("swap");
    let replies = race(&server, path, &[("if-match", &etag)], &swapped).await;
    let winners: Vec<usize> = (0..RACERS).filter(|&i| replies[i].0 == StatusCode::CREATED).collect();
    assert_eq!(winners.len(), 1, "hns={hns}: {replies:?}");
    assert!(replies
        .iter()
        .all(|(s, _)| *s == StatusCode::CREATED || *s == StatusCode::PRECONDITION_FAILED));
    let (body, etag) = get(&server, path).await;
    assert_eq!(body, swapped[winners[0]]);
    assert_eq!(etag, replies[winners[0]].1);

    // Unconditional: all succeed with distinct ETags, and the blob is one of them, whole.
    let plain = bodies("plain");
    let replies = race(&server, path, &[], &plain).await;
    assert!(replies.iter().all(|(s, _)| *s == StatusCode::CREATED), "{replies:?}");
    let mut etags: Vec<&str> = replies.iter().map(|(_, e)| e.as_str()).collect();
    etags.sort();
    etags.dedup();
    assert_eq!(etags.len(), RACERS);
    let (body, etag) = get(&server, path).await;
    let last = replies
        .iter()
        .position(|(_, e)| *e == etag)
        .expect("the stored ETag is one that was acknowledged");
    assert_eq!(body, plain[last]);

    // Set Blob Metadata under If-Match (the same prepared-write path): one winner, body kept.
    let tasks: Vec<_> = (0..RACERS)
        .map(|i| {
            let (addr, path, etag) = (server.addr, format!("{path}?comp=metadata"), etag.clone());
            tokio::spawn(async move {
                let value = format!("racer{i}");
                let headers = [("if-match", etag.as_str()), ("x-ms-meta-winner", value.as_str())];
                send_to(addr, Method::PUT, &path, &headers, b"", Auth::SharedKey)
                    .await
                    .status
            })
        })
        .collect();
    let mut winners = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        match t.await.unwrap() {
            StatusCode::OK => winners.push(i),
            status => assert_eq!(status, StatusCode::PRECONDITION_FAILED),
        }
    }
    assert_eq!(winners.len(), 1, "hns={hns}: {winners:?}");
    let r = send(&server, Method::HEAD, path, &[], b"", Auth::SharedKey).await;
    assert_eq!(r.headers["x-ms-meta-winner"], format!("racer{}", winners[0]).as_str());
    assert_eq!(get(&server, path).await.0, plain[last]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_put_blobs_on_a_flat_account() {
    races(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_put_blobs_on_a_hierarchical_account() {
    races(true).await;
}
