//! Disk full: on a small filesystem, writes fail with the service's codes once space runs out,
//! reads keep working, nothing acknowledged is lost, and writes succeed again once space is
//! freed, both when large bodies fill the blob-data stream and when small ones fill the table.
//! The test mounts its own tmpfs (it needs root, as CI has); without the privilege it says so
//! and skips.

mod common;

use std::process::{Command, Stdio};

use common::client::{send_to, try_send_to, Auth};
use common::ServerProcess;
use http::Method;

const FILESYSTEM_MIB: u64 = 64;
const BALLAST_BYTES: usize = 8 << 20;
/// Large blobs go to the blob-data stream; small ones ride in their rows, committed from the
/// runtime's threads through the commit log.
const LARGE_BLOB_BYTES: usize = 1 << 20;
const SMALL_BLOB_BYTES: usize = 48 << 10;

struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn blob_body(i: usize, size: usize) -> Vec<u8> {
    (0..size)
        .map(|j| (j.wrapping_mul(7).wrapping_add(i * 13)) as u8)
        .collect()
}

#[tokio::test]
async fn full_disk_fails_large_writes_cleanly_and_recovers() {
    full_disk_fails_writes_cleanly_and_recovers(LARGE_BLOB_BYTES).await;
}

/// Small bodies fill the table: the flush that meets the full disk fails and is retried, and
/// writers that need its room answer 503 meanwhile.
#[tokio::test]
async fn full_disk_fails_small_writes_cleanly_and_recovers() {
    full_disk_fails_writes_cleanly_and_recovers(SMALL_BLOB_BYTES).await;
}

async fn full_disk_fails_writes_cleanly_and_recovers(size: usize) {
    let root = tempfile::tempdir().expect("tempdir");
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={FILESYSTEM_MIB}m"), "tmpfs"])
        .arg(root.path())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    }
    let _mount = Mount(root.path().to_path_buf());
    let ballast = root.path().join("ballast");
    std::fs::write(&ballast, vec![0u8; BALLAST_BYTES]).expect("ballast");
    let data = root.path().join("data");
    let server = ServerProcess::start(&data);
    let addr = server.addr;
    let created = send_to(
        addr,
        Method::PUT,
        "/devstoreaccount1/full?restype=container",
        &[],
        b"",
        Auth::SharedKey,
    )
    .await;
    assert_eq!(created.status, 201);

    let mut acknowledged = Vec::new();
    let mut refusal = None;
    for i in 0..(FILESYSTEM_MIB as usize * 2 * LARGE_BLOB_BYTES / size) {
        let path = format!("/devstoreaccount1/full/blob-{i}");
        let reply = send_to(
            addr,
            Method::PUT,
            &path,
            &[("x-ms-blob-type", "BlockBlob")],
            &blob_body(i, size),
            Auth::SharedKey,
        )
        .await;
        if reply.status == 201 {
            acknowledged.push(i);
        } else {
            refusal = Some((reply.status.as_u16(), reply.error_code().to_string()));
            break;
        }
    }
    let (status, code) = refusal.expect("the filesystem never filled up");
    assert!(
        (status == 503 && code == "ServerBusy") || (status == 500 && code == "InternalError"),
        "a full disk answered {status} {code}"
    );
    assert!(!acknowledged.is_empty());
    for &i in &acknowledged {
        let reply = send_to(
            addr,
            Method::GET,
            &format!("/devstoreaccount1/full/blob-{i}"),
            &[],
            b"",
            Auth::SharedKey,
        )
        .await;
        assert_eq!(reply.status, 200, "read of blob-{i} while the disk is full");
        assert!(
            reply.body.as_ref() == blob_body(i, size).as_slice(),
            "blob-{i} content while the disk is full"
        );
    }

    std::fs::remove_file(&ballast).expect("free space");
    let path = "/devstoreaccount1/full/after";
    let reply = send_to(
        addr,
        Method::PUT,
        path,
        &[("x-ms-blob-type", "BlockBlob")],
        b"space again",
        Auth::SharedKey,
    )
    .await;
    assert_eq!(
        reply.status, 201,
        "writes must succeed once space is freed: {:?}",
        reply.body
    );

    // Nothing acknowledged was lost or corrupted, across a restart too.
    server.kill();
    let server = ServerProcess::start(&data);
    let addr = server.addr;
    for &i in &acknowledged {
        let reply = try_send_to(
            addr,
            Method::GET,
            &format!("/devstoreaccount1/full/blob-{i}"),
            &[],
            b"",
            Auth::SharedKey,
        )
        .await
        .expect("request");
        assert!(
            reply.status == 200 && reply.body.as_ref() == blob_body(i, size).as_slice(),
            "blob-{i} after restart"
        );
    }
    let reply = send_to(addr, Method::GET, path, &[], b"", Auth::SharedKey).await;
    assert_eq!(reply.body.as_ref(), b"space again");
    server.kill();
    println!(
        "{} blobs of {size} bytes acknowledged before the disk filled; refused with {status} {code}",
        acknowledged.len()
    );
}
