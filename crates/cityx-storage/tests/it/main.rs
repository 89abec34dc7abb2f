//! The storage facade on every backend it supports here, and the upload spool.

use bytes::Bytes;
use cityx_core::{AssetId, UploadId};
use cityx_storage::spool::Spool;
use cityx_storage::{Storage, StorageKey};
use futures_util::{StreamExt, stream};

/// A whole object, read the way callers do (size, then a streamed range).
async fn whole(s: &Storage, key: &StorageKey) -> cityx_storage::Result<Bytes> {
    let size = s.head(key).await?.size;
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
}

#[tokio::test]
async fn finished_uploads_move_into_storage_without_a_copy() {
    let dir = tempfile::tempdir().expect("dir");
    let spool = Spool::open(dir.path().join("spool")).expect("spool");
    let s = Storage::from_url(&format!("file://{}", dir.path().join("objects").display()))
        .expect("open");
    let id = UploadId::new();
    spool.create(id).await.expect("create");
    let body = stream::iter(vec![Ok::<_, std::io::Error>(Bytes::from_static(b"hello "))]);
    spool
        .append(id, 0, 11, body, &[], |_| {})
        .await
        .expect("append");
    let body = stream::iter(vec![Ok::<_, std::io::Error>(Bytes::from_static(b"world"))]);
    spool
        .append(id, 6, 11, body, &[], |_| {})
        .await
        .expect("append");
    let part = spool.path(id);
    use std::os::unix::fs::MetadataExt;
    let inode = std::fs::metadata(&part).expect("meta").ino();
    let a = AssetId::new();
    s.put_file(&StorageKey::master(a), &part)
        .await
        .expect("move");
    assert!(!part.exists());
    assert_eq!(
        whole(&s, &StorageKey::master(a)).await.expect("get"),
        Bytes::from_static(b"hello world")
    );
    let stored = dir
        .path()
        .join("objects")
        .join(StorageKey::master(a).as_str());
    assert_eq!(
        std::fs::metadata(stored).expect("meta").ino(),
        inode,
        "renamed, not copied"
    );

    // Into a store that is not a local directory, the file is streamed and removed.
    let m = Storage::from_url("memory://").expect("memory");
    let id = UploadId::new();
    spool.create(id).await.expect("create");
    let big = Bytes::from(vec![7u8; 9 * 1024 * 1024]);
    spool
        .append(
            id,
            0,
            big.len() as u64,
            stream::iter(vec![Ok::<_, std::io::Error>(big.clone())]),
            &[],
            |_| {},
        )
        .await
        .expect("append");
    m.put_file(&StorageKey::master(a), &spool.path(id))
        .await
        .expect("upload");
    assert_eq!(whole(&m, &StorageKey::master(a)).await.expect("get"), big);
    assert!(!spool.path(id).exists());
}

#[tokio::test]
async fn appends_are_bounded_resumable_and_observed() {
    let dir = tempfile::tempdir().expect("dir");
    let spool = Spool::open(dir.path()).expect("spool");
    let id = UploadId::new();
    spool.create(id).await.expect("create");
    let mut seen = Vec::new();
    // A body that fails part way keeps what arrived before.
    let body = stream::iter(vec![
        Ok(Bytes::from_static(b"abc")),
        Err("client went away"),
    ]);
    let r = spool
        .append(id, 0, 10, body, &[], |b| seen.extend_from_slice(b))
        .await
        .expect("append");
    assert_eq!(
        (r.offset, r.interrupted, r.overflow),
        (3, Some("client went away"), false)
    );
    // Bytes beyond the recorded offset (an unacknowledged write before a crash) are dropped.
    std::fs::write(spool.path(id), b"abcGARBAGE").expect("simulate");
    let body = stream::iter(vec![Ok::<_, &str>(Bytes::from_static(b"defghijkXYZ"))]);
    let r = spool
        .append(id, 3, 10, body, &[], |b| seen.extend_from_slice(b))
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
    spool.truncate(id, 4).await.expect("truncate");
    assert_eq!(std::fs::read(spool.path(id)).expect("read"), b"abcd");
    spool.remove(id).await.expect("remove");
    spool.remove(id).await.expect("removing twice is fine");
}
