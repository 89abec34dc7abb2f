//! Input validation. Each check returns a [`FieldError`] naming the field and a stable code,
//! which the API returns as is and the web UI translates into the reader's language.

use crate::model::{Region, Role};
use serde::Serialize;
use utoipa::ToSchema;

/// One invalid field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// The input field, e.g. `code`.
    pub field: &'static str,
    /// Stable reason: `required`, `too_long`, `bad_format`, `too_short`, `not_allowed`.
    pub code: &'static str,
    /// English explanation.
    pub message: String,
}

impl FieldError {
    pub fn new(field: &'static str, code: &'static str, message: impl Into<String>) -> Self {
        FieldError {
            field,
            code,
            message: message.into(),
        }
    }
}

/// The result of validating an input: the normalised value or every invalid field.
pub type Validated<T> = Result<T, Vec<FieldError>>;

/// Maximum length of names and other short texts, in characters.
pub const MAX_NAME: usize = 100;
/// Minimum password length, in characters.
pub const MIN_PASSWORD: usize = 10;
/// Maximum password length, in bytes (bounds the hashing work).
pub const MAX_PASSWORD: usize = 256;

/// Collects field errors while normalising inputs.
/// The invisible marks that reorder the text around them: the bidirectional embeddings,
/// overrides and isolates (U+202A–U+202E, U+2066–U+2069) and the direction marks (U+200E,
/// U+200F, U+061C). In a title or a file name they make `gpj.exe` read as `exe.jpg`.
pub fn is_direction_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// What no single-line text may hold: control characters and direction marks.
pub fn forbidden_in_text(c: char) -> bool {
    c.is_control() || is_direction_control(c)
}

/// What no text of several lines may hold: as [`forbidden_in_text`], but for line breaks
/// and tabs.
pub fn forbidden_in_long_text(c: char) -> bool {
    forbidden_in_text(c) && !matches!(c, '\n' | '\r' | '\t')
}

/// A name to save a file under, safe whatever it was made from (a title or a file name
/// stored before these rules): no control characters or direction marks, no path
/// separators or characters that file systems refuse, no dots or spaces at either end, at
/// most 200 characters; `item` when nothing is left.
pub fn file_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .filter(|&c| !forbidden_in_text(c))
        .map(|c| match c {
            '/' | '\\' | '"' | ':' | '*' | '?' | '<' | '>' | '|' => '_',
            c => c,
        })
        .take(200)
        .collect();
    // No leading dots (hidden files, `..`) and no trailing ones or spaces (which Windows
    // drops), however they interleave with spaces.
    let cleaned = cleaned.trim_matches(|c: char| c == '.' || c.is_whitespace());
    if cleaned.is_empty() {
        "item".to_owned()
    } else {
        cleaned.to_owned()
    }
}

#[derive(Default)]
pub struct Checker {
    errors: Vec<FieldError>,
}

impl Checker {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, e: FieldError) {
        self.errors.push(e);
    }

    /// A required single-line text: trimmed, non-empty, at most `max` characters, no control
    /// characters.
    pub fn text(&mut self, field: &'static str, value: &str, max: usize) -> String {
        let v = value.trim();
        if v.is_empty() {
            self.push(FieldError::new(
                field,
                "required",
                format!("{field} is required"),
            ));
        } else {
            self.check_len_and_controls(field, v, max);
        }
        v.to_owned()
    }

    /// An optional single-line text: empty is allowed.
    pub fn optional_text(&mut self, field: &'static str, value: &str, max: usize) -> String {
        let v = value.trim();
        if !v.is_empty() {
            self.check_len_and_controls(field, v, max);
        }
        v.to_owned()
    }

    /// An optional text of several lines (a summary, a script, a reason): at most `max`
    /// characters; line breaks and tabs are allowed, other control and direction marks not.
    pub fn long_text(&mut self, field: &'static str, value: &str, max: usize) -> String {
        let v = value.trim();
        if v.chars().count() > max {
            self.too_long(field, max);
        } else if v.chars().any(forbidden_in_long_text) {
            self.bad_characters(field);
        }
        v.to_owned()
    }

    fn check_len_and_controls(&mut self, field: &'static str, v: &str, max: usize) {
        if v.chars().count() > max {
            self.too_long(field, max);
        } else if v.chars().any(forbidden_in_text) {
            self.bad_characters(field);
        }
    }

    fn too_long(&mut self, field: &'static str, max: usize) {
        self.push(FieldError::new(
            field,
            "too_long",
            format!("{field} must be at most {max} characters"),
        ));
    }

    fn bad_characters(&mut self, field: &'static str) {
        self.push(FieldError::new(
            field,
            "bad_format",
            format!("{field} must not contain control or text-direction characters"),
        ));
    }

    /// A station code: 2–32 of `a-z 0-9 -`, starting with a letter or digit.
    pub fn station_code(&mut self, value: &str) -> String {
        let v = value.trim().to_ascii_lowercase();
        let ok = (2..=32).contains(&v.len())
            && v.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !v.starts_with('-');
        if v.is_empty() {
            self.push(FieldError::new("code", "required", "code is required"));
        } else if !ok {
            self.push(FieldError::new(
                "code",
                "bad_format",
                "code must be 2 to 32 lowercase letters, digits or hyphens",
            ));
        }
        v
    }

    /// An email address, lowercased. Deliberately simple: one `@`, a dot in the domain, no
    /// spaces; the address is only an identifier here.
    pub fn email(&mut self, field: &'static str, value: &str, required: bool) -> String {
        let v = value.trim().to_lowercase();
        if v.is_empty() {
            if required {
                self.push(FieldError::new(
                    field,
                    "required",
                    format!("{field} is required"),
                ));
            }
            return v;
        }
        let ok = v.len() <= 254
            && !v.chars().any(|c| c.is_whitespace() || forbidden_in_text(c))
            && match v.split_once('@') {
                Some((local, domain)) => {
                    !local.is_empty()
                        && !domain.contains('@')
                        && domain.contains('.')
                        && !domain.starts_with('.')
                        && !domain.ends_with('.')
                }
                None => false,
            };
        if !ok {
            self.push(FieldError::new(
                field,
                "bad_format",
                format!("{field} is not a valid email address"),
            ));
        }
        v
    }

    /// A phone number: digits, spaces and `+-()`, at most 32 characters; empty allowed.
    pub fn phone(&mut self, field: &'static str, value: &str) -> String {
        let v = value.trim();
        if !v.is_empty()
            && (v.len() > 32 || !v.chars().all(|c| c.is_ascii_digit() || " +-()".contains(c)))
        {
            self.push(FieldError::new(
                field,
                "bad_format",
                format!("{field} may contain only digits, spaces and + - ( )"),
            ));
        }
        v.to_owned()
    }

    pub fn region(&mut self, value: &str) -> Option<Region> {
        match value.trim().parse() {
            Ok(r) => Some(r),
            Err(_) => {
                self.push(FieldError::new(
                    "region",
                    if value.trim().is_empty() { "required" } else { "bad_format" },
                    "region must be one of north, northeast, east, central, south, southwest, northwest",
                ));
                None
            }
        }
    }

    pub fn role(&mut self, value: &str) -> Option<Role> {
        match value.trim().parse() {
            Ok(r) => Some(r),
            Err(_) => {
                self.push(FieldError::new(
                    "role",
                    if value.trim().is_empty() {
                        "required"
                    } else {
                        "bad_format"
                    },
                    "role must be one of hub_admin, hub_editor, station_admin, editor, viewer",
                ));
                None
            }
        }
    }

    /// A new password: at least [`MIN_PASSWORD`] characters, at most [`MAX_PASSWORD`] bytes.
    pub fn password(&mut self, field: &'static str, value: &str) {
        if value.chars().count() < MIN_PASSWORD {
            self.push(FieldError::new(
                field,
                "too_short",
                format!("{field} must be at least {MIN_PASSWORD} characters"),
            ));
        } else if value.len() > MAX_PASSWORD {
            self.push(FieldError::new(
                field,
                "too_long",
                format!("{field} must be at most {MAX_PASSWORD} bytes"),
            ));
        }
    }

    /// Finishes: the value if no field failed.
    pub fn finish<T>(self, value: T) -> Validated<T> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(self.errors)
        }
    }
}

/// The fields of a station, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StationFields {
    pub name: String,
    pub code: String,
    pub city: String,
    pub province: String,
    pub region: Region,
    pub contact_name: String,
    pub contact_phone: String,
    pub contact_email: String,
}

impl StationFields {
    /// The station these fields describe.
    pub fn into_station(
        self,
        id: crate::StationId,
        created_at: time::OffsetDateTime,
        updated_at: time::OffsetDateTime,
    ) -> crate::Station {
        crate::Station {
            id,
            name: self.name,
            code: self.code,
            city: self.city,
            province: self.province,
            region: self.region,
            contact_name: self.contact_name,
            contact_phone: self.contact_phone,
            contact_email: self.contact_email,
            default_visibility: crate::Visibility::Exchange,
            created_at,
            updated_at,
        }
    }
}

/// Raw station input as typed by a person or sent by a script.
#[derive(Clone, Debug, Default)]
pub struct StationInput<'a> {
    pub name: &'a str,
    pub code: &'a str,
    pub city: &'a str,
    pub province: &'a str,
    pub region: &'a str,
    pub contact_name: &'a str,
    pub contact_phone: &'a str,
    pub contact_email: &'a str,
}

impl StationInput<'_> {
    pub fn validate(&self) -> Validated<StationFields> {
        let mut c = Checker::new();
        let name = c.text("name", self.name, MAX_NAME);
        let code = c.station_code(self.code);
        let city = c.text("city", self.city, 50);
        let province = c.text("province", self.province, 50);
        let region = c.region(self.region);
        let contact_name = c.optional_text("contact_name", self.contact_name, MAX_NAME);
        let contact_phone = c.phone("contact_phone", self.contact_phone);
        let contact_email = c.email("contact_email", self.contact_email, false);
        let fields = region.map(|region| StationFields {
            name,
            code,
            city,
            province,
            region,
            contact_name,
            contact_phone,
            contact_email,
        });
        match fields {
            Some(f) => c.finish(f),
            None => Err(c.errors),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn direction_marks_are_refused_and_stripped_from_file_names() {
        let mut c = super::Checker::new();
        c.text("title", "report\u{202E}4pm.exe", 200);
        c.optional_text("city", "杭\u{2067}州", 50);
        c.long_text("summary", "第一行\n第二行\u{200F}", 2000);
        c.long_text("script", "第一行\r\n\t第二行", 2000);
        let errs = c.finish(()).expect_err("refused");
        let fields: Vec<_> = errs.iter().map(|e| (e.field, e.code)).collect();
        assert_eq!(
            fields,
            [
                ("title", "bad_format"),
                ("city", "bad_format"),
                ("summary", "bad_format")
            ]
        );
        assert_eq!(super::file_name("report\u{202E}4pm.exe"), "report4pm.exe");
        assert_eq!(super::file_name("../../etc/pass\u{0}wd"), "_.._etc_passwd");
        assert_eq!(super::file_name("\u{202E}\u{200F}"), "item");
        // Found by the fuzz target text_fields.
        assert_eq!(super::file_name("  . . "), "item");
        assert_eq!(super::file_name(" .x. "), "x");
        assert_eq!(super::file_name("暴雨 现场.mp4"), "暴雨 现场.mp4");
    }

    use super::*;

    fn station() -> StationInput<'static> {
        StationInput {
            name: " 杭州电视台 ",
            code: "HZTV",
            city: "杭州",
            province: "浙江",
            region: "east",
            contact_name: "",
            contact_phone: "+86 571-8888 0000",
            contact_email: "News@HZTV.cn",
        }
    }

    #[test]
    fn station_is_normalised() {
        let f = station().validate().expect("valid");
        assert_eq!(f.name, "杭州电视台");
        assert_eq!(f.code, "hztv");
        assert_eq!(f.contact_email, "news@hztv.cn");
        assert_eq!(f.region, Region::East);
    }

    #[test]
    fn station_errors_name_every_field() {
        let bad = StationInput {
            name: "",
            code: "-x",
            city: &"长".repeat(51),
            province: "浙\u{7}江",
            region: "middle-earth",
            contact_phone: "call me",
            contact_email: "nobody",
            ..station()
        };
        let errs = bad.validate().expect_err("invalid");
        let got: Vec<_> = errs.iter().map(|e| (e.field, e.code)).collect();
        assert_eq!(
            got,
            vec![
                ("name", "required"),
                ("code", "bad_format"),
                ("city", "too_long"),
                ("province", "bad_format"),
                ("region", "bad_format"),
                ("contact_phone", "bad_format"),
                ("contact_email", "bad_format"),
            ]
        );
    }

    #[test]
    fn emails() {
        let mut c = Checker::new();
        assert_eq!(c.email("email", " A@B.CN ", true), "a@b.cn");
        c.email("email", "a@b", true);
        c.email("email", "a b@c.cn", true);
        c.email("email", "@c.cn", true);
        c.email("email", "a@@c.cn", true);
        c.email("email", "", true);
        let codes: Vec<_> = c.errors.iter().map(|e| e.code).collect();
        assert_eq!(
            codes,
            [
                "bad_format",
                "bad_format",
                "bad_format",
                "bad_format",
                "required"
            ]
        );
    }

    #[test]
    fn passwords() {
        let mut c = Checker::new();
        c.password("password", "short");
        c.password("password", "长密码长密码长密码长密码");
        c.password("password", &"x".repeat(257));
        let codes: Vec<_> = c.errors.iter().map(|e| e.code).collect();
        assert_eq!(codes, ["too_short", "too_long"]);
    }
}
