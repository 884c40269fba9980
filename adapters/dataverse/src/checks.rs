//! What BC's "Test Connection" checks before any job runs (docs/semantics.md, "Connection test"): the environment
//! answers and the credentials work (`WhoAmI`), it is not in administration mode (a distinct
//! error from the session), and the currencies agree (the current rule, or the strict rule of
//! BC before 2023 release wave 2).

use serde::Deserialize;

use crate::error::{DataverseError, Result};
use crate::odata::encode;
use crate::session::Session;

/// Who the application user is.
#[derive(Debug, Clone, Deserialize)]
pub struct WhoAmI {
    #[serde(rename = "UserId")]
    pub user_id: String,
    #[serde(rename = "BusinessUnitId")]
    pub business_unit_id: String,
    #[serde(rename = "OrganizationId")]
    pub organization_id: String,
    /// The recommended degree of parallelism (`x-ms-dop-hint`), when the server sends it.
    #[serde(skip)]
    pub dop_hint: Option<u32>,
}

/// `GET WhoAmI`: proves the URL, the credentials and the application user.
pub fn who_am_i(session: &Session) -> Result<WhoAmI> {
    let answer = session.get("WhoAmI", None)?;
    let mut who: WhoAmI =
        serde_json::from_slice(&answer.body).map_err(|e| DataverseError::Decode {
            request: "GET WhoAmI".into(),
            message: e.to_string(),
        })?;
    who.dop_hint = answer
        .headers
        .get("x-ms-dop-hint")
        .and_then(|v| v.to_str().ok()?.trim().parse().ok());
    Ok(who)
}

/// The currencies as Dataverse has them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Currencies {
    /// ISO code of the organization's base currency.
    pub base: String,
    /// ISO codes of every transaction currency.
    pub all: Vec<String>,
}

#[derive(Deserialize)]
struct Rows<T> {
    value: Vec<T>,
}

#[derive(Deserialize)]
struct OrganizationRow {
    #[serde(rename = "_basecurrencyid_value")]
    base_currency_id: Option<String>,
}

#[derive(Deserialize)]
struct CurrencyRow {
    transactioncurrencyid: String,
    #[serde(default)]
    isocurrencycode: Option<String>,
}

/// Reads the base currency (organization → transactioncurrency) and all currency codes.
pub fn currencies(session: &Session) -> Result<Currencies> {
    let decode_error = |request: &str, e: serde_json::Error| DataverseError::Decode {
        request: request.into(),
        message: e.to_string(),
    };
    let answer = session.get("organizations?$select=_basecurrencyid_value", None)?;
    let orgs: Rows<OrganizationRow> =
        serde_json::from_slice(&answer.body).map_err(|e| decode_error("GET organizations", e))?;
    let base_id = orgs
        .value
        .into_iter()
        .find_map(|o| o.base_currency_id)
        .ok_or_else(|| DataverseError::Decode {
            request: "GET organizations".into(),
            message: "the organization has no base currency".into(),
        })?;
    let answer = session.get(
        &format!(
            "transactioncurrencies?$select={}",
            encode("transactioncurrencyid,isocurrencycode")
        ),
        None,
    )?;
    let rows: Rows<CurrencyRow> = serde_json::from_slice(&answer.body)
        .map_err(|e| decode_error("GET transactioncurrencies", e))?;
    let base = rows
        .value
        .iter()
        .find(|r| r.transactioncurrencyid.eq_ignore_ascii_case(&base_id))
        .and_then(|r| r.isocurrencycode.clone())
        .ok_or_else(|| DataverseError::Decode {
            request: "GET transactioncurrencies".into(),
            message: format!("the base currency {base_id} is not among the transaction currencies"),
        })?;
    Ok(Currencies {
        base,
        all: rows
            .value
            .into_iter()
            .filter_map(|r| r.isocurrencycode)
            .collect(),
    })
}

/// The result of the currency rule: a failure in BC's words, or notes for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CurrencyVerdict {
    Valid { notes: Vec<String> },
    Invalid(String),
}

/// BC's currency rule for the local currency (LCY) code.
///
/// - current (BC 2023 release wave 2 and later): the LCY code must exist among Dataverse's
///   ISO currency codes; when it differs from Dataverse's base currency, that base currency
///   must exist in BC with an exchange rate (BC's data, not visible here: a note).
/// - strict (before): the LCY code must equal the base currency's ISO code (blanks removed).
pub fn currency_verdict(currencies: &Currencies, local: &str, strict: bool) -> CurrencyVerdict {
    let without_blanks = |s: &str| s.chars().filter(|c| *c != ' ').collect::<String>();
    let lcy = without_blanks(local);
    if lcy.is_empty() {
        return CurrencyVerdict::Invalid(
            "The local currency code is blank; set local_currency in [dataverse]".into(),
        );
    }
    if strict {
        let base = without_blanks(&currencies.base);
        return if base == lcy {
            CurrencyVerdict::Valid { notes: vec![] }
        } else {
            CurrencyVerdict::Invalid(format!(
                "LCY Code {lcy} does not match ISO Currency Code {base} of the Common Data Service base currency"
            ))
        };
    }
    if !currencies
        .all
        .iter()
        .any(|c| without_blanks(c).eq_ignore_ascii_case(&lcy))
    {
        return CurrencyVerdict::Invalid(format!(
            "Your local currency code {lcy} does not match any ISO Currency Code in the Dataverse currency table. To continue, make sure that the local currency code in General Ledger Setup complies with the ISO standard and create a currency in Dataverse currency table that uses it as ISO Currency Code"
        ));
    }
    let mut notes = Vec::new();
    if !currencies.base.trim().eq_ignore_ascii_case(&lcy) {
        notes.push(format!(
            "the base currency {} of the Dataverse environment must exist in Business Central and it must have an exchange rate (not checked here)",
            currencies.base.trim().to_uppercase()
        ));
    }
    CurrencyVerdict::Valid { notes }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(base: &str, all: &[&str]) -> Currencies {
        Currencies {
            base: base.into(),
            all: all.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn current_rule() {
        let c = set("USD", &["USD", "EUR"]);
        assert_eq!(
            currency_verdict(&c, "USD", false),
            CurrencyVerdict::Valid { notes: vec![] }
        );
        match currency_verdict(&c, "EUR", false) {
            CurrencyVerdict::Valid { notes } => assert!(notes[0].contains("USD"), "{notes:?}"),
            other => panic!("{other:?}"),
        }
        match currency_verdict(&c, "DKK", false) {
            CurrencyVerdict::Invalid(m) => assert!(
                m.starts_with("Your local currency code DKK does not match any ISO Currency Code"),
                "{m}"
            ),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            currency_verdict(&c, " ", false),
            CurrencyVerdict::Invalid(_)
        ));
    }

    #[test]
    fn strict_rule() {
        let c = set("USD", &["USD", "EUR"]);
        assert_eq!(
            currency_verdict(&c, "U SD", true),
            CurrencyVerdict::Valid { notes: vec![] }
        );
        assert_eq!(
            currency_verdict(&c, "EUR", true),
            CurrencyVerdict::Invalid(
                "LCY Code EUR does not match ISO Currency Code USD of the Common Data Service base currency".into()
            )
        );
    }
}
