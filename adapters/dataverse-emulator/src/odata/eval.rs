//! Evaluates a compiled filter against a row with SQL's three-valued logic: a comparison with a
//! null cell is *unknown*, `not unknown` is unknown, and only rows whose filter is *true* are
//! returned. So `name ne 'x'` does not return rows whose name is null (as in SQL Server).

use crate::collation::fold;
use crate::odata::filter::{cell_key, Expr, Filter, Side};

impl Filter {
    /// Whether a row (its cells in column order) passes the filter.
    pub(crate) fn matches(&self, cells: &[Option<String>]) -> bool {
        self.eval(&self.expr, cells) == Some(true)
    }

    fn eval(&self, expr: &Expr, cells: &[Option<String>]) -> Option<bool> {
        match expr {
            Expr::And(a, b) => match (self.eval(a, cells), self.eval(b, cells)) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            },
            Expr::Or(a, b) => match (self.eval(a, cells), self.eval(b, cells)) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            },
            Expr::Not(inner) => self.eval(inner, cells).map(|b| !b),
            Expr::Const(value) => *value,
            Expr::IsNull { col, negated } => Some(cells[*col].is_none() != *negated),
            Expr::Compare { op, col, ty, right } => {
                let left = cell_key(*ty, cells[*col].as_deref()?, self.collation)?;
                let ordering = match right {
                    Side::Value(value) => left.compare(value)?,
                    Side::Column(other) => {
                        let right = cell_key(*ty, cells[*other].as_deref()?, self.collation)?;
                        left.compare(&right)?
                    }
                };
                Some(op.test(ordering))
            }
            Expr::Like { col, pattern } => {
                let text = cells[*col].as_deref()?;
                Some(pattern.matches(&fold(text, self.collation, false)))
            }
            Expr::In {
                col,
                ty,
                values,
                negated,
            } => {
                let key = cell_key(*ty, cells[*col].as_deref()?, self.collation)?;
                Some(values.contains(&key) != *negated)
            }
        }
    }
}
