//! Dataverse's string comparison. Every environment is case-insensitive; most are also
//! accent-insensitive (`CI_AI`), some languages use accent-sensitive `CI_AS`. Equality ignores
//! trailing (not leading) spaces, as SQL Server does. Strings are compared by folding both
//! sides to a key and comparing the keys; this approximates SQL Server's collation order.

use serde::Deserialize;
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// The environment's collation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum Collation {
    /// Case- and accent-insensitive (en-US and most languages).
    #[default]
    #[serde(rename = "CI_AI")]
    CiAi,
    /// Case-insensitive, accent-sensitive (fi, sv, ro, hr, sk, …).
    #[serde(rename = "CI_AS")]
    CiAs,
}

/// The comparison key of a string: lower-cased; under `CI_AI` also stripped of accents
/// (NFD, combining marks dropped) with a few Latin letters folded the way `_AI` collations
/// treat them (ß→ss, æ→ae, œ→oe, ø→o, đ→d, ł→l). `trim_trailing` drops trailing spaces
/// (for comparisons; LIKE patterns keep them).
pub(crate) fn fold(text: &str, collation: Collation, trim_trailing: bool) -> String {
    let text = if trim_trailing {
        text.trim_end_matches(' ')
    } else {
        text
    };
    let lower = text.to_lowercase();
    match collation {
        Collation::CiAs => lower.nfc().collect(),
        Collation::CiAi => {
            let mut out = String::with_capacity(lower.len());
            for c in lower.nfd().filter(|c| !is_combining_mark(*c)) {
                match c {
                    'ß' => out.push_str("ss"),
                    'æ' => out.push_str("ae"),
                    'œ' => out.push_str("oe"),
                    'ø' => out.push('o'),
                    'đ' => out.push('d'),
                    'ł' => out.push('l'),
                    _ => out.push(c),
                }
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accents_fold_only_under_ci_ai() {
        assert_eq!(fold("Café ", Collation::CiAi, true), "cafe");
        assert_eq!(fold("Café", Collation::CiAs, true), "café");
        assert_eq!(fold("Straße", Collation::CiAi, true), "strasse");
        assert_eq!(fold(" x ", Collation::CiAi, true), " x");
        // Decomposed and composed forms agree under CI_AS too.
        assert_eq!(
            fold("e\u{301}", Collation::CiAs, true),
            fold("é", Collation::CiAs, true)
        );
    }
}
