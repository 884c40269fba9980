//! Exporting couplings for import into Business Central.
//!
//! BC keeps couplings in table 5331 "CRM Integration Record" (primary key "CRM ID",
//! "Integration ID"). For `coupler couplings export --format bc` the columns are
//! [`BC_EXPORT_HEADER`]:
//!
//! - `CRM ID`: the Dataverse row id (our `integration_id`);
//! - `Integration ID`: the BC record's **SystemId** GUID, not its "No." — so a direct import
//!   needs couplings whose local key is the SystemId column (`[mappings.local] key = "SystemId"`
//!   or whatever the export calls it); a store coupled on `No.` needs a No. → SystemId lookup
//!   first;
//! - `Table ID`: the BC table number, from [`bc_table_id`] applied to the local table caption.

/// The columns of BC's "CRM Integration Record" that an import needs, in order.
pub const BC_EXPORT_HEADER: [&str; 3] = ["CRM ID", "Integration ID", "Table ID"];

/// BC table numbers by normalised name: table captions, AL names and BC's Dataverse table
/// mapping names (the default `local_caption` is the mapping name, e.g. `CUSTOMER`).
const TABLES: &[(&str, u32)] = &[
    ("paymentterms", 3),
    ("currency", 4),
    ("customerpricegroup", 6),
    ("custprcgrpprice", 6),
    ("shipmentmethod", 10),
    ("salespersonpurchaser", 13),
    ("salesperson", 13),
    ("salespeople", 13),
    ("location", 14),
    ("customer", 18),
    ("vendor", 23),
    ("item", 27),
    ("itemproduct", 27),
    ("salesheader", 36),
    ("salesorderorder", 36),
    ("salesinvoiceheader", 112),
    ("postedsalesinvinv", 112),
    ("resource", 156),
    ("resourceproduct", 156),
    ("unitofmeasure", 204),
    ("shippingagent", 291),
    ("contact", 5050),
    ("opportunity", 5092),
    ("salesprice", 7002),
    ("salesprcprodprice", 7002),
];

/// The BC table number for a local table's caption or name: `Customer` → 18,
/// `Salesperson/Purchaser` → 13, `PAYMENT TERMS` → 3, `ITEM-PRODUCT` → 27, or a number given as
/// is (`"18"`). Case, spaces and punctuation are ignored. `None` for tables it does not know.
pub fn bc_table_id(local_table_caption: &str) -> Option<u32> {
    let trimmed = local_table_caption.trim();
    if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return trimmed.parse().ok().filter(|&n| n > 0);
    }
    let key: String = trimmed
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    TABLES
        .iter()
        .find(|(name, _)| *name == key)
        .map(|&(_, id)| id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captions_names_and_mapping_names() {
        let cases = [
            ("Customer", Some(18)),
            ("CUSTOMER", Some(18)),
            ("Vendor", Some(23)),
            ("Contact", Some(5050)),
            ("Currency", Some(4)),
            ("Payment Terms", Some(3)),
            ("PAYMENT TERMS", Some(3)),
            ("Shipment Method", Some(10)),
            ("Shipping Agent", Some(291)),
            ("Salesperson/Purchaser", Some(13)),
            ("SALESPEOPLE", Some(13)),
            ("Item", Some(27)),
            ("ITEM-PRODUCT", Some(27)),
            ("Resource", Some(156)),
            ("Unit of Measure", Some(204)),
            ("Customer Price Group", Some(6)),
            ("Sales Price", Some(7002)),
            ("Opportunity", Some(5092)),
            ("Sales Header", Some(36)),
            ("Sales Invoice Header", Some(112)),
            ("Location", Some(14)),
            ("  customer ", Some(18)),
            ("18", Some(18)),
            ("0", None),
            ("99999999999999", None),
            ("", None),
            ("Account", None),
            ("Customers", None),
        ];
        for (caption, want) in cases {
            assert_eq!(bc_table_id(caption), want, "{caption:?}");
        }
    }
}
