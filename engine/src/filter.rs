//! Which rows of a table take part in a job: a [`TableFilter`] applied to a [`Table`].

use rayon::prelude::*;

use crate::couple::RunOptions;
use crate::error::{column, EngineError};
use crate::index::same_text;
#[cfg(doc)]
use crate::mapping::TableFilter;
use crate::table::Table;

/// The rows of `table` that pass `filter`, in order.
pub(crate) fn filtered_rows(
    table: &Table,
    filter: &[(String, String)],
    options: RunOptions,
) -> Result<Vec<u32>, EngineError> {
    let conditions = filter
        .iter()
        .map(|(c, v)| Ok((column(table, c)?, v.as_str())))
        .collect::<Result<Vec<_>, EngineError>>()?;
    let passes = |r: &u32| {
        conditions
            .iter()
            .all(|&(c, v)| same_text(table.cell(*r as usize, c), v))
    };
    let rows = 0..table.len() as u32;
    Ok(if options.parallel {
        rows.into_par_iter().filter(passes).collect()
    } else {
        rows.filter(passes).collect()
    })
}
