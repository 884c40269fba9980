//! Normalizers: opt-in rewrites of a value applied to both sides before comparison (beyond BC,
//! which compares values as stored).
//!
//! A criterion's normalizers run in the order configured; the result is then compared under the
//! criterion's usual rule (case-insensitive unless case-sensitive, or Dataverse's collation). A
//! text value that is blank after normalization sets no condition, as a blank value does in BC —
//! otherwise every phone written `n/a` would match every other one under `digits`.

use std::borrow::Cow;

use regex::Regex;
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

use crate::value::{fold_accents, lower};

/// One rewrite of a value.
///
/// ```
/// use coupler_engine::normalize::{normalize, LegalForms, Normalizer};
///
/// assert_eq!(Normalizer::Digits.apply("+1 (425) 555-0101"), "14255550101");
/// assert_eq!(Normalizer::Email.apply(" Info+crm@Contoso.COM"), "info@contoso.com");
/// assert_eq!(Normalizer::StripAccents.apply("Müller"), "Muller");
/// // A pipeline runs in order: legal forms off, then accents, then case.
/// let names = [
///     Normalizer::LegalForm(LegalForms::default_forms()),
///     Normalizer::StripAccents,
///     Normalizer::Lower,
/// ];
/// assert_eq!(normalize(&names, "Müller Logistik GmbH & Co. KG"), "muller logistik");
/// // Regular expressions, with groups.
/// let the = Normalizer::replace(r"^(?i)the\s+(.*)$", "$1")?;
/// assert_eq!(the.apply("The Contoso Group"), "Contoso Group");
/// assert_eq!(the.describe(), r"replace(^(?i)the\s+(.*)$ → $1)");
/// # Ok::<(), regex::Error>(())
/// ```
#[derive(Debug, Clone)]
pub enum Normalizer {
    /// Leading and trailing white space removed.
    Trim,
    /// Every run of white space becomes one space (leading/trailing runs too).
    CollapseWhitespace,
    /// Accents removed: `Müller` → `Muller`, `Łódź` → `Lodz`, `Ærø` → `AEro`, `ß` → `ss`.
    StripAccents,
    /// Unicode lower-case mapping.
    Lower,
    /// Only the digits 0–9 kept (phone numbers: `+1 (425) 555-0101` → `14255550101`).
    Digits,
    /// An e-mail address in canonical form: trimmed, `mailto:` removed, lower-case, a `+tag`
    /// in the local part removed (`Info+crm@Contoso.COM` → `info@contoso.com`).
    Email,
    /// Every character that is neither a letter, a digit nor white space removed.
    RemovePunctuation,
    /// Legal-form suffixes removed from the end of a name (`Contoso Ltd.` → `Contoso`,
    /// `Becker Logistik G.m.b.H.` → `Becker Logistik`), repeatedly (`Smith & Co. KG`).
    LegalForm(LegalForms),
    /// Every match of a regular expression replaced (`$1` refers to groups).
    Replace { pattern: Regex, replacement: String },
}

impl PartialEq for Normalizer {
    fn eq(&self, other: &Self) -> bool {
        self.describe() == other.describe()
    }
}

impl Normalizer {
    /// A regex replacement; fails with the regex crate's explanation.
    pub fn replace(pattern: &str, replacement: &str) -> Result<Self, regex::Error> {
        Ok(Normalizer::Replace {
            pattern: Regex::new(pattern)?,
            replacement: replacement.to_string(),
        })
    }

    /// The name used in configuration files (and for telling pipelines apart).
    pub fn describe(&self) -> String {
        match self {
            Normalizer::Trim => "trim".into(),
            Normalizer::CollapseWhitespace => "collapse_whitespace".into(),
            Normalizer::StripAccents => "strip_accents".into(),
            Normalizer::Lower => "lower".into(),
            Normalizer::Digits => "digits".into(),
            Normalizer::Email => "email".into(),
            Normalizer::RemovePunctuation => "remove_punctuation".into(),
            Normalizer::LegalForm(forms) => format!("legal_form({})", forms.source.join("|")),
            Normalizer::Replace {
                pattern,
                replacement,
            } => format!("replace({} → {replacement})", pattern.as_str()),
        }
    }

    /// Applies this rewrite, borrowing when nothing changes.
    pub fn apply<'s>(&self, s: &'s str) -> Cow<'s, str> {
        match self {
            Normalizer::Trim => Cow::Borrowed(s.trim()),
            Normalizer::CollapseWhitespace => collapse_whitespace(s),
            Normalizer::StripAccents => strip_accents(s),
            Normalizer::Lower => lower(s),
            Normalizer::Digits => keep(s, |c| c.is_ascii_digit()),
            Normalizer::Email => email(s),
            Normalizer::RemovePunctuation => keep(s, |c| c.is_alphanumeric() || c.is_whitespace()),
            Normalizer::LegalForm(forms) => forms.strip(s),
            Normalizer::Replace {
                pattern,
                replacement,
            } => pattern.replace_all(s, replacement.as_str()),
        }
    }
}

/// Applies a pipeline of normalizers in order.
pub fn normalize<'s>(normalizers: &[Normalizer], s: &'s str) -> Cow<'s, str> {
    let mut value = Cow::Borrowed(s);
    for n in normalizers {
        value = match value {
            Cow::Borrowed(b) => n.apply(b),
            Cow::Owned(o) => Cow::Owned(n.apply(&o).into_owned()),
        };
    }
    value
}

fn keep(s: &str, wanted: impl Fn(char) -> bool) -> Cow<'_, str> {
    if s.chars().all(&wanted) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(s.chars().filter(|&c| wanted(c)).collect())
    }
}

fn collapse_whitespace(s: &str) -> Cow<'_, str> {
    let clean = !s.starts_with(char::is_whitespace)
        && !s.ends_with(char::is_whitespace)
        && !s
            .as_bytes()
            .windows(2)
            .any(|w| w[0].is_ascii_whitespace() && w[1].is_ascii_whitespace())
        && s.chars().all(|c| c == ' ' || !c.is_whitespace());
    if clean {
        return Cow::Borrowed(s);
    }
    Cow::Owned(s.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// Latin letters BC users meet folded by table (`ø`, `ł`, `æ`, `ß` do not decompose), then
/// any remaining combining marks dropped after canonical decomposition.
fn strip_accents(s: &str) -> Cow<'_, str> {
    if s.is_ascii() {
        return Cow::Borrowed(s);
    }
    let folded = fold_accents(s);
    if folded.is_ascii() {
        return folded;
    }
    Cow::Owned(folded.nfd().filter(|&c| !is_combining_mark(c)).collect())
}

fn email(s: &str) -> Cow<'_, str> {
    let mut address = s.trim();
    if address.len() >= 7 && address[..7].eq_ignore_ascii_case("mailto:") {
        address = &address[7..];
    }
    let address = lower(address).into_owned();
    match address.split_once('@') {
        Some((local, domain)) => match local.split_once('+') {
            Some((base, _tag)) => Cow::Owned(format!("{base}@{domain}")),
            None => Cow::Owned(address),
        },
        None => Cow::Owned(address),
    }
}

/// A list of legal forms, each compared token by token with case, dots and commas ignored
/// (`G.m.b.H.` = `GmbH`, `Sp. z o.o.` = `sp z oo`).
#[derive(Debug, Clone, PartialEq)]
pub struct LegalForms {
    /// The forms as configured.
    source: Vec<String>,
    /// Each form as a token sequence, longest first.
    forms: Vec<Vec<String>>,
}

/// The legal forms removed by default: the usual ones of the countries BC is sold in most.
pub const DEFAULT_LEGAL_FORMS: &[&str] = &[
    "Inc",
    "Incorporated",
    "Corp",
    "Corporation",
    "Co",
    "Company",
    "LLC",
    "LLP",
    "LP",
    "L.P.",
    "Ltd",
    "Limited",
    "PLC",
    "Pty Ltd",
    "Pty",
    "GmbH",
    "GmbH & Co. KG",
    "& Co. KG",
    "& Co",
    "AG",
    "KG",
    "KGaA",
    "OHG",
    "GbR",
    "UG",
    "e.K.",
    "e.V.",
    "SE",
    "SA",
    "S.A.",
    "SAS",
    "SARL",
    "SRL",
    "S.r.l.",
    "S.p.A.",
    "SpA",
    "S.L.",
    "SL",
    "BV",
    "B.V.",
    "NV",
    "N.V.",
    "AB",
    "Oy",
    "Oyj",
    "AS",
    "ASA",
    "A/S",
    "ApS",
    "Sp. z o.o.",
    "S.A.S.",
    "Ltda",
    "K.K.",
];

impl LegalForms {
    /// The forms in `forms` (as written by users: `GmbH`, `Sp. z o.o.`).
    pub fn new<S: AsRef<str>>(forms: &[S]) -> Self {
        let source: Vec<String> = forms.iter().map(|f| f.as_ref().to_string()).collect();
        let mut tokens: Vec<Vec<String>> = source
            .iter()
            .map(|f| tokenize(f))
            .filter(|t| !t.is_empty())
            .collect();
        tokens.sort_by_key(|t| std::cmp::Reverse(t.len()));
        tokens.dedup();
        LegalForms {
            source,
            forms: tokens,
        }
    }

    /// The default list, [`DEFAULT_LEGAL_FORMS`].
    pub fn default_forms() -> Self {
        Self::new(DEFAULT_LEGAL_FORMS)
    }

    /// Removes legal forms from the end of `s` while one matches, never the first word.
    fn strip<'s>(&self, s: &'s str) -> Cow<'s, str> {
        // Words with their byte spans, so that what stays is the original text.
        let words: Vec<(usize, usize)> = word_spans(s);
        let mut keep = words.len();
        'outer: while keep > 1 {
            for form in &self.forms {
                let n = form.len();
                if n >= keep {
                    continue;
                }
                let tail = &words[keep - n..keep];
                let matches = tail
                    .iter()
                    .zip(form)
                    .all(|(&(a, b), f)| same_token(&s[a..b], f));
                if matches {
                    keep -= n;
                    continue 'outer;
                }
            }
            break;
        }
        if keep == words.len() {
            return Cow::Borrowed(s);
        }
        let end = words[keep - 1].1;
        Cow::Owned(s[..end].trim_end_matches([',', ' ', '-']).to_string())
    }
}

/// Byte spans of the white-space separated words of `s`; a word of only punctuation that
/// joins (`&`, `-`) is a word too.
fn word_spans(s: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start = None;
    for (i, c) in s.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(st)) => {
                spans.push((st, i));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(st) = start {
        spans.push((st, s.len()));
    }
    // "Contoso, Inc." → the comma belongs to the name, not to the form.
    spans
}

/// Whether `word` is the token `token` (as [`token`] would make it), without allocating.
fn same_token(word: &str, token: &str) -> bool {
    let mut expected = token.chars();
    for c in word.chars().filter(|&c| c != '.' && c != ',') {
        for l in c.to_lowercase() {
            if expected.next() != Some(l) {
                return false;
            }
        }
    }
    expected.next().is_none()
}

fn token(word: &str) -> String {
    word.chars()
        .filter(|&c| c != '.' && c != ',')
        .flat_map(char::to_lowercase)
        .collect()
}

fn tokenize(form: &str) -> Vec<String> {
    form.split_whitespace()
        .map(token)
        .filter(|t| !t.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(normalizers: &[Normalizer], s: &str) -> String {
        normalize(normalizers, s).into_owned()
    }

    #[test]
    fn trim_and_collapse() {
        assert_eq!(n(&[Normalizer::Trim], "  Adatum \t"), "Adatum");
        assert_eq!(n(&[Normalizer::Trim], "Adatum"), "Adatum");
        let c = [Normalizer::CollapseWhitespace];
        assert_eq!(n(&c, " Smith  &\tJones "), "Smith & Jones");
        assert_eq!(n(&c, "Smith & Jones"), "Smith & Jones");
        assert_eq!(n(&c, "Smith\u{a0}Jones"), "Smith Jones");
        assert!(matches!(normalize(&c, "a b"), Cow::Borrowed(_)));
    }

    #[test]
    fn accents_and_case() {
        let a = [Normalizer::StripAccents];
        assert_eq!(n(&a, "Müller Straße"), "Muller Strasse");
        assert_eq!(n(&a, "Łódź Ærø Øst"), "Lodz AEro Ost");
        // Combining marks (decomposed input) and letters outside Latin-1/Extended-A.
        assert_eq!(n(&a, "Cafe\u{301} Ṡ"), "Cafe S");
        assert_eq!(n(&[Normalizer::Lower], "ÄDATUM Inc"), "ädatum inc");
        assert_eq!(
            n(&[Normalizer::StripAccents, Normalizer::Lower], "ÄDATUM"),
            "adatum"
        );
    }

    #[test]
    fn digits_email_punctuation() {
        assert_eq!(n(&[Normalizer::Digits], "+1 (425) 555-0101"), "14255550101");
        assert_eq!(n(&[Normalizer::Digits], "n/a"), "");
        let e = [Normalizer::Email];
        assert_eq!(n(&e, " Info+crm@Contoso.COM "), "info@contoso.com");
        assert_eq!(n(&e, "mailto:Sales@Fabrikam.com"), "sales@fabrikam.com");
        assert_eq!(n(&e, "not an address"), "not an address");
        assert_eq!(
            n(&[Normalizer::RemovePunctuation], "Smith, Jones & Co."),
            "Smith Jones  Co"
        );
        assert_eq!(
            n(
                &[
                    Normalizer::RemovePunctuation,
                    Normalizer::CollapseWhitespace
                ],
                "Smith, Jones & Co."
            ),
            "Smith Jones Co"
        );
    }

    #[test]
    fn legal_forms_are_removed_from_the_end_only() {
        let l = [Normalizer::LegalForm(LegalForms::default_forms())];
        assert_eq!(n(&l, "Contoso Ltd."), "Contoso");
        assert_eq!(n(&l, "Contoso Limited"), "Contoso");
        assert_eq!(n(&l, "Litware, Inc."), "Litware");
        assert_eq!(n(&l, "Becker Logistik G.m.b.H."), "Becker Logistik");
        assert_eq!(n(&l, "Becker Logistik GmbH & Co. KG"), "Becker Logistik");
        assert_eq!(n(&l, "Kowalski Spedycja Sp. z o.o."), "Kowalski Spedycja");
        assert_eq!(n(&l, "Smith, Jones & Co."), "Smith, Jones");
        // Not at the end, or the whole name: kept.
        assert_eq!(n(&l, "AG Insurance Brokers"), "AG Insurance Brokers");
        assert_eq!(n(&l, "Limited"), "Limited");
        assert_eq!(n(&l, "Co Inc"), "Co");
        let custom = [Normalizer::LegalForm(LegalForms::new(&["Holding"]))];
        assert_eq!(n(&custom, "Contoso Holding"), "Contoso");
        assert_eq!(n(&custom, "Contoso Ltd"), "Contoso Ltd");
    }

    #[test]
    fn regex_replace_and_pipelines() {
        let r = Normalizer::replace(r"^(?i)the\s+", "").unwrap();
        assert_eq!(
            n(std::slice::from_ref(&r), "The Phone Company"),
            "Phone Company"
        );
        let groups = Normalizer::replace(r"(\d{3})-(\d{4})", "$1$2").unwrap();
        assert_eq!(n(&[groups], "555-0101"), "5550101");
        assert!(Normalizer::replace("(", "").is_err());
        let pipeline = [
            Normalizer::LegalForm(LegalForms::default_forms()),
            Normalizer::RemovePunctuation,
            Normalizer::CollapseWhitespace,
            Normalizer::StripAccents,
            Normalizer::Lower,
        ];
        assert_eq!(
            n(&pipeline, "Müller & Söhne  G.m.b.H."),
            n(&pipeline, "MULLER & SOHNE")
        );
        assert_eq!(r.describe(), "replace(^(?i)the\\s+ → )");
    }
}
