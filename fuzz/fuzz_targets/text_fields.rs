//! Every text field's checks and the download names built from titles: never a panic, no
//! accepted value holds a control character or direction mark, and no file name holds one
//! or a path separator.
#![no_main]

use cityx_core::validate::{Checker, file_name, forbidden_in_long_text, forbidden_in_text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let mut c = Checker::new();
    let one_line = c.text("title", text, 200);
    let long = c.long_text("summary", text, 2000);
    let email = c.email("email", text, false);
    let errors = c.finish(()).err().map(|e| e.len()).unwrap_or(0);
    if errors == 0 {
        assert!(!one_line.chars().any(forbidden_in_text));
        assert!(!long.chars().any(forbidden_in_long_text));
        assert!(!email.chars().any(forbidden_in_text));
    }
    let name = file_name(text);
    assert!(!name.is_empty() && !name.starts_with('.'));
    assert!(
        !name
            .chars()
            .any(|c| forbidden_in_text(c) || matches!(c, '/' | '\\'))
    );
});
