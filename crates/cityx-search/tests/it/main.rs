//! The index on a Chinese news corpus written for these tests (`corpus/news.tsv`, with the
//! queries whose right answers are known in `corpus/queries.tsv`), and the visibility rule.

use cityx_core::{AssetId, StationId, Visibility};
use cityx_search::{Doc, Filters, RelatedTo, Request, SearchIndex, Sort, Viewer};
use std::collections::HashMap;

struct Corpus {
    index: SearchIndex,
    /// Corpus id → asset id.
    ids: HashMap<String, AssetId>,
}

/// The province of each city of the corpus, as its station's record would say.
fn province(city: &str) -> &'static str {
    const PROVINCES: &[(&str, &[&str])] = &[
        ("福建", &["福州", "厦门", "泉州"]),
        ("浙江", &["杭州", "宁波", "温州", "义乌"]),
        ("广东", &["广州", "深圳"]),
        ("江苏", &["南京", "苏州"]),
        ("湖北", &["武汉"]),
        ("湖南", &["长沙"]),
        ("河南", &["郑州", "洛阳"]),
        ("四川", &["成都"]),
        ("陕西", &["西安"]),
        ("黑龙江", &["哈尔滨"]),
        ("云南", &["昆明"]),
        ("江西", &["南昌"]),
        ("海南", &["海口", "文昌"]),
        ("甘肃", &["兰州", "酒泉", "敦煌"]),
        ("安徽", &["合肥"]),
        ("广西", &["桂林"]),
        ("新疆", &["乌鲁木齐"]),
        ("西藏", &["拉萨"]),
        ("青海", &["西宁"]),
    ];
    PROVINCES
        .iter()
        .find(|(_, cities)| cities.contains(&city))
        .map_or("", |(p, _)| p)
}

fn corpus() -> Corpus {
    let index = SearchIndex::in_memory().expect("index");
    let mut ids = HashMap::new();
    let mut by_city: HashMap<String, StationId> = HashMap::new();
    let mut docs = Vec::new();
    for (n, line) in include_str!("corpus/news.tsv").lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(cols.len(), 5, "line {}: {line}", n + 1);
        let (key, city, category, title, summary) = (cols[0], cols[1], cols[2], cols[3], cols[4]);
        let station = *by_city.entry(city.to_owned()).or_default();
        let id = AssetId::new();
        ids.insert(key.to_owned(), id);
        docs.push(Doc {
            id,
            station_id: station,
            station_name: format!("{city}广播电视台"),
            title: title.to_owned(),
            summary: summary.to_owned(),
            city: city.to_owned(),
            province: province(city).to_owned(),
            category: category.to_owned(),
            status: "ready".into(),
            visibility: Visibility::Exchange,
            created: 1_700_000_000_000 + n as i64 * 60_000,
            duration_s: 30.0 + n as f64,
            height: if n % 2 == 0 { 1080 } else { 720 },
            qc: "pass".into(),
            has_poster: true,
            ..Default::default()
        });
    }
    index.upsert(&docs).expect("upsert");
    index.commit("test").expect("commit");
    Corpus { index, ids }
}

fn top(c: &Corpus, q: &str, n: usize) -> Vec<String> {
    let res = c
        .index
        .search(
            &Request {
                q: q.into(),
                limit: n,
                ..Default::default()
            },
            Viewer::Nobody,
            1_800_000_000_000,
        )
        .expect("search");
    let back: HashMap<AssetId, &String> = c.ids.iter().map(|(k, v)| (*v, k)).collect();
    res.hits.iter().map(|h| back[&h.id].clone()).collect()
}

#[test]
fn expected_items_rank_in_the_top_ten() {
    let c = corpus();
    assert!(
        c.index.len() >= 180,
        "the corpus is indexed: {}",
        c.index.len()
    );
    let mut failures = Vec::new();
    for line in include_str!("corpus/queries.tsv").lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (q, expected) = line.split_once('\t').expect("query\tids");
        let got = top(&c, q, 10);
        let expected: Vec<&str> = expected.split_whitespace().collect();
        for e in &expected {
            if !got.iter().any(|g| g == e) {
                failures.push(format!("{q}: {e} not in the top 10 {got:?}"));
            }
        }
        if expected.len() == 1 && !got.iter().take(3).any(|g| g == expected[0]) {
            failures.push(format!("{q}: {} not in the top 3 {got:?}", expected[0]));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn traditional_and_simplified_find_each_other() {
    let c = corpus();
    // A traditional query finds simplified items …
    assert_eq!(
        top(&c, "颱風 杜蘇芮", 3).first().map(String::as_str),
        Some("ty01")
    );
    // … and a simplified query finds traditional items.
    assert_eq!(
        top(&c, "台风苏拉 香港", 3).first().map(String::as_str),
        Some("ty16")
    );
}

#[test]
fn syntax_is_text_and_nonsense_finds_nothing() {
    let c = corpus();
    for q in [
        "title:台风",
        "\"台风",
        "台风 AND (",
        "台风 -登陆",
        "+台风",
        "台风*",
        "台风~2",
    ] {
        let got = top(&c, q, 10);
        assert!(got.iter().any(|g| g.starts_with("ty")), "{q}: {got:?}");
    }
    assert!(top(&c, "量子纠缠隐形传态", 10).iter().all(|g| g != "ty01"));
    assert!(top(&c, "", 10).len() == 10, "no text lists the newest");
    assert!(
        top(&c, "，。！", 10).len() == 10,
        "punctuation alone is no text"
    );
}

#[test]
fn filters_facets_sorting_and_snippets() {
    let c = corpus();
    let now = 1_800_000_000_000;
    let req = Request {
        q: "台风".into(),
        filters: Filters {
            city: Some("福州".into()),
            ..Default::default()
        },
        limit: 10,
        ..Default::default()
    };
    let res = c.index.search(&req, Viewer::Nobody, now).expect("search");
    assert!(res.total >= 1);
    assert!(res.hits.iter().all(|h| h.city == "福州"));
    assert!(
        res.hits[0].title_html.contains("<mark>台风</mark>"),
        "{}",
        res.hits[0].title_html
    );

    let all = c
        .index
        .search(
            &Request {
                q: "马拉松".into(),
                limit: 10,
                ..Default::default()
            },
            Viewer::Nobody,
            now,
        )
        .expect("search");
    let bare = c
        .index
        .search(
            &Request {
                q: "马拉松".into(),
                limit: 10,
                skip_facets: true,
                ..Default::default()
            },
            Viewer::Nobody,
            now,
        )
        .expect("search");
    assert_eq!(
        (bare.total, bare.hits.len()),
        (all.total, all.hits.len()),
        "the same matches without facets"
    );
    assert!(bare.facets.city.is_empty() && bare.facets.station.is_empty());
    assert!(!all.facets.city.is_empty());
    let cities: Vec<&str> = all.facets.city.iter().map(|f| f.value.as_str()).collect();
    assert!(
        cities.contains(&"北京") && cities.contains(&"厦门"),
        "{cities:?}"
    );
    assert_eq!(
        all.facets.city.iter().map(|f| f.count).sum::<u64>(),
        all.total as u64
    );
    assert!(
        all.facets
            .station
            .iter()
            .all(|f| f.label.ends_with("广播电视台"))
    );

    let newest = c
        .index
        .search(
            &Request {
                sort: Sort::Newest,
                limit: 5,
                ..Default::default()
            },
            Viewer::Nobody,
            now,
        )
        .expect("search");
    let times: Vec<i64> = newest.hits.iter().map(|h| h.created).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");

    let hd = c
        .index
        .search(
            &Request {
                filters: Filters {
                    resolution: Some("1080p".into()),
                    min_duration: Some(100.0),
                    ..Default::default()
                },
                limit: 100,
                ..Default::default()
            },
            Viewer::Nobody,
            now,
        )
        .expect("search");
    assert!(hd.total > 0);
    assert!(
        hd.hits
            .iter()
            .all(|h| h.resolution == "1080p" && h.duration_s >= 100.0)
    );
}

#[test]
fn visibility_and_embargo_apply_to_every_search() {
    let index = SearchIndex::in_memory().expect("index");
    let (own, friend, other) = (StationId::new(), StationId::new(), StationId::new());
    let now = 1_800_000_000_000;
    let doc = |title: &str, vis: Visibility| Doc {
        id: AssetId::new(),
        station_id: own,
        station_name: "甲台".into(),
        title: title.into(),
        status: "ready".into(),
        visibility: vis,
        ..Default::default()
    };
    let docs = vec![
        doc("公开台风", Visibility::Exchange),
        doc("私有台风", Visibility::Private),
        Doc {
            shared_with: vec![friend],
            ..doc("共享台风", Visibility::Stations)
        },
        Doc {
            hidden_until: now + 1,
            ..doc("禁发台风", Visibility::Exchange)
        },
        Doc {
            status: "processing".into(),
            ..doc("处理中台风", Visibility::Exchange)
        },
    ];
    index.upsert(&docs).expect("upsert");
    index.commit("t").expect("commit");
    let titles = |viewer: Viewer, at: i64| -> Vec<String> {
        let mut t: Vec<String> = index
            .search(
                &Request {
                    q: "台风".into(),
                    limit: 10,
                    ..Default::default()
                },
                viewer,
                at,
            )
            .expect("search")
            .hits
            .into_iter()
            .map(|h| h.title)
            .collect();
        t.sort();
        t
    };
    assert_eq!(titles(Viewer::Station(other), now), ["公开台风"]);
    // Asked again (answered from memory) a moment before the embargo ends, and at its end:
    // the remembered answer must not outlive it.
    assert_eq!(titles(Viewer::Station(other), now), ["公开台风"]);
    assert_eq!(
        titles(Viewer::Station(friend), now),
        ["公开台风", "共享台风"]
    );
    assert_eq!(
        titles(Viewer::Station(other), now + 1),
        ["公开台风", "禁发台风"]
    );
    assert_eq!(titles(Viewer::Station(own), now).len(), 5);
    assert_eq!(titles(Viewer::All, now).len(), 5);
    let suggestions = index
        .suggest("台", Viewer::Station(other), now, 8)
        .expect("suggest");
    assert_eq!(suggestions, ["公开台风"]);
    assert_eq!(
        titles(Viewer::Station(other), now + 10),
        ["公开台风", "禁发台风"]
    );
    // A commit changes answers already given.
    index.remove(&[docs[0].id]);
    index.commit("t2").expect("commit");
    assert!(titles(Viewer::Station(other), now).is_empty());
    assert_eq!(titles(Viewer::Station(other), now + 10), ["禁发台风"]);
    assert_eq!(index.mark().as_deref(), Some("t2"));
}

#[test]
fn snippets_of_long_texts_with_nested_words() {
    // Words inside words (人工智能 holds 人工 and 智能) across fragment boundaries once made
    // tantivy's snippet slice out of bounds.
    let index = SearchIndex::in_memory().expect("index");
    let summary = "香港科學園新引進多家人工智能及生物科技企業，推動創新科技發展。".repeat(12)
        + "中华人民共和国成立七十五周年，人工智能大模型企业发布新产品。";
    index
        .upsert(&[Doc {
            id: AssetId::new(),
            station_id: StationId::new(),
            title: "人工智能企业发布新产品".into(),
            summary: summary.clone(),
            status: "ready".into(),
            ..Default::default()
        }])
        .expect("upsert");
    index.commit("t").expect("commit");
    for q in [
        "人工智能",
        "人工 智能 科技",
        "中华人民共和国",
        "人民 共和国 成立",
        "創新科技",
    ] {
        let res = index
            .search(
                &Request {
                    q: q.into(),
                    limit: 5,
                    ..Default::default()
                },
                Viewer::All,
                0,
            )
            .expect("search");
        assert_eq!(res.total, 1, "{q}");
        assert!(
            res.hits[0].snippet_html.contains("<mark>"),
            "{q}: {}",
            res.hits[0].snippet_html
        );
    }
}

/// A snippet keeps the punctuation after its last word: "（重复上传）" ends with its bracket,
/// and a long text's passage too; matches are marked and the rest escaped.
#[test]
fn snippets_keep_the_punctuation_after_their_last_word() {
    let index = SearchIndex::in_memory().expect("index");
    let short = "暴雨中的城市救援（重复上传）";
    let long = "无关的开头文字。".repeat(30)
        + "消防员在积水中救援被困群众（现场画面）。"
        + &"无关的结尾文字。".repeat(30);
    for (title, summary) in [("短简介", short.to_owned()), ("长简介", long.clone())] {
        index
            .upsert(&[Doc {
                id: AssetId::new(),
                station_id: StationId::new(),
                title: format!("{title} <b>"),
                summary,
                status: "ready".into(),
                ..Default::default()
            }])
            .expect("upsert");
    }
    index.commit("t").expect("commit");
    let res = index
        .search(
            &Request {
                q: "救援".into(),
                limit: 5,
                ..Default::default()
            },
            Viewer::All,
            0,
        )
        .expect("search");
    assert_eq!(res.total, 2);
    for hit in &res.hits {
        let html = &hit.snippet_html;
        assert!(html.contains("<mark>救援</mark>"), "{html}");
        if hit.title.starts_with("短简介") {
            assert_eq!(html, "暴雨中的城市<mark>救援</mark>（重复上传）");
        } else {
            assert!(html.contains("（现场画面）"), "{html}");
        }
        assert!(
            !hit.title_html.contains("<b>"),
            "escaped: {}",
            hit.title_html
        );
    }
}

#[test]
fn related_items_share_words_and_the_same_file_is_listed_apart() {
    let c = corpus();
    let now = 1_800_000_000_000;
    let back: HashMap<AssetId, &String> = c.ids.iter().map(|(k, v)| (*v, k)).collect();
    let ty01 = c.ids["ty01"];
    let of = RelatedTo {
        id: ty01,
        sha256: String::new(),
        title: "台风“杜苏芮”在福建晋江沿海登陆".into(),
        keywords: vec!["台风".into(), "杜苏芮".into(), "登陆".into()],
    };
    let related = c
        .index
        .related(&of, Viewer::Nobody, now, 6)
        .expect("related");
    let keys: Vec<&str> = related
        .similar
        .iter()
        .map(|h| back[&h.id].as_str())
        .collect();
    assert_eq!(keys.len(), 6, "{keys:?}");
    assert!(!keys.contains(&"ty01"), "never the item itself: {keys:?}");
    assert!(
        keys.iter().take(5).all(|k| k.starts_with("ty")),
        "typhoon news is most related to typhoon news: {keys:?}"
    );
    assert!(related.same_file.is_empty(), "no hash, no duplicates");

    // Three copies of one master: one private to another station, one visible, one the
    // item itself.
    let index = SearchIndex::in_memory().expect("index");
    let (a, b, other) = (StationId::new(), StationId::new(), StationId::new());
    let copy = |station: StationId, title: &str, vis: Visibility, created: i64| Doc {
        id: AssetId::new(),
        station_id: station,
        station_name: "台".into(),
        title: title.into(),
        status: "ready".into(),
        visibility: vis,
        sha256: "ab".repeat(32),
        created,
        ..Default::default()
    };
    let docs = vec![
        copy(a, "暴雨 城区内涝", Visibility::Exchange, 1),
        copy(b, "暴雨 转载", Visibility::Exchange, 2),
        copy(b, "暴雨 私有副本", Visibility::Private, 3),
        Doc {
            sha256: "cd".repeat(32),
            ..copy(b, "暴雨 另一条", Visibility::Exchange, 4)
        },
    ];
    index.upsert(&docs).expect("upsert");
    index.commit("t").expect("commit");
    let of = RelatedTo {
        id: docs[0].id,
        sha256: "ab".repeat(32),
        title: "暴雨 城区内涝".into(),
        keywords: Vec::new(),
    };
    let titles =
        |hits: &[cityx_search::Hit]| hits.iter().map(|h| h.title.clone()).collect::<Vec<_>>();
    let seen_by_other = index
        .related(&of, Viewer::Station(other), now, 6)
        .expect("related");
    assert_eq!(titles(&seen_by_other.same_file), ["暴雨 转载"]);
    assert_eq!(
        titles(&seen_by_other.similar),
        ["暴雨 另一条"],
        "the same file is not repeated as similar"
    );
    let seen_by_b = index
        .related(&of, Viewer::Station(b), now, 6)
        .expect("related");
    assert_eq!(
        titles(&seen_by_b.same_file),
        ["暴雨 转载", "暴雨 私有副本"],
        "its own private copy, oldest first"
    );
}
