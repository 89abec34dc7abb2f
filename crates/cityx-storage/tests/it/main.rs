//! The storage facade on every backend it supports here, and the upload spool.

use bytes::Bytes;
use cityx_core::{AssetId, UploadId};
use cityx_storage::spool::{PART, Spool, SpoolState};
use cityx_storage::{Storage, StorageKey, StoreOptions};
use futures_util::{StreamExt, stream};

/// A whole object, read the way callers do (size, then a streamed range).
async fn whole(s: &Storage, key: &StorageKey) -> cityx_storage::Result<Bytes> {
    let size = s.head(key).await?.size;
    if size == 0 {
        return Ok(Bytes::new());
    }
    let chunks: Vec<Bytes> = s
        .read(key, 0..size)
        .await?
        .map(|c| c.expect("chunk"))
        .collect()
        .await;
    Ok(Bytes::from(chunks.concat()))
}

async fn facade_round_trip(s: Storage) {
    let a = AssetId::new();
    let key = StorageKey::derived(a, "hls/720p/index.m3u8").expect("key");
    assert!(whole(&s, &key).await.expect_err("missing").is_not_found());
    s.put(&key, Bytes::from_static(b"#EXTM3U\n0123456789"))
        .await
        .expect("put");
    assert_eq!(
        whole(&s, &key).await.expect("get"),
        Bytes::from_static(b"#EXTM3U\n0123456789")
    );
    let range: Vec<Bytes> = s
        .read(&key, 8..12)
        .await
        .expect("range")
        .map(|c| c.expect("chunk"))
        .collect()
        .await;
    assert_eq!(range.concat(), b"0123");
    assert_eq!(s.head(&key).await.expect("head").size, 18);
    // Streamed reads, whole or ranged, across the local reader's chunk size.
    let big: Vec<u8> = (0..700_000u32).map(|i| (i % 251) as u8).collect();
    let seg = StorageKey::derived(a, "hls/720p/seg_00000.ts").expect("key");
    s.put(&seg, Bytes::from(big.clone())).await.expect("put");
    for range in [0..700_000u64, 5..6, 262_140..524_300, 699_999..700_000] {
        let chunks: Vec<Bytes> = s
            .read(&seg, range.clone())
            .await
            .expect("read")
            .map(|c| c.expect("chunk"))
            .collect()
            .await;
        let got: Vec<u8> = chunks.concat();
        let (lo, hi) = (range.start as usize, range.end as usize);
        assert_eq!(got.len(), hi - lo, "{range:?}");
        assert!(got == big[lo..hi], "{range:?}");
    }
    // Small objects come whole, with the validator of `head`; larger ones are left to
    // streaming.
    let (info, bytes) = s
        .read_small(&seg, 700_000)
        .await
        .expect("read")
        .expect("small enough");
    assert!(bytes == big, "the whole object");
    assert_eq!(info, s.head(&seg).await.expect("head"));
    assert!(s.read_small(&seg, 699_999).await.expect("read").is_none());
    let missing = StorageKey::derived(a, "hls/none.ts").expect("key");
    assert!(
        s.read_small(&missing, 10)
            .await
            .expect_err("missing")
            .is_not_found()
    );
    assert!(
        s.read(&missing, 0..1)
            .await
            .err()
            .expect("missing")
            .is_not_found()
    );
    s.put(&StorageKey::master(a), Bytes::from_static(b"master"))
        .await
        .expect("put");
    assert_eq!(
        s.delete_prefix(&StorageKey::asset_prefix(a))
            .await
            .expect("delete"),
        3
    );
    assert!(s.head(&key).await.expect_err("gone").is_not_found());
    s.delete(&key)
        .await
        .expect("deleting a missing object is fine");
}

#[tokio::test]
async fn local_files() {
    let dir = tempfile::tempdir().expect("dir");
    facade_round_trip(
        Storage::from_url(&format!("file://{}", dir.path().display())).expect("open"),
    )
    .await;
    let assets: Vec<_> = std::fs::read_dir(dir.path().join("assets"))
        .map(|d| d.collect())
        .unwrap_or_default();
    assert!(
        assets.is_empty(),
        "deleting leaves no empty directories: {assets:?}"
    );
}

#[tokio::test]
async fn memory() {
    facade_round_trip(Storage::from_url("memory://").expect("open")).await;
}

#[tokio::test]
async fn unsupported_urls_are_refused() {
    assert!(Storage::from_url("ftp://x").is_err());
    for bad in [
        "s3://",
        "s3:///prefix",
        "s3://b/../x",
        "s3://b/a//c",
        "s3://b/中文",
    ] {
        assert!(
            matches!(
                Storage::from_url(bad),
                Err(cityx_storage::Error::Invalid(_))
            ),
            "{bad}"
        );
    }
    let odd = StoreOptions {
        url: "s3://bucket".into(),
        endpoint: "ftp://127.0.0.1:1".into(),
        ..Default::default()
    };
    assert!(Storage::open(&odd).is_err());
    let secret = StoreOptions {
        secret_access_key: "very-secret".into(),
        ..Default::default()
    };
    assert!(!format!("{secret:?}").contains("very-secret"));
}

#[tokio::test]
async fn presigned_urls_need_s3_with_static_credentials() {
    let key = StorageKey::master(AssetId::new());
    let dir = tempfile::tempdir().expect("dir");
    let local = Storage::from_url(&format!("file://{}", dir.path().display())).expect("open");
    let minute = std::time::Duration::from_secs(60);
    let presigned = |store: &Storage| store.presigned_get(&key, minute, &Default::default());
    assert!(presigned(&local).is_none());
    let keyed = StoreOptions {
        url: "s3://media/prod".into(),
        endpoint: "http://127.0.0.1:9".into(),
        region: "cn-east-1".into(),
        access_key_id: "key".into(),
        secret_access_key: "secret".into(),
        presign_downloads: true,
        ..Default::default()
    };
    let url = presigned(&Storage::open(&keyed).expect("open")).expect("a presigned URL");
    assert!(
        url.starts_with(&format!("http://127.0.0.1:9/media/prod/{key}?")),
        "{url}"
    );
    assert!(url.contains("X-Amz-Credential=key%2F"), "{url}");
    // Without the setting there is none.
    let off = StoreOptions {
        presign_downloads: false,
        ..keyed.clone()
    };
    assert!(presigned(&Storage::open(&off).expect("open")).is_none());
    // Clients may reach the store at another address.
    let public = StoreOptions {
        public_endpoint: "https://media.example.cn".into(),
        ..keyed.clone()
    };
    let url = presigned(&Storage::open(&public).expect("open")).expect("a presigned URL");
    assert!(
        url.starts_with("https://media.example.cn/media/prod/"),
        "{url}"
    );
    let bad = StoreOptions {
        public_endpoint: "media.example.cn".into(),
        ..keyed.clone()
    };
    let err = Storage::open(&bad).expect_err("no scheme");
    assert!(err.to_string().contains("storage.public_endpoint"), "{err}");
    // Without static credentials (unless the environment has them) it is refused.
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
        let anonymous = StoreOptions {
            access_key_id: String::new(),
            secret_access_key: String::new(),
            ..keyed
        };
        let err = Storage::open(&anonymous).expect_err("no credentials");
        assert!(err.to_string().contains("static credentials"), "{err}");
    }
}

/// The S3 store the test scripts start, under a prefix of its own; `None` (with a notice)
/// when none runs.
fn s3(test: &str) -> Option<Storage> {
    let Some(options) = cityx_storage::testing::s3_store() else {
        eprintln!("skipped: {test} on S3 (set CITYX_TEST_S3_URL, as .ci/run does, to run it)");
        return None;
    };
    Some(Storage::open(&options).expect("open the S3 store"))
}

#[tokio::test]
async fn s3_objects() {
    if let Some(s) = s3("s3_objects") {
        s.ping().await.expect("the store answers");
        facade_round_trip(s).await;
    }
}

fn body(
    parts: Vec<Result<Bytes, &'static str>>,
) -> impl futures_util::Stream<Item = Result<Bytes, &'static str>> + Unpin {
    stream::iter(parts)
}

#[tokio::test]
async fn finished_uploads_move_into_storage_without_a_copy() {
    let dir = tempfile::tempdir().expect("dir");
    let s = Storage::from_url(&format!("file://{}", dir.path().join("objects").display()))
        .expect("open");
    let spool = Spool::open(dir.path().join("spool"), s.clone()).expect("spool");
    assert!(!spool.is_remote());
    let id = UploadId::new();
    let a = AssetId::new();
    let master = StorageKey::master(a);
    let state = spool.create(id, &master).await.expect("create");
    assert_eq!(state.encode(), None, "a file needs no saved state");
    for (at, piece) in [(0, &b"hello "[..]), (6, b"world")] {
        spool
            .append(
                id,
                &master,
                &state,
                at,
                11,
                body(vec![Ok(Bytes::from_static(piece))]),
                &[],
                |_| {},
            )
            .await
            .expect("append");
    }
    assert!(spool.holds(id).await);
    let part = spool.path(id);
    use std::os::unix::fs::MetadataExt;
    let inode = std::fs::metadata(&part).expect("meta").ino();
    spool.finish(id, &master, &state, 11).await.expect("finish");
    assert!(!part.exists());
    assert_eq!(
        whole(&s, &master).await.expect("get"),
        Bytes::from_static(b"hello world")
    );
    let stored = dir.path().join("objects").join(master.as_str());
    assert_eq!(
        std::fs::metadata(stored).expect("meta").ino(),
        inode,
        "renamed, not copied"
    );
    // Finishing again (a crash after the move) finds the object whole.
    spool.finish(id, &master, &state, 11).await.expect("again");
    assert!(
        spool.finish(id, &master, &state, 12).await.is_err(),
        "not whole"
    );

    // Into a store that is not a local directory, a file is streamed and removed.
    let m = Storage::from_url("memory://").expect("memory");
    let file = dir.path().join("big");
    let big = Bytes::from(vec![7u8; 9 * 1024 * 1024]);
    std::fs::write(&file, &big).expect("write");
    m.put_file(&master, &file).await.expect("upload");
    assert_eq!(whole(&m, &master).await.expect("get"), big);
    assert!(!file.exists());
}

#[tokio::test]
async fn appends_are_bounded_resumable_and_observed() {
    let dir = tempfile::tempdir().expect("dir");
    let s = Storage::from_url(&format!("file://{}", dir.path().join("objects").display()))
        .expect("open");
    let spool = Spool::open(dir.path().join("spool"), s).expect("spool");
    let id = UploadId::new();
    let master = StorageKey::master(AssetId::new());
    let state = spool.create(id, &master).await.expect("create");
    let mut seen = Vec::new();
    // A body that fails part way keeps what arrived before.
    let r = spool
        .append(
            id,
            &master,
            &state,
            0,
            10,
            body(vec![
                Ok(Bytes::from_static(b"abc")),
                Err("client went away"),
            ]),
            &[],
            |b| seen.extend_from_slice(b),
        )
        .await
        .expect("append");
    assert_eq!(
        (r.offset, r.interrupted, r.overflow),
        (3, Some("client went away"), false)
    );
    // Bytes beyond the recorded offset (an unacknowledged write before a crash) are dropped.
    std::fs::write(spool.path(id), b"abcGARBAGE").expect("simulate");
    let r = spool
        .append(
            id,
            &master,
            &state,
            3,
            10,
            body(vec![Ok(Bytes::from_static(b"defghijkXYZ"))]),
            &[],
            |b| seen.extend_from_slice(b),
        )
        .await
        .expect("append");
    assert_eq!(
        (r.offset, r.overflow),
        (10, true),
        "never past the upload's length"
    );
    assert_eq!(std::fs::read(spool.path(id)).expect("read"), b"abcdefghij");
    assert_eq!(seen, b"abcdefghij");
    let mut replayed = Vec::new();
    spool
        .replay(id, 6, |b| replayed.extend_from_slice(b))
        .await
        .expect("replay");
    assert_eq!(replayed, b"abcdef");
    spool.rewind(id, 4, 10).await.expect("rewind");
    assert_eq!(std::fs::read(spool.path(id)).expect("read"), b"abcd");
    spool.remove(id, &master, &state).await.expect("remove");
    spool
        .remove(id, &master, &state)
        .await
        .expect("removing twice is fine");
}

/// One upload into a remote store, through two nodes in turn (each its own spool, sharing
/// only the store and the saved state, as nodes share a database): pieces that do not line
/// up with parts, one rejected, one broken off; then finished into the master.
async fn remote_upload_through_two_nodes(nodes: [Spool; 2], store: Storage) {
    const MIB: usize = 1024 * 1024;
    assert!(nodes.iter().all(Spool::is_remote));
    let len = 2 * PART + 3 * MIB + 5;
    let data: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
    let data = Bytes::from(data);
    let id = UploadId::new();
    let master = StorageKey::master(AssetId::new());
    let mut saved = nodes[0].create(id, &master).await.expect("create").encode();
    assert!(saved.is_some(), "a multipart upload is saved");
    let mut offset = 0u64;
    let mut hashed = Vec::new();
    // (piece length, keep it, break off after it)
    let pieces = [
        (5 * MIB, true, false),
        (6 * MIB, true, false),
        (2 * MIB, false, false),
        (4 * MIB, true, true),
        (len, true, false),
    ];
    for (turn, (size, keep, break_off)) in pieces.into_iter().enumerate() {
        let node = &nodes[turn % 2];
        let state = SpoolState::decode(saved.as_deref()).expect("decode");
        let from = offset as usize;
        let to = (from + size).min(len);
        let mut chunks: Vec<Result<Bytes, &str>> = data
            .slice(from..to)
            .chunks(300_000)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        if break_off {
            chunks.push(Err("client went away"));
        }
        let mut seen = 0;
        let r = node
            .append(
                id,
                &master,
                &state,
                offset,
                len as u64,
                body(chunks),
                &[],
                |b| seen += b.len(),
            )
            .await
            .expect("append");
        assert_eq!(r.offset, to as u64);
        assert_eq!(seen, to - from);
        if keep {
            saved = r.state.encode();
            node.recorded(id, offset, r.offset).await.expect("recorded");
            hashed.extend_from_slice(&data[from..to]);
            offset = r.offset;
        } else {
            // A chunk that failed its checksum: nothing of it is recorded.
            node.rewind(id, offset, r.offset).await.expect("rewind");
        }
    }
    assert_eq!(offset, len as u64);
    assert!(hashed == data, "every byte observed once, in order");
    let state = SpoolState::decode(saved.as_deref()).expect("decode");
    nodes[1]
        .finish(id, &master, &state, len as u64)
        .await
        .expect("finish");
    assert!(whole(&store, &master).await.expect("master") == data);
    assert_eq!(
        store
            .delete_prefix(&StorageKey::upload_prefix(id))
            .await
            .expect("list"),
        0
    );
    // Finishing again (a crash before the database heard of it) finds the master whole.
    nodes[0]
        .finish(id, &master, &state, len as u64)
        .await
        .expect("again");

    // An upload given up leaves nothing behind.
    let id = UploadId::new();
    let master = StorageKey::master(AssetId::new());
    let state = nodes[0].create(id, &master).await.expect("create");
    let r = nodes[0]
        .append(
            id,
            &master,
            &state,
            0,
            100,
            body(vec![Ok(data.slice(0..40))]),
            &[],
            |_| {},
        )
        .await
        .expect("append");
    assert_eq!(r.offset, 40);
    nodes[1]
        .remove(id, &master, &r.state)
        .await
        .expect("remove");
    nodes[1].remove(id, &master, &r.state).await.expect("twice");
    assert!(
        store
            .head(&master)
            .await
            .expect_err("no master")
            .is_not_found()
    );
    assert_eq!(
        store
            .delete_prefix(&StorageKey::upload_prefix(id))
            .await
            .expect("list"),
        0,
        "no tail is left"
    );
}

#[tokio::test]
async fn remote_uploads_resume_on_another_node_in_memory() {
    let store = Storage::from_url("memory://").expect("memory");
    let dir = tempfile::tempdir().expect("dir");
    let node = || Spool::open(dir.path().join("unused"), store.clone()).expect("spool");
    remote_upload_through_two_nodes([node(), node()], store.clone()).await;
    assert!(
        !dir.path().join("unused").exists(),
        "a remote spool keeps no files"
    );
}

#[tokio::test]
async fn remote_uploads_resume_on_another_node_on_s3() {
    let Some(store) = s3("remote_uploads_resume_on_another_node_on_s3") else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let node = || Spool::open(dir.path(), store.clone()).expect("spool");
    remote_upload_through_two_nodes([node(), node()], store.clone()).await;
}

#[test]
fn saved_spool_states_are_checked() {
    assert_eq!(
        SpoolState::decode(None).expect("none"),
        SpoolState::default()
    );
    for bad in ["", "s3mp", "s3mp\n", "other\nid"] {
        assert!(SpoolState::decode(Some(bad)).is_err(), "{bad:?}");
    }
    let s = SpoolState::decode(Some("s3mp\nid-1\np1\np2")).expect("decode");
    assert_eq!(s.encode().as_deref(), Some("s3mp\nid-1\np1\np2"));
}

/// Bytes that differ by seed, of any length.
fn pattern(n: usize, seed: u8) -> Bytes {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect::<Vec<u8>>()
        .into()
}

async fn migrate(
    from: &Storage,
    to: &Storage,
    journal: &std::path::Path,
    recheck: bool,
) -> cityx_storage::migrate::Report {
    let mut calls = 0;
    let report = cityx_storage::migrate::migrate(
        from,
        to,
        journal,
        &cityx_storage::migrate::Options {
            destination: "the test's destination".into(),
            recheck,
        },
        |_| calls += 1,
    )
    .await
    .expect("migrate");
    assert_eq!(calls, report.copied + report.present + report.gone);
    report
}

/// Every item's objects move, verified; a second run copies only what is new or missing,
/// trusting the journal unless told to recheck; unfinished uploads stay.
async fn migration_between(from: Storage, to: Storage) {
    let dir = tempfile::tempdir().expect("dir");
    let journal = dir.path().join("migrate.journal");
    let (a, b) = (AssetId::new(), AssetId::new());
    let big = pattern(PART + 1_234_567, 7);
    let objects = [
        (StorageKey::master(a), big.clone()),
        (StorageKey::master(b), pattern(100_000, 1)),
        (
            StorageKey::derived(b, "hls/360p/seg_00000.ts").expect("key"),
            pattern(4096, 2),
        ),
        (
            StorageKey::derived(b, "hls/360p/index.m3u8").expect("key"),
            Bytes::from_static(b"#EXTM3U\nseg_00000.ts\n"),
        ),
        (
            StorageKey::derived(b, "thumbs/empty.jpg").expect("key"),
            Bytes::new(),
        ),
    ];
    for (key, bytes) in &objects {
        from.put(key, bytes.clone()).await.expect("put");
    }
    let tail = StorageKey::upload_tail(UploadId::new(), 5);
    from.put(&tail, pattern(5, 9)).await.expect("put");

    let r = migrate(&from, &to, &journal, false).await;
    assert_eq!((r.copied, r.present, r.gone), (5, 0, 0), "{r:?}");
    assert!(r.failed.is_empty(), "{r:?}");
    assert_eq!(
        r.copied_bytes,
        objects.iter().map(|(_, b)| b.len() as u64).sum::<u64>()
    );
    assert_eq!(r.upload_objects, 1);
    for (key, bytes) in &objects {
        assert!(whole(&to, key).await.expect("copied") == *bytes, "{key}");
    }
    assert!(to.head(&tail).await.expect_err("not moved").is_not_found());

    let r = migrate(&from, &to, &journal, false).await;
    assert_eq!((r.copied, r.present), (0, 5), "{r:?}");

    // The destination loses one object and has another changed behind the journal's back;
    // the source gains one. A line cut short by a crash ends the journal.
    let (lost, changed) = (&objects[2].0, &objects[1].0);
    to.delete(lost).await.expect("delete");
    to.put(changed, pattern(100_000, 99)).await.expect("put");
    let new = StorageKey::derived(a, "poster.jpg").expect("key");
    from.put(&new, pattern(777, 3)).await.expect("put");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&journal)
        .expect("journal");
    std::io::Write::write_all(&mut f, b"0123abc 12").expect("write");
    drop(f);
    let r = migrate(&from, &to, &journal, false).await;
    assert_eq!((r.copied, r.present), (2, 4), "{r:?}");
    assert!(whole(&to, lost).await.expect("copied again") == objects[2].1);
    assert!(whole(&to, &new).await.expect("copied") == pattern(777, 3));
    // Only a recheck finds what changed behind the journal.
    assert!(whole(&to, changed).await.expect("there") != objects[1].1);
    let r = migrate(&from, &to, &journal, true).await;
    assert_eq!((r.copied, r.present), (1, 5), "{r:?}");
    assert!(whole(&to, changed).await.expect("copied again") == objects[1].1);

    // A journal belongs to one destination.
    let err = cityx_storage::migrate::migrate(
        &from,
        &to,
        &journal,
        &cityx_storage::migrate::Options {
            destination: "somewhere else".into(),
            recheck: false,
        },
        |_| {},
    )
    .await
    .expect_err("another destination's journal");
    assert!(err.to_string().contains("the test's destination"), "{err}");
}

#[tokio::test]
async fn objects_migrate_from_a_directory_to_memory() {
    let dir = tempfile::tempdir().expect("dir");
    let from = Storage::from_url(&format!("file://{}", dir.path().join("objects").display()))
        .expect("local");
    migration_between(from, Storage::from_url("memory://").expect("memory")).await;
}

#[tokio::test]
async fn objects_migrate_from_a_directory_to_s3_and_back() {
    let (Some(s3_to), Some(s3_from)) = (
        s3("objects_migrate_from_a_directory_to_s3_and_back"),
        s3("objects_migrate_from_a_directory_to_s3_and_back"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let local = |name: &str| {
        Storage::from_url(&format!("file://{}", dir.path().join(name).display())).expect("local")
    };
    migration_between(local("a"), s3_to).await;
    migration_between(s3_from, local("b")).await;
}
