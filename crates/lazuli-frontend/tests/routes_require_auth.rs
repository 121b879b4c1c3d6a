//! No route answers without authentication, except anonymous reads of public containers and
//! CORS preflight. Every route the router knows is sent with no credentials, with a garbage
//! signature, with a signature made by the wrong key, and with the right key.

mod common;

use common::{send, start, Auth, TestServer};
use http::Method;
use lazuli_frontend::router::Operation;

const BLOCK_LIST: &[u8] = b"<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList><Latest>QUE=</Latest></BlockList>";
const SERVICE_PROPERTIES: &[u8] =
    b"<?xml version=\"1.0\" encoding=\"utf-8\"?><StorageServiceProperties></StorageServiceProperties>";
const ACL: &[u8] = b"<?xml version=\"1.0\" encoding=\"utf-8\"?><SignedIdentifiers></SignedIdentifiers>";
/// Replaced by the URL of blob `b` on the test server when a route is sent with the key.
const COPY_SOURCE: &str = "http://copy-source/devstoreaccount1/cnt/b";
const BATCH: &[u8] = b"--batch_x\r\nContent-Type: application/http\r\nContent-ID: 0\r\n\r\nDELETE /devstoreaccount1/cnt/b HTTP/1.1\r\nContent-Length: 0\r\n\r\n\r\n--batch_x--\r\n";
const KEY_INFO: &[u8] =
    b"<?xml version=\"1.0\" encoding=\"utf-8\"?><KeyInfo><Expiry>2099-01-01T00:00:00Z</Expiry></KeyInfo>";
const TAGS: &[u8] =
    b"<?xml version=\"1.0\" encoding=\"utf-8\"?><Tags><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet></Tags>";
const PAGE: &[u8] = &[7u8; 512];
const WRONG_KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==";

struct Route {
    operation: Operation,
    method: Method,
    path: &'static str,
    headers: Vec<(&'static str, &'static str)>,
    body: &'static [u8],
}

fn route(
    operation: Operation,
    method: Method,
    path: &'static str,
    headers: &[(&'static str, &'static str)],
    body: &'static [u8],
) -> Route {
    Route {
        operation,
        method,
        path,
        headers: headers.to_vec(),
        body,
    }
}

fn routes() -> Vec<Route> {
    use Operation::*;
    let a = "/devstoreaccount1";
    let _ = a;
    vec![
        route(ListContainers, Method::GET, "/devstoreaccount1?comp=list", &[], b""),
        route(
            GetServiceProperties,
            Method::GET,
            "/devstoreaccount1?restype=service&comp=properties",
            &[],
            b"",
        ),
        route(
            SetServiceProperties,
            Method::PUT,
            "/devstoreaccount1?restype=service&comp=properties",
            &[],
            SERVICE_PROPERTIES,
        ),
        route(
            GetAccountInfo,
            Method::GET,
            "/devstoreaccount1?restype=account&comp=properties",
            &[],
            b"",
        ),
        route(
            Preflight,
            Method::OPTIONS,
            "/devstoreaccount1/cnt/b",
            &[
                ("origin", "http://example.com"),
                ("access-control-request-method", "GET"),
            ],
            b"",
        ),
        route(
            CreateContainer,
            Method::PUT,
            "/devstoreaccount1/cnt2?restype=container",
            &[],
            b"",
        ),
        route(
            DeleteContainer,
            Method::DELETE,
            "/devstoreaccount1/cnt?restype=container",
            &[],
            b"",
        ),
        route(
            GetContainerProperties,
            Method::GET,
            "/devstoreaccount1/cnt?restype=container",
            &[],
            b"",
        ),
        route(
            GetContainerMetadata,
            Method::GET,
            "/devstoreaccount1/cnt?restype=container&comp=metadata",
            &[],
            b"",
        ),
        route(
            SetContainerMetadata,
            Method::PUT,
            "/devstoreaccount1/cnt?restype=container&comp=metadata",
            &[("x-ms-meta-a", "1")],
            b"",
        ),
        route(
            GetContainerAcl,
            Method::GET,
            "/devstoreaccount1/cnt?restype=container&comp=acl",
            &[],
            b"",
        ),
        route(
            SetContainerAcl,
            Method::PUT,
            "/devstoreaccount1/cnt?restype=container&comp=acl",
            &[],
            ACL,
        ),
        route(
            ListBlobs,
            Method::GET,
            "/devstoreaccount1/cnt?restype=container&comp=list",
            &[],
            b"",
        ),
        route(
            PutBlob,
            Method::PUT,
            "/devstoreaccount1/cnt/b2",
            &[("x-ms-blob-type", "BlockBlob")],
            b"data",
        ),
        route(
            PutBlock,
            Method::PUT,
            "/devstoreaccount1/cnt/b3?comp=block&blockid=QUE%3D",
            &[],
            b"data",
        ),
        route(
            PutBlockList,
            Method::PUT,
            "/devstoreaccount1/cnt/b3?comp=blocklist",
            &[],
            BLOCK_LIST,
        ),
        route(
            GetBlockList,
            Method::GET,
            "/devstoreaccount1/cnt/b?comp=blocklist",
            &[],
            b"",
        ),
        route(GetBlob, Method::GET, "/devstoreaccount1/cnt/b", &[], b""),
        route(GetBlobProperties, Method::HEAD, "/devstoreaccount1/cnt/b", &[], b""),
        route(
            SetBlobProperties,
            Method::PUT,
            "/devstoreaccount1/cnt/b?comp=properties",
            &[],
            b"",
        ),
        route(
            GetBlobMetadata,
            Method::GET,
            "/devstoreaccount1/cnt/b?comp=metadata",
            &[],
            b"",
        ),
        route(
            SetBlobMetadata,
            Method::PUT,
            "/devstoreaccount1/cnt/b?comp=metadata",
            &[("x-ms-meta-a", "1")],
            b"",
        ),
        route(DeleteBlob, Method::DELETE, "/devstoreaccount1/cnt/b", &[], b""),
        route(
            SetBlobTier,
            Method::PUT,
            "/devstoreaccount1/cnt/b?comp=tier",
            &[("x-ms-access-tier", "Cool")],
            b"",
        ),
        route(
            CopyBlob,
            Method::PUT,
            "/devstoreaccount1/cnt/copy",
            &[("x-ms-copy-source", COPY_SOURCE)],
            b"",
        ),
        route(
            CopyBlobFromUrl,
            Method::PUT,
            "/devstoreaccount1/cnt/copy",
            &[("x-ms-copy-source", COPY_SOURCE), ("x-ms-requires-sync", "true")],
            b"",
        ),
        route(
            PutBlobFromUrl,
            Method::PUT,
            "/devstoreaccount1/cnt/copy",
            &[("x-ms-copy-source", COPY_SOURCE), ("x-ms-blob-type", "BlockBlob")],
            b"",
        ),
        route(
            PutBlockFromUrl,
            Method::PUT,
            "/devstoreaccount1/cnt/copy?comp=block&blockid=QUE%3D",
            &[("x-ms-copy-source", COPY_SOURCE)],
            b"",
        ),
        route(
            AbortCopyBlob,
            Method::PUT,
            "/devstoreaccount1/cnt/b?comp=copy&copyid=00000000-0000-0000-0000-000000000000",
            &[("x-ms-copy-action", "abort")],
            b"",
        ),
        route(
            BlobBatch,
            Method::POST,
            "/devstoreaccount1?comp=batch",
            &[("content-type", "multipart/mixed; boundary=batch_x")],
            BATCH,
        ),
        route(
            GetUserDelegationKey,
            Method::POST,
            "/devstoreaccount1?restype=service&comp=userdelegationkey",
            &[],
            KEY_INFO,
        ),
        route(GetBlobTags, Method::GET, "/devstoreaccount1/cnt/b?comp=tags", &[], b""),
        route(SetBlobTags, Method::PUT, "/devstoreaccount1/cnt/b?comp=tags", &[], TAGS),
        route(
            FindBlobsByTags,
            Method::GET,
            "/devstoreaccount1?comp=blobs&where=%22k%22%3D%27v%27",
            &[],
            b"",
        ),
        route(
            LeaseBlob,
            Method::PUT,
            "/devstoreaccount1/cnt/b?comp=lease",
            &[("x-ms-lease-action", "acquire"), ("x-ms-lease-duration", "-1")],
            b"",
        ),
        // On `cnt2` (made by the CreateContainer route): a leased `cnt` could not be reset.
        route(
            LeaseContainer,
            Method::PUT,
            "/devstoreaccount1/cnt2?restype=container&comp=lease",
            &[("x-ms-lease-action", "acquire"), ("x-ms-lease-duration", "15")],
            b"",
        ),
        route(
            SnapshotBlob,
            Method::PUT,
            "/devstoreaccount1/cnt/b?comp=snapshot",
            &[],
            b"",
        ),
        route(
            UndeleteBlob,
            Method::PUT,
            "/devstoreaccount1/cnt/b?comp=undelete",
            &[],
            b"",
        ),
        route(
            RestoreContainer,
            Method::PUT,
            "/devstoreaccount1/gone?restype=container&comp=undelete",
            &[
                ("x-ms-deleted-container-name", "gone"),
                ("x-ms-deleted-container-version", "0000000000000001"),
            ],
            b"",
        ),
        route(
            PutAppendBlob,
            Method::PUT,
            "/devstoreaccount1/cnt/ab",
            &[("x-ms-blob-type", "AppendBlob")],
            b"",
        ),
        route(
            AppendBlock,
            Method::PUT,
            "/devstoreaccount1/cnt/ab?comp=appendblock",
            &[],
            b"more",
        ),
        route(
            AppendBlockFromUrl,
            Method::PUT,
            "/devstoreaccount1/cnt/ab?comp=appendblock",
            &[("x-ms-copy-source", COPY_SOURCE)],
            b"",
        ),
        route(
            SealAppendBlob,
            Method::PUT,
            "/devstoreaccount1/cnt/ab?comp=seal",
            &[],
            b"",
        ),
        route(
            PutPageBlob,
            Method::PUT,
            "/devstoreaccount1/cnt/pb",
            &[("x-ms-blob-type", "PageBlob"), ("x-ms-blob-content-length", "1024")],
            b"",
        ),
        route(
            PutPage,
            Method::PUT,
            "/devstoreaccount1/cnt/pb?comp=page",
            &[("x-ms-page-write", "update"), ("x-ms-range", "bytes=0-511")],
            PAGE,
        ),
        route(
            GetPageRanges,
            Method::GET,
            "/devstoreaccount1/cnt/pb?comp=pagelist",
            &[],
            b"",
        ),
        route(
            IncrementalCopyBlob,
            Method::PUT,
            "/devstoreaccount1/cnt/inc?comp=incrementalcopy",
            &[("x-ms-copy-source", COPY_SOURCE)],
            b"",
        ),
        route(
            PutPageFromUrl,
            Method::PUT,
            "/devstoreaccount1/cnt/pb?comp=page",
            &[
                ("x-ms-copy-source", COPY_SOURCE),
                ("x-ms-page-write", "update"),
                ("x-ms-range", "bytes=0-511"),
                ("x-ms-source-range", "bytes=0-511"),
            ],
            b"",
        ),
        // DFS: the test account has no hierarchical namespace, so each is refused (409) once
        // authenticated and authorized; `tests/sdk/test_dfs.py` runs them on an HNS account.
        route(
            DfsListFilesystems,
            Method::GET,
            "/devstoreaccount1?resource=account",
            &[],
            b"",
        ),
        route(
            DfsCreateFilesystem,
            Method::PUT,
            "/devstoreaccount1/fs2?resource=filesystem",
            &[],
            b"",
        ),
        route(
            DfsDeleteFilesystem,
            Method::DELETE,
            "/devstoreaccount1/cnt?resource=filesystem",
            &[],
            b"",
        ),
        route(
            DfsGetFilesystemProperties,
            Method::HEAD,
            "/devstoreaccount1/cnt?resource=filesystem",
            &[],
            b"",
        ),
        route(
            DfsSetFilesystemProperties,
            Method::PATCH,
            "/devstoreaccount1/cnt?resource=filesystem",
            &[("x-ms-properties", "k=dg==")],
            b"",
        ),
        route(
            DfsListPaths,
            Method::GET,
            "/devstoreaccount1/cnt?resource=filesystem&recursive=true",
            &[],
            b"",
        ),
        route(
            DfsCreatePath,
            Method::PUT,
            "/devstoreaccount1/cnt/dir?resource=directory",
            &[],
            b"",
        ),
        route(
            DfsRenamePath,
            Method::PUT,
            "/devstoreaccount1/cnt/b2?mode=legacy",
            &[("x-ms-rename-source", "/cnt/b")],
            b"",
        ),
        route(
            DfsDeletePath,
            Method::DELETE,
            "/devstoreaccount1/cnt/b?recursive=true",
            &[],
            b"",
        ),
        route(
            DfsGetPathProperties,
            Method::HEAD,
            "/devstoreaccount1/cnt/b?action=getStatus",
            &[],
            b"",
        ),
        route(
            DfsSetPathProperties,
            Method::PATCH,
            "/devstoreaccount1/cnt/b?action=setProperties",
            &[("x-ms-properties", "k=dg==")],
            b"",
        ),
        route(
            DfsSetAccessControl,
            Method::PATCH,
            "/devstoreaccount1/cnt/b?action=setAccessControl",
            &[("x-ms-permissions", "rwxr-x---")],
            b"",
        ),
        route(
            DfsSetAccessControlRecursive,
            Method::PATCH,
            "/devstoreaccount1/cnt/b?action=setAccessControlRecursive&mode=set",
            &[("x-ms-acl", "user::rwx")],
            b"",
        ),
        route(
            DfsLeasePath,
            Method::POST,
            "/devstoreaccount1/cnt/b",
            &[("x-ms-lease-action", "acquire"), ("x-ms-lease-duration", "15")],
            b"",
        ),
        route(
            SetBlobExpiry,
            Method::PUT,
            "/devstoreaccount1/cnt/b?comp=expiry",
            &[("x-ms-expiry-option", "RelativeToNow"), ("x-ms-expiry-time", "60000")],
            b"",
        ),
        route(
            DfsAppend,
            Method::PATCH,
            "/devstoreaccount1/cnt/b?action=append&position=0",
            &[],
            b"x",
        ),
        route(
            DfsFlush,
            Method::PATCH,
            "/devstoreaccount1/cnt/b?action=flush&position=0",
            &[],
            b"",
        ),
    ]
}

/// Fresh container `cnt` (private) with blob `b`, through the account key.
async fn setup(server: &TestServer) {
    send(
        server,
        Method::DELETE,
        "/devstoreaccount1/cnt?restype=container",
        &[],
        b"",
        Auth::SharedKey,
    )
    .await;
    let created = send(
        server,
        Method::PUT,
        "/devstoreaccount1/cnt?restype=container",
        &[],
        b"",
        Auth::SharedKey,
    )
    .await;
    assert_eq!(created.status, 201, "setup: create container: {:?}", created.body);
    let put = send(
        server,
        Method::PUT,
        "/devstoreaccount1/cnt/b",
        &[("x-ms-blob-type", "BlockBlob")],
        b"hello",
        Auth::SharedKey,
    )
    .await;
    assert_eq!(put.status, 201, "setup: put blob: {:?}", put.body);
}

/// Append and page operations need a blob of their type (`ab`, `pb`), made with the key.
async fn create_typed_blob(server: &TestServer, operation: Operation) {
    let (path, headers): (&str, &[(&str, &str)]) = match operation {
        Operation::AppendBlock | Operation::AppendBlockFromUrl | Operation::SealAppendBlob => {
            ("/devstoreaccount1/cnt/ab", &[("x-ms-blob-type", "AppendBlob")])
        }
        Operation::PutPage | Operation::PutPageFromUrl | Operation::GetPageRanges => (
            "/devstoreaccount1/cnt/pb",
            &[("x-ms-blob-type", "PageBlob"), ("x-ms-blob-content-length", "1024")],
        ),
        _ => return,
    };
    let created = send(server, Method::PUT, path, headers, b"", Auth::SharedKey).await;
    assert_eq!(created.status, 201, "setup: {:?}", created.body);
    if operation == Operation::PutPageFromUrl {
        // Its source range is one page: the source blob `b` must hold it.
        let source = send(
            server,
            Method::PUT,
            "/devstoreaccount1/cnt/b",
            &[("x-ms-blob-type", "BlockBlob")],
            PAGE,
            Auth::SharedKey,
        )
        .await;
        assert_eq!(source.status, 201, "setup: {:?}", source.body);
    }
}

#[tokio::test]
async fn every_route_is_covered_by_this_test() {
    let covered: Vec<Operation> = routes().iter().map(|r| r.operation).collect();
    for operation in Operation::IMPLEMENTED {
        assert!(covered.contains(&operation), "{operation:?} has no route in this test");
    }
}

#[tokio::test]
async fn no_route_answers_without_valid_credentials() {
    let server = start().await;
    setup(&server).await;
    for route in routes() {
        let headers: Vec<(&str, &str)> = route.headers.clone();
        let anonymous = send(
            &server,
            route.method.clone(),
            route.path,
            &headers,
            route.body,
            Auth::None,
        )
        .await;
        if route.operation == Operation::Preflight {
            // Preflight is unauthenticated by design; with no CORS rules it must still refuse.
            assert_eq!(
                (anonymous.status.as_u16(), anonymous.error_code()),
                (403, "CorsPreflightFailure")
            );
            continue;
        }
        assert_eq!(
            (anonymous.status.as_u16(), anonymous.error_code()),
            (404, "ResourceNotFound"),
            "anonymous {:?} must not be served",
            route.operation
        );
        for auth in [Auth::BadSignature, Auth::WrongKey(WRONG_KEY)] {
            let reply = send(&server, route.method.clone(), route.path, &headers, route.body, auth).await;
            assert_eq!(
                (reply.status.as_u16(), reply.error_code()),
                (403, "AuthenticationFailed"),
                "{auth:?} {:?} must be refused",
                route.operation
            );
        }
    }
}

#[tokio::test]
async fn every_route_is_served_with_the_account_key() {
    let server = start().await;
    for route in routes() {
        if route.operation == Operation::Preflight {
            continue;
        }
        setup(&server).await;
        if route.operation == Operation::PutBlockList {
            let block = send(
                &server,
                Method::PUT,
                "/devstoreaccount1/cnt/b3?comp=block&blockid=QUE%3D",
                &[],
                b"abc",
                common::Auth::SharedKey,
            )
            .await;
            assert_eq!(block.status, 201);
        }
        create_typed_blob(&server, route.operation).await;
        let source = format!("http://{}/devstoreaccount1/cnt/b", server.addr);
        let headers: Vec<(&str, &str)> = route
            .headers
            .iter()
            .map(|&(name, value)| (name, if value == COPY_SOURCE { source.as_str() } else { value }))
            .collect();
        let reply = send(
            &server,
            route.method.clone(),
            route.path,
            &headers,
            route.body,
            Auth::SharedKey,
        )
        .await;
        match route.operation {
            Operation::Unsupported(_) => {
                assert_eq!((reply.status.as_u16(), reply.error_code()), (501, "NotImplemented"))
            }
            // Bearer tokens only: the account key is refused.
            Operation::GetUserDelegationKey => assert_eq!(
                (reply.status.as_u16(), reply.error_code()),
                (403, "AuthenticationFailed")
            ),
            // Served (authenticated and authorized), but there is no copy to abort.
            Operation::AbortCopyBlob => assert_eq!(
                (reply.status.as_u16(), reply.error_code()),
                (409, "NoPendingCopyOperation")
            ),
            // Served, but the source (blob `b`) is not a snapshot.
            Operation::IncrementalCopyBlob => assert_eq!(
                (reply.status.as_u16(), reply.error_code()),
                (409, "IncrementalCopySourceMustBeSnapshot")
            ),
            // Served, but no container was soft-deleted.
            Operation::RestoreContainer => {
                assert_eq!((reply.status.as_u16(), reply.error_code()), (404, "ContainerNotFound"))
            }
            // DFS needs a hierarchical namespace, which the test account does not have.
            operation if operation.is_dfs() || operation == Operation::SetBlobExpiry => assert_eq!(
                (reply.status.as_u16(), reply.error_code()),
                (409, "HierarchicalNamespaceNotEnabled"),
                "{operation:?}"
            ),
            operation => assert!(
                reply.status.is_success(),
                "{operation:?} answered {} {:?}",
                reply.status,
                reply.body
            ),
        }
    }
}

#[tokio::test]
async fn public_containers_allow_anonymous_reads_only() {
    let server = start().await;
    setup(&server).await;
    let acl = send(
        &server,
        Method::PUT,
        "/devstoreaccount1/cnt?restype=container&comp=acl",
        &[("x-ms-blob-public-access", "blob")],
        ACL,
        Auth::SharedKey,
    )
    .await;
    assert_eq!(acl.status, 200);
    let read = send(&server, Method::GET, "/devstoreaccount1/cnt/b", &[], b"", Auth::None).await;
    assert_eq!((read.status.as_u16(), read.body.as_ref()), (200, b"hello".as_ref()));
    let list = send(
        &server,
        Method::GET,
        "/devstoreaccount1/cnt?restype=container&comp=list",
        &[],
        b"",
        Auth::None,
    )
    .await;
    assert_eq!(list.status, 404, "blob-level access does not allow listing");
    let acl = send(
        &server,
        Method::PUT,
        "/devstoreaccount1/cnt?restype=container&comp=acl",
        &[("x-ms-blob-public-access", "container")],
        ACL,
        Auth::SharedKey,
    )
    .await;
    assert_eq!(acl.status, 200);
    let list = send(
        &server,
        Method::GET,
        "/devstoreaccount1/cnt?restype=container&comp=list",
        &[],
        b"",
        Auth::None,
    )
    .await;
    assert_eq!(list.status, 200);
    for (method, path, headers) in [
        (
            Method::PUT,
            "/devstoreaccount1/cnt/x",
            vec![("x-ms-blob-type", "BlockBlob")],
        ),
        (Method::DELETE, "/devstoreaccount1/cnt/b", vec![]),
        (Method::PUT, "/devstoreaccount1/cnt/b?comp=metadata", vec![]),
        (Method::GET, "/devstoreaccount1/cnt?restype=container&comp=acl", vec![]),
    ] {
        let reply = send(&server, method.clone(), path, &headers, b"", Auth::None).await;
        assert_eq!(
            reply.status, 404,
            "anonymous {method} {path} on a public container must be refused"
        );
    }
}

/// The SAS permission letters that satisfy an operation, and its resource type letter
/// (account SAS `srt`), or None when SAS permissions do not apply.
fn needs(operation: Operation) -> Option<(&'static str, char)> {
    use Operation::*;
    Some(match operation {
        ListContainers => ("l", 's'),
        GetServiceProperties => ("r", 's'),
        SetServiceProperties => ("w", 's'),
        GetAccountInfo | Preflight => return None,
        CreateContainer => ("cw", 'c'),
        DeleteContainer => ("d", 'c'),
        GetContainerProperties | GetContainerMetadata | GetContainerAcl => ("r", 'c'),
        SetContainerMetadata | SetContainerAcl => ("w", 'c'),
        ListBlobs => ("l", 'c'),
        GetBlob | GetBlobProperties | GetBlobMetadata | GetBlockList => ("r", 'o'),
        DeleteBlob => ("d", 'o'),
        GetPageRanges => ("r", 'o'),
        AppendBlock | AppendBlockFromUrl => ("aw", 'o'),
        GetBlobTags | SetBlobTags => ("t", 'o'),
        FindBlobsByTags => ("f", 'c'),
        SnapshotBlob => ("cw", 'o'),
        LeaseContainer | RestoreContainer => ("w", 'c'),
        // Each sub-request is authorized on its own; the key needs a bearer token.
        BlobBatch | GetUserDelegationKey => return None,
        DfsListFilesystems => ("l", 's'),
        DfsCreateFilesystem => ("cw", 'c'),
        DfsDeleteFilesystem => ("d", 'c'),
        DfsGetFilesystemProperties => ("r", 'c'),
        DfsSetFilesystemProperties => ("w", 'c'),
        DfsListPaths => ("l", 'c'),
        DfsCreatePath => ("cw", 'o'),
        // Move: an account SAS has no `m`; it needs `w` and `d`.
        DfsRenamePath => ("wd", 'o'),
        DfsDeletePath => ("d", 'o'),
        DfsGetPathProperties => ("r", 'o'),
        _ => ("w", 'o'),
    })
}

fn with_query(path: &str, sas: &str) -> String {
    if path.contains('?') {
        format!("{path}&{sas}")
    } else {
        format!("{path}?{sas}")
    }
}

/// Every route, with each kind of bad SAS: each answered with the exact status and code;
/// and a valid SAS is served.
#[tokio::test]
async fn sas_matrix() {
    use common::client::{account_sas, service_sas, SasSpec};
    let server = start().await;
    let all_permissions = "rwdxylacuptfi";
    for route in routes() {
        let Some((satisfying, resource_type)) = needs(route.operation) else {
            continue;
        };
        // A copy source of this server, readable with a SAS of its own.
        let source = format!(
            "http://{}/devstoreaccount1/cnt/b?{}",
            server.addr,
            account_sas(&SasSpec {
                permissions: "r",
                resource_types: "o",
                ..Default::default()
            })
        );
        let headers: Vec<(&str, &str)> = route
            .headers
            .iter()
            .map(|&(name, value)| (name, if value == COPY_SOURCE { source.as_str() } else { value }))
            .collect();
        let without: String = all_permissions.chars().filter(|c| !satisfying.contains(*c)).collect();
        let other_types: String = "sco".chars().filter(|c| *c != resource_type).collect();
        let mut cases: Vec<(&str, String, (u16, &str))> = vec![
            (
                "expired",
                account_sas(&SasSpec {
                    expiry: "2001-01-01T00:00:00Z",
                    ..Default::default()
                }),
                (403, "AuthenticationFailed"),
            ),
            (
                "not yet valid",
                account_sas(&SasSpec {
                    start: Some("2098-01-01T00:00:00Z"),
                    ..Default::default()
                }),
                (403, "AuthenticationFailed"),
            ),
            (
                "missing permission",
                account_sas(&SasSpec {
                    permissions: &without,
                    ..Default::default()
                }),
                (403, "AuthorizationPermissionMismatch"),
            ),
            (
                "missing resource type",
                account_sas(&SasSpec {
                    resource_types: &other_types,
                    ..Default::default()
                }),
                (403, "AuthorizationResourceTypeMismatch"),
            ),
            (
                "disallowed IP",
                account_sas(&SasSpec {
                    ip: Some("10.1.1.1"),
                    ..Default::default()
                }),
                (403, "AuthorizationSourceIPMismatch"),
            ),
            (
                "HTTPS only",
                account_sas(&SasSpec {
                    protocol: "https",
                    ..Default::default()
                }),
                (403, "AuthorizationProtocolMismatch"),
            ),
            (
                "wrong key",
                account_sas(&SasSpec {
                    key: WRONG_KEY,
                    ..Default::default()
                }),
                (403, "AuthenticationFailed"),
            ),
        ];
        if resource_type != 's' {
            let spec = SasSpec {
                permissions: all_permissions,
                ..Default::default()
            };
            cases.push((
                "SAS for another container",
                service_sas(&spec, "other", None),
                (403, "AuthenticationFailed"),
            ));
            if resource_type == 'o' {
                cases.push((
                    "SAS for another blob",
                    service_sas(&spec, "cnt", Some("someone-else")),
                    (403, "AuthenticationFailed"),
                ));
            }
        }
        for (case, sas, expected) in cases {
            setup(&server).await;
            let path = with_query(route.path, &sas);
            let reply = send(&server, route.method.clone(), &path, &headers, route.body, Auth::None).await;
            assert_eq!(
                (reply.status.as_u16(), reply.error_code()),
                expected,
                "{case}: {:?}",
                route.operation
            );
        }
        setup(&server).await;
        if route.operation == Operation::PutBlockList {
            let block = send(
                &server,
                Method::PUT,
                "/devstoreaccount1/cnt/b3?comp=block&blockid=QUE%3D",
                &[],
                b"abc",
                Auth::SharedKey,
            )
            .await;
            assert_eq!(block.status, 201);
        }
        create_typed_blob(&server, route.operation).await;
        let valid = account_sas(&SasSpec {
            permissions: satisfying,
            resource_types: &resource_type.to_string(),
            ..Default::default()
        });
        let reply = send(
            &server,
            route.method.clone(),
            &with_query(route.path, &valid),
            &headers,
            route.body,
            Auth::None,
        )
        .await;
        match route.operation {
            Operation::Unsupported(_) => assert_eq!(reply.status, 501),
            // Authorized, but there is no copy to abort.
            Operation::AbortCopyBlob => assert_eq!(reply.error_code(), "NoPendingCopyOperation"),
            Operation::RestoreContainer => assert_eq!(reply.error_code(), "ContainerNotFound"),
            Operation::IncrementalCopyBlob => {
                assert_eq!(reply.error_code(), "IncrementalCopySourceMustBeSnapshot")
            }
            // Authorized, but the test account has no hierarchical namespace.
            operation if operation.is_dfs() || operation == Operation::SetBlobExpiry => assert_eq!(
                (reply.status.as_u16(), reply.error_code()),
                (409, "HierarchicalNamespaceNotEnabled"),
                "valid SAS {operation:?}"
            ),
            operation => assert!(
                reply.status.is_success(),
                "valid SAS {operation:?}: {} {:?}",
                reply.status,
                reply.body
            ),
        }
    }
}
