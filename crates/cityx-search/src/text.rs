//! Chinese text for the index: folding (traditional to simplified, full-width to half-width,
//! lower case), word segmentation with jieba, and keyword suggestions (TF-IDF and TextRank).

use jieba_rs::{Jieba, KeywordExtract, TextRank, TfIdf};
use std::sync::OnceLock;
use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

fn jieba() -> &'static Jieba {
    static JIEBA: OnceLock<Jieba> = OnceLock::new();
    JIEBA.get_or_init(Jieba::new)
}

/// Words that carry no meaning for search on their own.
const STOP: &[&str] = &[
    "的", "了", "在", "是", "和", "与", "及", "等", "也", "都", "就", "而", "之", "这", "那", "把",
    "被", "对", "从", "向", "于", "为", "以", "将", "并", "或", "其", "a", "an", "the", "of",
    "and", "or", "to", "in",
];

/// Folds one character: full-width ASCII to half-width, ASCII to lower case.
fn fold_char(c: char) -> char {
    let c = match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    };
    c.to_ascii_lowercase()
}

/// The text as the index compares it: simplified characters, half-width, lower case. One
/// character in, one character out.
pub fn fold(text: &str) -> String {
    let narrowed: String = text.chars().map(fold_char).collect();
    fast2s::convert(&narrowed)
}

/// How text is cut into words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Every word and the shorter words inside long ones (中华人民共和国 also gives 人民, 共和国):
    /// for indexing.
    Index,
    /// The most likely words only: for queries.
    Query,
}

/// A word of `text`, folded, with its byte range in the original text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    pub from: usize,
    pub to: usize,
}

/// Cuts `text` into folded words, dropping punctuation, spaces and stop words.
pub fn words(text: &str, mode: Mode) -> Vec<Word> {
    let folded = fold(text);
    // Byte offset in the original of every character boundary of the folded text. Folding
    // maps characters one to one; should a conversion ever change the count, offsets fall
    // back to the folded text's, clamped, so that highlighting cannot split a character.
    let original: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(text.len()))
        .collect();
    let folded_starts: Vec<usize> = folded
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(folded.len()))
        .collect();
    let aligned = original.len() == folded_starts.len();
    let to_original = |byte: usize| -> usize {
        if aligned {
            match folded_starts.binary_search(&byte) {
                Ok(i) => original[i],
                Err(_) => text.len(),
            }
        } else if text.is_char_boundary(byte.min(text.len())) {
            byte.min(text.len())
        } else {
            text.len()
        }
    };
    let tokens = match mode {
        Mode::Index => jieba().cut_for_search(&folded, true),
        Mode::Query => jieba().cut(&folded, true),
    };
    tokens
        .into_iter()
        .filter(|t| t.word.chars().any(char::is_alphanumeric))
        .filter(|t| !STOP.contains(&t.word))
        .map(|t| Word {
            text: t.word.to_owned(),
            from: to_original(t.byte_start),
            to: to_original(t.byte_end),
        })
        .collect()
}

/// Suggested keywords for an item: TF-IDF over the title and summary (weighted by
/// repetition of the title) merged with TextRank over the script, most relevant first.
pub fn suggest_keywords(title: &str, summary: &str, script: &str, max: usize) -> Vec<String> {
    static TFIDF: OnceLock<TfIdf> = OnceLock::new();
    static TEXTRANK: OnceLock<TextRank> = OnceLock::new();
    let tfidf = TFIDF.get_or_init(TfIdf::default);
    let textrank = TEXTRANK.get_or_init(TextRank::default);
    let nouns_and_verbs: Vec<String> = ["ns", "n", "nr", "nt", "nz", "vn", "v", "eng"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    let head = fold(&format!("{title}。{title}。{summary}"));
    let mut out: Vec<String> = Vec::new();
    let mut push = |k: String| {
        if !out.contains(&k) && out.len() < max && k.chars().count() >= 2 {
            out.push(k);
        }
    };
    for k in tfidf.extract_keywords(jieba(), &head, max, nouns_and_verbs.clone()) {
        push(k.keyword);
    }
    if !script.trim().is_empty() {
        for k in textrank.extract_keywords(jieba(), &fold(script), max, nouns_and_verbs) {
            push(k.keyword);
        }
    }
    out
}

/// The tokenizer registered with the index: [`words`] in one mode.
#[derive(Clone)]
pub struct ChineseTokenizer(pub Mode);

pub struct WordStream {
    tokens: Vec<Token>,
    next: usize,
}

impl Tokenizer for ChineseTokenizer {
    type TokenStream<'a> = WordStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> WordStream {
        let tokens = words(text, self.0)
            .into_iter()
            .enumerate()
            .map(|(position, w)| Token {
                offset_from: w.from,
                offset_to: w.to,
                position,
                text: w.text,
                position_length: 1,
            })
            .collect();
        WordStream { tokens, next: 0 }
    }
}

impl TokenStream for WordStream {
    fn advance(&mut self) -> bool {
        self.next += 1;
        self.next <= self.tokens.len()
    }

    fn token(&self) -> &Token {
        &self.tokens[self
            .next
            .saturating_sub(1)
            .min(self.tokens.len().saturating_sub(1))]
    }

    fn token_mut(&mut self) -> &mut Token {
        let i = self
            .next
            .saturating_sub(1)
            .min(self.tokens.len().saturating_sub(1));
        &mut self.tokens[i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(text: &str, mode: Mode) -> Vec<String> {
        words(text, mode).into_iter().map(|w| w.text).collect()
    }

    #[test]
    fn traditional_and_simplified_fold_together() {
        assert_eq!(fold("杭州亞運會開幕"), "杭州亚运会开幕");
        assert_eq!(fold("ＣＣＴＶ　新聞"), "cctv 新闻");
        assert_eq!(
            texts("杭州亞運會開幕", Mode::Query),
            texts("杭州亚运会开幕", Mode::Query)
        );
    }

    #[test]
    fn index_mode_keeps_the_words_inside_long_words() {
        let w = texts("中华人民共和国成立", Mode::Index);
        for part in ["中华人民共和国", "人民", "共和国", "成立"] {
            assert!(w.iter().any(|x| x == part), "{part} in {w:?}");
        }
        assert!(!w.iter().any(|x| x == "，"), "punctuation dropped");
    }

    #[test]
    fn offsets_point_into_the_original_text() {
        let text = "臺風「杜蘇芮」登陸福建";
        for w in words(text, Mode::Index) {
            let original = &text[w.from..w.to];
            assert_eq!(fold(original), w.text, "{original}");
        }
    }

    #[test]
    fn keywords_come_from_the_text() {
        let k = suggest_keywords(
            "杭州暴雨致城区内涝 消防紧急转移被困群众",
            "受强降雨影响，杭州多个城区出现严重内涝，消防救援人员连夜转移被困群众。",
            "",
            5,
        );
        assert!(k.iter().any(|x| x == "内涝" || x == "暴雨"), "{k:?}");
        assert!(k.len() <= 5);
    }
}
