//! `coupler profile --config FILE --mapping NAME [--json]`: what the mapped fields of both sides
//! look like, and a suggested criteria set with its reasons.
//!
//! The mapped fields are every `[[mappings.fields]]` of the mapping that names a local column
//! (match criterion or not). The local side is profiled after the local filter, the integration
//! side after the integration filter (the records a coupling job would see; already-coupled
//! records included). The measures, the accent folding and the suggestion rule are those of
//! [`coupler_engine::profile`]:
//!
//! - per field and side: records, blanks, invalid values, distinct values (exact and ignoring
//!   case), the distinct share, the largest duplicate group, and the groups of values that
//!   differ only by case, only by accents, or only by surrounding/repeated spaces;
//! - per field: the share of local values found on the Dataverse side exactly, ignoring case,
//!   and ignoring case, accents and spaces (what cleaning would gain);
//! - the suggestion: level 0 = the most useful highly distinct field (usefulness = distinct share
//!   × share found ignoring case × share filled × (1 − largest duplicate group share)), level 1 =
//!   the next most useful, level 2 = the remaining field most often equal on both sides; fields
//!   found for less than half the values are left out; case-sensitive only where no value differs
//!   only by case and case-sensitive matching finds as many values.
//!
//! A lookup field (`via = "MAPPING"`) is profiled on what its criterion compares: each local key
//! as the integration id that mapping's couplings give (a key no coupling translates stays
//! itself, and is found nowhere), each integration value as a canonical id; its profile also
//! counts the keys not coupled.
//!
//! The suggestion is printed as a ready-to-paste `[[variants]]` table named `suggested`, to be
//! measured with `coupler criteria compare` (add `--truth` if the correct pairs are known).

use std::path::Path;

use anyhow::{bail, Result};
use coupler_engine::profile::{
    profile_field, suggest, Collisions, FieldProfile, FieldRef, SideProfile, Suggestion,
};
use coupler_engine::{canonical_integration_id, passing_rows, FieldType, Reference, Table};
use rayon::prelude::*;
use serde_json::{json, Value};

use crate::plan::{add_columns, file_name, Plan, PlannedMapping};
use crate::sources::{read_coupling_files, translations, Columns, Rows, Sides, Sources};
use crate::store;

/// The name of the suggested variant in the TOML block.
pub const SUGGESTED: &str = "suggested";

pub fn run(config: &Path, mapping: &str, json: bool) -> Result<()> {
    let plan = Plan::load(config)?;
    let m = plan.select(&[mapping.to_string()])?[0];
    let fields: Vec<FieldRef> = m
        .profiled_fields
        .iter()
        .map(
            |(local_field, integration_field, field_type, via)| FieldRef {
                local_field: local_field.clone(),
                integration_field: integration_field.clone(),
                // A lookup is profiled on ids (translated keys), which compare as text.
                field_type: if via.is_some() {
                    FieldType::Text
                } else {
                    *field_type
                },
            },
        )
        .collect();
    if fields.is_empty() {
        bail!(
            "{}: mapping '{mapping}' has no [[mappings.fields]] with a local column; nothing to profile",
            plan.path.display()
        );
    }
    let mut sources = Sources::open(&plan, &[m])?;
    let prepared = sources.prepare(m)?;
    let spec = &prepared.spec;
    let mut local_columns = spec.local_columns();
    let mut integration_columns = spec.integration_columns();
    add_columns(&mut local_columns, fields.iter().map(|f| &f.local_field));
    add_columns(
        &mut integration_columns,
        fields.iter().map(|f| &f.integration_field),
    );
    sources.check_columns(m, &local_columns, &integration_columns)?;
    let Sides {
        local, integration, ..
    } = sources.read_sides(
        &prepared,
        &Columns::only(local_columns, integration_columns),
        Rows::Whole,
    )?;
    let local_rows = passing_rows(&local, &spec.local_filter)?;
    let integration_rows = passing_rows(&integration, &spec.integration_filter)?;
    let vias: Vec<Option<&str>> = m.profiled_fields.iter().map(|f| f.3.as_deref()).collect();
    let lookups = if m.lookups.is_empty() {
        Default::default()
    } else {
        let stored = store::read_couplings(&plan, &mut store::open_for(&plan, false)?)?;
        translations(&m.lookups, &read_coupling_files(&plan)?, &stored, &[])
    };
    let (profiles, not_coupled): (Vec<FieldProfile>, Vec<Option<u64>>) = fields
        .par_iter()
        .zip(&vias)
        .map(|(f, via)| {
            let l = cells(&local, &local_rows, &f.local_field)?;
            let i = cells(&integration, &integration_rows, &f.integration_field)?;
            let Some(via) = via.and_then(|name| lookups.get(name)) else {
                return Ok((profile_field(f, &l, &i), None));
            };
            // What the lookup criterion compares: translated keys and canonical ids.
            let mut not_coupled = 0;
            let l: Vec<String> = l
                .iter()
                .map(|cell| match via.resolve_key(cell) {
                    Reference::Blank => String::new(),
                    Reference::Coupled(id) => id.to_string(),
                    Reference::NotCoupled(key) => {
                        not_coupled += 1;
                        key.into_owned()
                    }
                })
                .collect();
            let i: Vec<String> = i
                .iter()
                .map(|cell| canonical_integration_id(cell).trim().to_string())
                .collect();
            let (l, i): (Vec<&str>, Vec<&str>) = (
                l.iter().map(String::as_str).collect(),
                i.iter().map(String::as_str).collect(),
            );
            Ok((profile_field(f, &l, &i), Some(not_coupled)))
        })
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .unzip();
    let suggestion = suggest(&profiles);
    let toml = variant_toml(&profiles, &vias, &suggestion);
    if json {
        let doc = json!({
            "mapping": spec.mapping_name,
            "table_mapping": spec.friendly_name(),
            "local_source": file_name(&m.local.path),
            "integration_source": m.integration.describe(),
            "local_records": local_rows.len(),
            "integration_records": integration_rows.len(),
            "fields": profiles.iter().zip(&vias).zip(&not_coupled).map(|((p, via), n)| {
                let mut field = field_json(p);
                if let Some(via) = via {
                    field["via"] = json!(via);
                    field["not_coupled"] = json!(n);
                }
                field
            }).collect::<Vec<_>>(),
            "suggestion": {
                "criteria": suggestion.criteria.iter().map(|c| {
                    let f = &profiles[c.field].field;
                    json!({
                        "local": f.local_field,
                        "integration": f.integration_field,
                        "type": f.field_type.name(),
                        "priority": c.priority,
                        "case_sensitive": c.case_sensitive,
                        "reason": c.reason,
                    })
                }).collect::<Vec<_>>(),
                "left_out": suggestion.left_out.iter().map(|(i, reason)| {
                    let f = &profiles[*i].field;
                    json!({"local": f.local_field, "integration": f.integration_field, "reason": reason})
                }).collect::<Vec<_>>(),
                "variant_toml": toml,
            },
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print_profile(
            m,
            &profiles,
            &vias
                .iter()
                .zip(&not_coupled)
                .map(|(via, n)| via.zip(*n))
                .collect::<Vec<_>>(),
            &suggestion,
            &toml,
            local_rows.len(),
            integration_rows.len(),
        );
    }
    Ok(())
}

fn column(table: &Table, name: &str) -> Result<usize> {
    match table.column_index(name) {
        Some(i) => Ok(i),
        None => bail!("{}: column '{name}' was not read", table.name()),
    }
}

fn cells<'t>(table: &'t Table, rows: &[usize], name: &str) -> Result<Vec<&'t str>> {
    let c = column(table, name)?;
    Ok(rows.iter().map(|&r| table.cell(r, c)).collect())
}

fn collisions_json(c: &Collisions) -> Value {
    json!({
        "groups": c.groups,
        "records": c.records,
        "example": c.example.as_ref().map(|(a, b)| vec![a, b]),
    })
}

fn side_json(s: &SideProfile) -> Value {
    json!({
        "records": s.rows,
        "blanks": s.blanks,
        "invalid": s.invalid,
        "distinct": s.distinct,
        "distinct_ci": s.distinct_ci,
        "distinct_share": s.distinct_share,
        "largest_group": s.largest_group.as_ref().map(|(v, n)| json!({"value": v, "records": n})),
        "case_collisions": collisions_json(&s.case_collisions),
        "accent_collisions": collisions_json(&s.accent_collisions),
        "space_collisions": collisions_json(&s.space_collisions),
    })
}

fn field_json(p: &FieldProfile) -> Value {
    json!({
        "local": p.field.local_field,
        "integration": p.field.integration_field,
        "type": p.field.field_type.name(),
        "local_side": side_json(&p.local),
        "integration_side": side_json(&p.integration),
        "found_exact": p.found_exact,
        "found_ci": p.found_ci,
        "found_normalized": p.found_normalized,
        "usefulness": p.usefulness,
    })
}

/// A TOML string literal (quoted and escaped).
fn quoted(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// The suggestion as a `[[variants]]` table for `criteria compare`.
pub fn variant_toml(profiles: &[FieldProfile], vias: &[Option<&str>], s: &Suggestion) -> String {
    let mut out = format!("[[variants]]\nname = \"{SUGGESTED}\"\n");
    for c in &s.criteria {
        let f = &profiles[c.field].field;
        out.push_str(&format!(
            "\n[[variants.fields]]\nlocal = {}\nintegration = {}\ntype = \"{}\"\nmatch = true\npriority = {}\ncase_sensitive = {}\n",
            quoted(&f.local_field),
            quoted(&f.integration_field),
            f.field_type.name(),
            c.priority,
            c.case_sensitive
        ));
        if let Some(via) = vias[c.field] {
            out.push_str(&format!("via = {}\n", quoted(via)));
        }
    }
    out
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

fn print_profile(
    m: &PlannedMapping,
    profiles: &[FieldProfile],
    lookups: &[Option<(&str, u64)>],
    s: &Suggestion,
    toml: &str,
    local_records: usize,
    integration_records: usize,
) {
    println!(
        "{} ({}) — profile of {} mapped field(s): {} local record(s) in {}, {} in {} (after the filters)",
        m.name,
        m.friendly_name(),
        profiles.len(),
        local_records,
        file_name(&m.local.path),
        integration_records,
        m.integration.describe()
    );
    println!();
    println!(
        "  {:<10} {:>8} {:>8} {:>9} {:>9} {:>8}  {:>16}",
        "side", "blank", "invalid", "distinct", "distinct%", "largest", "collisions c/a/s"
    );
    for (n, p) in profiles.iter().enumerate() {
        println!();
        println!(
            "  {} ↔ {} ({})",
            p.field.local_field,
            p.field.integration_field,
            p.field.field_type.name()
        );
        if let Some((via, not_coupled)) = lookups[n] {
            println!("  via {via}: local keys compared as the ids {via}'s couplings give; {not_coupled} key(s) not coupled");
        }
        for (label, side) in [("local", &p.local), ("Dataverse", &p.integration)] {
            println!(
                "  {:<10} {:>8} {:>8} {:>9} {:>9} {:>8}  {:>16}",
                label,
                side.blanks,
                side.invalid,
                side.distinct,
                pct(side.distinct_share),
                side.largest_group.as_ref().map_or(1, |(_, n)| *n),
                format!(
                    "{}/{}/{}",
                    side.case_collisions.groups,
                    side.accent_collisions.groups,
                    side.space_collisions.groups
                )
            );
        }
        println!(
            "  found on the Dataverse side: {} as is; {} ignoring case; {} when accents and extra spaces are ignored too",
            pct(p.found_exact),
            pct(p.found_ci),
            pct(p.found_normalized)
        );
        let mut examples = Vec::new();
        for (label, side) in [("local", &p.local), ("Dataverse", &p.integration)] {
            for (kind, c) in [
                ("case", &side.case_collisions),
                ("accents", &side.accent_collisions),
                ("spaces", &side.space_collisions),
            ] {
                if let Some((a, b)) = &c.example {
                    examples.push(format!("{label} {kind}: {a:?} / {b:?}"));
                }
            }
        }
        if !examples.is_empty() {
            println!("  e.g. {}", examples.join("; "));
        }
    }
    println!();
    println!(
        "  (largest: records sharing the most repeated value, ignoring case; collisions c/a/s:"
    );
    println!("  groups of different values equal when case / accents / surrounding or repeated spaces are ignored)");
    println!();
    if s.criteria.is_empty() {
        println!("  suggested criteria: none — no mapped field is found on the Dataverse side for half of the values");
    } else {
        println!("  suggested criteria:");
        for c in &s.criteria {
            println!("    {}", c.reason);
        }
    }
    if !s.left_out.is_empty() {
        println!("  left out:");
        for (_, reason) in &s.left_out {
            println!("    {reason}");
        }
    }
    if !s.criteria.is_empty() {
        println!();
        println!("  as a variant for `coupler criteria compare` (append to the config, or put in a file for --variants):");
        println!();
        for line in toml.lines() {
            println!("{line}");
        }
    }
    println!();
}
