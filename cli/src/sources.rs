//! The one seam between a command and the two sides of a mapping. [`Sources::open`] opens the
//! Dataverse session when a mapping needs one; [`Sources::prepare`] learns what only the
//! integration source can tell (a Dataverse table's key and choice options), checks every
//! column the mapping names and builds the engine's spec; [`Sources::read_sides`] reads both
//! sides. The existing couplings a job takes (couplings files, the store, earlier mappings of
//! the run) are assembled here too ([`existing_couplings`]), and so are the couplings lookups
//! translate through ([`translations`]). Commands never match on the kind of integration
//! source themselves.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use coupler_dataverse::{push_down, LookupTarget, ReadStrategy, TableInfo};
use coupler_engine::sync::PlanDirection;
use coupler_engine::{
    passing_table_filter, ColumnFilter, CouplingSpec, ExistingCouplings, OptionMap, SyncSpec,
    Table, Translation,
};
use coupler_files::{read_couplings, read_header, read_table_checking, FileSource};
use coupler_store::StoredCoupling;

use crate::dataverse_link::DataverseLink;
use crate::job::IntegrationRead;
use crate::plan::{
    add_columns, file_name, IntegrationFacts, IntegrationSource, Plan, PlannedMapping,
};
use crate::progress;

/// The outside world of a run: the Dataverse session, if a mapping reads from Dataverse.
pub struct Sources {
    link: Option<DataverseLink>,
}

/// A mapping ready to read and run: its complete spec and the facts it was built from.
pub struct Prepared<'m> {
    pub mapping: &'m PlannedMapping,
    pub spec: CouplingSpec,
    pub facts: IntegrationFacts,
}

impl<'m> Prepared<'m> {
    /// The same mapping with its lookups (`via`) translating through `translations`; warns
    /// when a mapping looked up through has no coupling at all.
    pub fn with_translations(&self, translations: Translations) -> Result<Prepared<'m>> {
        for name in &self.mapping.lookups {
            if translations.get(name).is_none_or(|t| t.is_empty()) {
                eprintln!(
                    "coupler: warning: mapping '{}' looks up through {name}'s couplings, and {name} has none (in the store, its couplings file or this run): every non-blank value will be 'not coupled'; couple {name} first, or in the same run",
                    self.mapping.name
                );
            }
        }
        let facts = IntegrationFacts {
            translations,
            ..self.facts.clone()
        };
        Ok(Prepared {
            mapping: self.mapping,
            spec: self.mapping.spec(&facts)?,
            facts,
        })
    }
}

/// The columns to read of each side, and the columns only checked (every value valid text)
/// without being kept.
#[derive(Default)]
pub struct Columns {
    pub local: Vec<String>,
    pub integration: Vec<String>,
    pub checked_local: Vec<String>,
    pub checked_integration: Vec<String>,
}

impl Columns {
    /// What a coupling job reads: the engine's and the synchronization's columns, every other
    /// mapped column checked.
    pub fn of_job(p: &Prepared<'_>) -> Columns {
        Columns {
            local: p.mapping.local_columns(&p.spec),
            integration: p.mapping.integration_columns(&p.spec),
            checked_local: p.mapping.mapped_local.clone(),
            checked_integration: p.mapping.mapped_integration.clone(),
        }
    }

    /// Just these columns.
    pub fn only(local: Vec<String>, integration: Vec<String>) -> Columns {
        Columns {
            local,
            integration,
            ..Columns::default()
        }
    }
}

/// Which rows of a Dataverse table: as the mapping's `read_strategy` says (lookups read only
/// the rows that can match), or the whole table (commands that look at every row).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Rows {
    AsConfigured,
    Whole,
}

/// Both sides of a mapping, read.
pub struct Sides {
    pub local: Table,
    pub integration: Table,
    /// How a Dataverse side was read (for job.json).
    pub read: Option<IntegrationRead>,
}

impl Sources {
    /// Opens a Dataverse session when one of `mappings` reads from Dataverse (no request is
    /// sent yet; the secret is read now).
    pub fn open(plan: &Plan, mappings: &[&PlannedMapping]) -> Result<Sources> {
        let needs = mappings
            .iter()
            .any(|m| matches!(m.integration, IntegrationSource::Dataverse(_)));
        let link = match (&plan.dataverse, needs) {
            (Some(section), true) => Some(DataverseLink::open(section, &plan.base)?),
            _ => None,
        };
        Ok(Sources { link })
    }

    /// The Dataverse session of the config's `[dataverse]` section, whether or not a mapping
    /// reads from Dataverse (`connection test`).
    pub fn open_connection(plan: &Plan, mappings: &[&PlannedMapping]) -> Result<Sources> {
        let mut sources = Sources::open(plan, mappings)?;
        if let (None, Some(section)) = (&sources.link, &plan.dataverse) {
            sources.link = Some(DataverseLink::open(section, &plan.base)?);
        }
        Ok(sources)
    }

    /// No outside world: file sources only (a Dataverse mapping is then an error).
    pub fn files_only() -> Sources {
        Sources { link: None }
    }

    /// The Dataverse session, if one is open.
    pub fn link(&mut self) -> Option<&mut DataverseLink> {
        self.link.as_mut()
    }

    fn dataverse(&mut self, m: &PlannedMapping) -> Result<&mut DataverseLink> {
        self.link.as_mut().ok_or_else(|| {
            anyhow!(
                "mapping '{}' reads from Dataverse but no connection is open",
                m.name
            )
        })
    }

    /// The facts of `m`'s integration side: for Dataverse, the table's primary key and the
    /// options of the choice columns `option_columns`.
    pub fn facts(
        &mut self,
        m: &PlannedMapping,
        option_columns: &[String],
    ) -> Result<IntegrationFacts> {
        let IntegrationSource::Dataverse(table) = &m.integration else {
            return Ok(IntegrationFacts::default());
        };
        let primary_key = self.table(m, &table.entity_set)?.primary_id.clone();
        Ok(IntegrationFacts {
            primary_key: Some(primary_key),
            options: self.choice_options(m, option_columns)?,
            translations: BTreeMap::new(),
        })
    }

    /// The options of the choice columns `columns` of `m`'s Dataverse table (none for files).
    pub fn choice_options(
        &mut self,
        m: &PlannedMapping,
        columns: &[String],
    ) -> Result<BTreeMap<String, OptionMap>> {
        let IntegrationSource::Dataverse(table) = &m.integration else {
            return Ok(BTreeMap::new());
        };
        let link = self.dataverse(m)?;
        let mut options = BTreeMap::new();
        for column in columns {
            let map = link
                .choice_options(&table.entity_set, column)
                .with_context(|| format!("mapping '{}': option map of '{column}'", m.name))?;
            options.insert(column.clone(), map);
        }
        Ok(options)
    }

    /// Learns the integration side's facts, checks that every column the mapping names exists
    /// in its source (headers, or the table's metadata) and builds the spec.
    pub fn prepare<'m>(&mut self, m: &'m PlannedMapping) -> Result<Prepared<'m>> {
        let mut facts = self.facts(m, &[])?;
        let dataverse = matches!(m.integration, IntegrationSource::Dataverse(_));
        if dataverse {
            // The columns first: a missing one is named (with a did-you-mean) before the
            // options of choice columns are asked for.
            self.check_job_columns(m, &m.spec_unchecked(&facts)?)?;
            let columns = PlannedMapping::options_from_metadata(m.criteria());
            facts.options = self.choice_options(m, &columns)?;
        }
        let spec = m.spec(&facts)?;
        if !dataverse {
            self.check_job_columns(m, &spec)?;
        }
        Ok(Prepared {
            mapping: m,
            spec,
            facts,
        })
    }

    /// Every column a job of `m` reads exists; of a file, every mapped column too (a couple
    /// checks them all as text).
    fn check_job_columns(&mut self, m: &PlannedMapping, spec: &CouplingSpec) -> Result<()> {
        let mut local = m.local_columns(spec);
        add_columns(&mut local, &m.mapped_local);
        let mut integration = m.integration_columns(spec);
        if let IntegrationSource::File(_) = m.integration {
            add_columns(&mut integration, &m.mapped_integration);
        }
        self.check_columns(m, &local, &integration)
    }

    /// A spec for counting rows only (`review`): the key and the filters, no criteria.
    pub fn prepare_keys<'m>(&mut self, m: &'m PlannedMapping) -> Result<Prepared<'m>> {
        let facts = self.facts(m, &[])?;
        let spec = m.spec_without_criteria(&facts)?;
        if let IntegrationSource::Dataverse(_) = m.integration {
            self.check_columns(m, &[], &spec.integration_columns())?;
        }
        Ok(Prepared {
            mapping: m,
            spec,
            facts,
        })
    }

    /// How each lookup field (`via`) of `specs` that writes to Dataverse binds its row: lookup
    /// column → the navigation property and entity set of the table it points to (the
    /// Dataverse table of the mapping it goes through); each column's metadata read once.
    pub fn lookup_binds<'s>(
        &mut self,
        m: &PlannedMapping,
        specs: impl IntoIterator<Item = &'s SyncSpec>,
    ) -> Result<BTreeMap<String, LookupTarget>> {
        let IntegrationSource::Dataverse(table) = &m.integration else {
            return Ok(BTreeMap::new());
        };
        let mut binds = BTreeMap::new();
        for spec in specs {
            for f in &spec.fields {
                let Some(via) = &f.via else { continue };
                if binds.contains_key(&f.integration_field)
                    || !spec.takes_part(f, PlanDirection::ToIntegration)
                {
                    continue;
                }
                let Some(target_set) = m.lookup_tables.get(via.mapping()) else {
                    bail!(
                    "mapping '{}': the lookup '{}' goes through {}, whose rows are read from a file; writing it to Dataverse needs {} to read its Dataverse table (dataverse_table)",
                    m.name,
                    f.integration_field,
                    via.mapping(),
                    via.mapping()
                );
                };
                let target = self
                    .dataverse(m)?
                    .lookup_target(&table.entity_set, &f.integration_field, target_set)
                    .with_context(|| format!("mapping '{}'", m.name))?;
                binds.insert(f.integration_field.clone(), target);
            }
        }
        Ok(binds)
    }

    /// Whether writes to `m`'s integration side go anywhere (a Dataverse table).
    pub fn can_write(&self, m: &PlannedMapping) -> bool {
        matches!(m.integration, IntegrationSource::Dataverse(_)) && self.can_reach(m)
    }

    /// The maximum length of a text column of `m`'s integration side, from the table's
    /// metadata (`None` for a file, which says nothing of lengths); an error when the column
    /// is not text.
    pub fn text_column_max_length(
        &mut self,
        m: &PlannedMapping,
        column: &str,
    ) -> Result<Option<usize>> {
        let IntegrationSource::Dataverse(table) = &m.integration else {
            return Ok(None);
        };
        let link = self.dataverse(m)?;
        let info = link.table(&table.entity_set)?;
        let kind = info
            .column(column)
            .map(|c| (c.kind, c.attribute_type.clone()));
        if let Some((kind, attribute_type)) = kind {
            if kind != coupler_dataverse::AttributeKind::Text {
                bail!(
                    "mapping '{}': column '{column}' of Dataverse table '{}' is a {attribute_type} column; the BC keys go into a text column",
                    m.name,
                    info.logical_name
                );
            }
        }
        link.max_length(&table.entity_set, column)
    }

    /// Every column named exists in its side's source (a file's header, a table's metadata).
    pub fn check_columns(
        &mut self,
        m: &PlannedMapping,
        local: &[String],
        integration: &[String],
    ) -> Result<()> {
        check_file_columns(&m.local, local)?;
        match &m.integration {
            IntegrationSource::File(f) => check_file_columns(f, integration),
            IntegrationSource::Dataverse(t) => {
                let columns: Vec<String> = integration
                    .iter()
                    .filter(|c| !c.is_empty())
                    .cloned()
                    .collect();
                self.table(m, &t.entity_set)?
                    .check_columns(&columns)
                    .map_err(anyhow::Error::msg)
                    .with_context(|| format!("mapping '{}'", m.name))
            }
        }
    }

    /// The integration side's Dataverse table — its entity set and metadata — when it is one
    /// (synchronization and creates write to it).
    pub fn dataverse_table(&mut self, m: &PlannedMapping) -> Result<Option<(String, TableInfo)>> {
        match &m.integration {
            IntegrationSource::Dataverse(t) => {
                let info = self.table(m, &t.entity_set)?.clone();
                Ok(Some((t.entity_set.clone(), info)))
            }
            IntegrationSource::File(_) => Ok(None),
        }
    }

    /// Whether `m`'s sources can be checked: files always, Dataverse with a session.
    pub fn can_reach(&self, m: &PlannedMapping) -> bool {
        self.link.is_some() || matches!(m.integration, IntegrationSource::File(_))
    }

    /// A Dataverse table's metadata (read once per run).
    pub fn table(&mut self, m: &PlannedMapping, entity_set: &str) -> Result<&TableInfo> {
        self.dataverse(m)?.table(entity_set)
    }

    /// Reads both sides: files in parallel; with Dataverse, the local side first (a lookup
    /// read needs its values).
    pub fn read_sides(&mut self, p: &Prepared<'_>, columns: &Columns, rows: Rows) -> Result<Sides> {
        let m = p.mapping;
        // The table filters' columns are read too: rows outside the filters are dropped here.
        let mut local_columns = columns.local.clone();
        add_columns(
            &mut local_columns,
            m.local_table_filter.iter().map(|f| &f.column),
        );
        let mut integration_columns = columns.integration.clone();
        add_columns(
            &mut integration_columns,
            m.integration_table_filter.iter().map(|f| &f.column),
        );
        let local = || {
            let table = read_file_checking(&m.local, &local_columns, &columns.checked_local)?;
            table_filtered(table, &m.local_table_filter)
        };
        match &m.integration {
            IntegrationSource::File(file) => {
                let (local, integration) = rayon::join(local, || {
                    let table = read_file_checking(
                        file,
                        &integration_columns,
                        &columns.checked_integration,
                    )?;
                    table_filtered(table, &m.integration_table_filter)
                });
                Ok(Sides {
                    local: local?,
                    integration: integration?,
                    read: None,
                })
            }
            IntegrationSource::Dataverse(table) => {
                let local = local()?;
                let mut table = table.clone();
                if rows == Rows::Whole {
                    table.strategy = ReadStrategy::Bulk;
                }
                let link = self.dataverse(m)?;
                let info = link.table(&table.entity_set)?;
                // What translates exactly narrows the read; the whole filter is evaluated
                // locally anyway (Dataverse compares case-insensitively).
                let pushed: Vec<String> = m
                    .integration_table_filter
                    .iter()
                    .filter_map(|f| {
                        let kind = info.column(&f.column)?.kind;
                        push_down(&f.column, &f.expr, f.field_type, kind)
                    })
                    .collect();
                let (integration, how) =
                    link.read(&p.spec, &table, &integration_columns, &local, &pushed)?;
                Ok(Sides {
                    local,
                    integration: table_filtered(integration, &m.integration_table_filter)?,
                    read: Some(how),
                })
            }
        }
    }
}

/// The rows of `table` inside a side's table filter.
fn table_filtered(table: Table, filter: &[ColumnFilter]) -> Result<Table> {
    if filter.is_empty() {
        return Ok(table);
    }
    let rows = passing_table_filter(&table, filter)?;
    Ok(table.retain_rows(&rows))
}

fn check_file_columns(source: &FileSource, columns: &[String]) -> Result<()> {
    let header = read_header(source)?;
    coupler_files::check_columns(&source.path, &header, columns)?;
    Ok(())
}

/// Reads `columns` of a file source (with a progress bar) and checks `checked` ones as text
/// too, without keeping them.
fn read_file_checking(
    source: &FileSource,
    columns: &[String],
    checked: &[String],
) -> Result<Table> {
    let size = std::fs::metadata(&source.path)
        .map(|m| m.len())
        .unwrap_or(0);
    let bar = progress::reading(&file_name(&source.path), size);
    let table = read_table_checking(source, columns, checked, &|bytes| bar.set_position(bytes))?;
    bar.finish_and_clear();
    if table.is_empty() {
        eprintln!(
            "coupler: warning: {} has a header and no rows",
            source.path.display()
        );
    }
    Ok(table)
}

/// A mapping's `[mappings.couplings]` file, read: `(mapping, [(local id, integration id, line)])`.
pub type CouplingFile = (String, Vec<(String, String, u64)>);

/// Every mapping's couplings file.
pub fn read_coupling_files(plan: &Plan) -> Result<Vec<CouplingFile>> {
    let mut out = Vec::new();
    for m in &plan.mappings {
        if let Some(path) = &m.couplings {
            out.push((m.name.clone(), read_couplings(path)?));
        }
    }
    Ok(out)
}

/// Mapping name → its couplings, as lookups (`via`) translate through them.
pub type Translations = BTreeMap<String, Arc<Translation>>;

/// The couplings of each mapping named in `mappings`, as lookups (`via`) translate through
/// them: its couplings file, the store, and those made earlier in this run (`made_in_run`:
/// `(mapping, local id, integration id)`). A coupling held twice keeps the first.
pub fn translations(
    mappings: &[String],
    files: &[CouplingFile],
    stored: &[StoredCoupling],
    made_in_run: &[(String, String, String)],
) -> Translations {
    mappings
        .iter()
        .map(|name| {
            let mut t = Translation::new(name.clone());
            for (l, i) in couplings_of(name, files, stored, made_in_run) {
                t.add(l, i);
            }
            (name.clone(), Arc::new(t))
        })
        .collect()
}

/// The couplings of `mapping` a run knows, `(local id, integration id)`: its couplings file,
/// then the store, then those made earlier in the run.
fn couplings_of<'a>(
    mapping: &'a str,
    files: &'a [CouplingFile],
    stored: &'a [StoredCoupling],
    made_in_run: &'a [(String, String, String)],
) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
    let from_files = files
        .iter()
        .filter(move |(m, _)| m == mapping)
        .flat_map(|(_, rows)| rows.iter().map(|(l, i, _)| (l.as_str(), i.as_str())));
    let from_store = stored
        .iter()
        .filter(move |c| c.mapping == mapping)
        .map(|c| (c.local_id.as_str(), c.integration_id.as_str()));
    let from_run = made_in_run
        .iter()
        .filter(move |(m, _, _)| m == mapping)
        .map(|(_, l, i)| (l.as_str(), i.as_str()));
    from_files.chain(from_store).chain(from_run)
}

/// The couplings that exist before `mapping`'s job, as the engine takes them: this mapping's
/// own couplings first (the couplings file, then the store), so that their holders win; then
/// every other mapping's (the store, the files, and those made earlier in this run).
pub fn existing_couplings(
    mapping: &str,
    files: &[CouplingFile],
    stored: &[StoredCoupling],
    made_in_run: &[(String, String, String)],
) -> ExistingCouplings {
    let mut existing = ExistingCouplings::new();
    // A mapping runs once: none of its couplings were made earlier in the run.
    for (l, i) in couplings_of(mapping, files, stored, &[]) {
        existing.add_own(l, i);
    }
    for c in stored.iter().filter(|c| c.mapping != mapping) {
        existing.add_other(&c.local_id, &c.integration_id);
    }
    for (_, rows) in files.iter().filter(|(name, _)| name != mapping) {
        for (l, i, _) in rows {
            existing.add_other(l, i);
        }
    }
    for (_, l, i) in made_in_run {
        existing.add_other(l, i);
    }
    existing
}
