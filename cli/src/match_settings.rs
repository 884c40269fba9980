//! The keys of a match field beyond BC — `normalize`, `compare`, `threshold`, `tie_margin`,
//! `blocking`, `blocking_size`, `options` — checked and turned into the engine's settings.
//! Shared by `[[mappings.fields]]` and `[[variants.fields]]`.

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Result};
use coupler_engine::normalize::{LegalForms, Normalizer};
use coupler_engine::{Blocking, Comparator, Fuzzy, Metric, OptionMap};

/// The names `normalize = [...]` accepts, besides `{ regex, replace }` and `{ legal_form }`.
const NORMALIZER_NAMES: &str = "trim, collapse_whitespace, strip_accents, lower, digits, email, remove_punctuation, legal_form, { regex = \"…\", replace = \"…\" }, { legal_form = [\"…\"] }";

/// The beyond-BC keys of one field table, as read.
#[derive(Debug, Default)]
pub struct MatchSettings<'a> {
    pub normalize: &'a [toml::Value],
    pub compare: Option<&'a str>,
    pub threshold: Option<f64>,
    pub tie_margin: Option<f64>,
    pub blocking: Option<&'a str>,
    pub blocking_size: Option<usize>,
    pub options: Option<&'a BTreeMap<String, i64>>,
}

/// What the engine needs of them.
pub struct Resolved {
    pub normalizers: Vec<Normalizer>,
    pub comparator: Comparator,
    pub options: OptionMap,
}

impl MatchSettings<'_> {
    /// Checks the keys and builds the engine's settings. `is_match` tells whether the field is
    /// a match criterion (the keys mean nothing otherwise, and are refused).
    pub fn resolve(&self, is_match: bool, is_option: bool) -> Result<Resolved> {
        let fuzzy_keys = [
            ("threshold", self.threshold.is_some()),
            ("tie_margin", self.tie_margin.is_some()),
            ("blocking", self.blocking.is_some()),
            ("blocking_size", self.blocking_size.is_some()),
        ];
        if !is_match {
            let set: Vec<&str> = [("normalize", !self.normalize.is_empty())]
                .into_iter()
                .chain([("compare", self.compare.is_some())])
                .chain(fuzzy_keys)
                .filter(|(_, set)| *set)
                .map(|(k, _)| k)
                .collect();
            if !set.is_empty() {
                bail!(
                    "{} appl{} to match fields only (set match = true)",
                    set.join(", "),
                    if set.len() == 1 { "ies" } else { "y" }
                );
            }
        }
        let normalizers = self
            .normalize
            .iter()
            .enumerate()
            .map(|(i, v)| normalizer(v).map_err(|e| anyhow!("normalize[{i}]: {e}")))
            .collect::<Result<Vec<_>>>()?;
        let comparator = match self.compare.unwrap_or("exact") {
            "exact" => {
                if let Some((key, _)) = fuzzy_keys.iter().find(|(_, set)| *set) {
                    bail!("{key} applies to fuzzy comparison only (compare = \"jaro_winkler\", \"levenshtein\" or \"normalized_levenshtein\")");
                }
                Comparator::Exact
            }
            name => Comparator::Fuzzy(self.fuzzy(name)?),
        };
        let options = match (self.options, is_option) {
            (Some(map), true) => OptionMap::new(map.iter().map(|(c, &v)| (c.clone(), v))),
            (Some(_), false) => bail!("options apply to type = \"option\" fields only"),
            (None, _) => OptionMap::default(),
        };
        Ok(Resolved {
            normalizers,
            comparator,
            options,
        })
    }

    fn fuzzy(&self, name: &str) -> Result<Fuzzy> {
        let Some(metric) = Metric::parse(name) else {
            bail!(
                "unknown compare \"{name}\"; the comparisons are exact, jaro_winkler, levenshtein, normalized_levenshtein"
            )
        };
        let blocking = match (self.blocking.unwrap_or("sorted_neighbourhood"), self.blocking_size) {
            ("prefix", size) => Blocking::Prefix(size.unwrap_or(Blocking::DEFAULT_PREFIX)),
            ("first_token", None) => Blocking::FirstToken,
            ("first_token", Some(_)) => bail!("blocking_size does not apply to first_token blocking"),
            ("sorted_neighbourhood" | "sorted_neighborhood", size) => {
                Blocking::SortedNeighbourhood(size.unwrap_or(Blocking::DEFAULT_WINDOW))
            }
            (other, _) => bail!(
                "unknown blocking \"{other}\"; the blockings are prefix, first_token, sorted_neighbourhood"
            ),
        };
        Ok(Fuzzy {
            metric,
            threshold: self.threshold.unwrap_or(metric.default_threshold()),
            tie_margin: self.tie_margin.unwrap_or(Fuzzy::DEFAULT_TIE_MARGIN),
            blocking,
        })
    }
}

fn normalizer(v: &toml::Value) -> Result<Normalizer> {
    match v {
        toml::Value::String(name) => Ok(match name.as_str() {
            "trim" => Normalizer::Trim,
            "collapse_whitespace" => Normalizer::CollapseWhitespace,
            "strip_accents" => Normalizer::StripAccents,
            "lower" => Normalizer::Lower,
            "digits" => Normalizer::Digits,
            "email" => Normalizer::Email,
            "remove_punctuation" => Normalizer::RemovePunctuation,
            "legal_form" => Normalizer::LegalForm(LegalForms::default_forms()),
            other => {
                bail!("unknown normalizer \"{other}\"; the normalizers are {NORMALIZER_NAMES}")
            }
        }),
        toml::Value::Table(t) => {
            let keys: Vec<&str> = t.keys().map(String::as_str).collect();
            match keys.as_slice() {
                ["legal_form"] => {
                    let forms = t["legal_form"]
                        .as_array()
                        .and_then(|a| a.iter().map(|f| f.as_str()).collect::<Option<Vec<_>>>())
                        .ok_or_else(|| anyhow!("legal_form must be a list of strings"))?;
                    Ok(Normalizer::LegalForm(LegalForms::new(&forms)))
                }
                ["regex"] | ["regex", "replace"] | ["replace", "regex"] => {
                    let pattern = t["regex"]
                        .as_str()
                        .ok_or_else(|| anyhow!("regex must be a string"))?;
                    let replacement = match t.get("replace") {
                        None => "",
                        Some(r) => r.as_str().ok_or_else(|| anyhow!("replace must be a string"))?,
                    };
                    Normalizer::replace(pattern, replacement)
                        .map_err(|e| anyhow!("invalid regex \"{pattern}\": {e}"))
                }
                _ => bail!(
                    "a normalizer table has the keys regex (+ replace) or legal_form, not {}; the normalizers are {NORMALIZER_NAMES}",
                    keys.join(", ")
                ),
            }
        }
        other => bail!(
            "expected a name or a table, found {}; the normalizers are {NORMALIZER_NAMES}",
            other.type_str()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(toml_text: &str) -> Vec<toml::Value> {
        let t: toml::Table = toml::from_str(toml_text).unwrap();
        t["n"].as_array().unwrap().clone()
    }

    #[test]
    fn normalizers_by_name_and_table() {
        let n = values(
            r#"n = ["trim", "lower", { regex = "^the ", replace = "" }, { legal_form = ["Holding"] }]"#,
        );
        let s = MatchSettings {
            normalize: &n,
            ..Default::default()
        };
        let r = s.resolve(true, false).unwrap();
        assert_eq!(r.normalizers.len(), 4);
        assert_eq!(r.comparator, Comparator::Exact);
        for (text, message) in [
            (
                r#"n = ["lowr"]"#,
                "normalize[0]: unknown normalizer \"lowr\"",
            ),
            (
                r#"n = [{ regex = "(" }]"#,
                "normalize[0]: invalid regex \"(\"",
            ),
            (r#"n = [{ regx = "a" }]"#, "not regx"),
            (r#"n = [3]"#, "expected a name or a table, found integer"),
        ] {
            let n = values(text);
            let s = MatchSettings {
                normalize: &n,
                ..Default::default()
            };
            let e = s.resolve(true, false).err().unwrap().to_string();
            assert!(e.contains(message), "{e}");
        }
    }

    #[test]
    fn fuzzy_defaults_and_errors() {
        let s = MatchSettings {
            compare: Some("jaro_winkler"),
            ..Default::default()
        };
        let Comparator::Fuzzy(f) = s.resolve(true, false).unwrap().comparator else {
            panic!("fuzzy")
        };
        assert_eq!(f.threshold, 0.94);
        assert_eq!(f.tie_margin, 0.02);
        assert_eq!(f.blocking, Blocking::SortedNeighbourhood(20));
        let s = MatchSettings {
            compare: Some("levenshtein"),
            blocking: Some("prefix"),
            blocking_size: Some(4),
            threshold: Some(1.0),
            ..Default::default()
        };
        let Comparator::Fuzzy(f) = s.resolve(true, false).unwrap().comparator else {
            panic!("fuzzy")
        };
        assert_eq!(
            (f.metric, f.blocking, f.threshold),
            (Metric::Levenshtein, Blocking::Prefix(4), 1.0)
        );
        let err =
            |s: MatchSettings<'_>, is_match| s.resolve(is_match, false).err().unwrap().to_string();
        assert!(err(
            MatchSettings {
                threshold: Some(0.9),
                ..Default::default()
            },
            true
        )
        .starts_with("threshold applies to fuzzy comparison only"));
        assert!(err(
            MatchSettings {
                compare: Some("soundex"),
                ..Default::default()
            },
            true
        )
        .starts_with("unknown compare \"soundex\""));
        assert!(err(
            MatchSettings {
                compare: Some("jaro_winkler"),
                blocking: Some("ngram"),
                ..Default::default()
            },
            true
        )
        .starts_with("unknown blocking \"ngram\""));
        assert_eq!(
            err(
                MatchSettings {
                    compare: Some("jaro_winkler"),
                    ..Default::default()
                },
                false
            ),
            "compare applies to match fields only (set match = true)"
        );
        let options = BTreeMap::from([("Retail".to_string(), 1)]);
        assert_eq!(
            err(
                MatchSettings {
                    options: Some(&options),
                    ..Default::default()
                },
                true
            ),
            "options apply to type = \"option\" fields only"
        );
    }
}
