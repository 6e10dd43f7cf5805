//! [`Clauses`]: a `WHERE` built from the filters a caller gave, so each listing's statement
//! names only the columns it filters on and both stores can use their indexes (a
//! `?1 IS NULL OR ...` form keeps every filter in the text and hides the index from the
//! planner).

use super::Param;

/// Conditions joined by `AND`, with their parameters numbered in order.
#[derive(Default)]
pub(crate) struct Clauses<'p> {
    conditions: Vec<String>,
    params: Vec<&'p dyn Param>,
}

impl<'p> Clauses<'p> {
    /// Adds `condition`, each `?` in it the next of `params` in turn.
    pub(crate) fn add(&mut self, condition: &str, params: &[&'p dyn Param]) {
        let mut given = params.iter();
        let mut text = String::with_capacity(condition.len() + 8);
        for c in condition.chars() {
            let param = if c == '?' { given.next() } else { None };
            match param {
                Some(p) => text.push_str(&self.placeholder(*p)),
                None => text.push(c),
            }
        }
        self.conditions.push(format!("({text})"));
    }

    /// The placeholder of one more parameter (a `LIMIT`'s), numbered after the others.
    pub(crate) fn placeholder(&mut self, param: &'p dyn Param) -> String {
        self.params.push(param);
        format!("?{}", self.params.len())
    }

    /// `WHERE ...`, or nothing when no condition was added.
    pub(crate) fn sql(&self) -> String {
        if self.conditions.is_empty() {
            return String::new();
        }
        format!("WHERE {}", self.conditions.join(" AND "))
    }

    /// The parameters, in the order their placeholders were numbered.
    pub(crate) fn params(&self) -> &[&'p dyn Param] {
        &self.params
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_across_conditions() {
        let (a, b, n) = ("a".to_owned(), 2_i64, 10_i64);
        let mut w = Clauses::default();
        assert_eq!(w.sql(), "");
        w.add("queue = ?", &[&a]);
        w.add("died < ? OR (died = ? AND key > ?)", &[&b, &b, &a]);
        let limit = w.placeholder(&n);
        assert_eq!(w.sql(), "WHERE (queue = ?1) AND (died < ?2 OR (died = ?3 AND key > ?4))");
        assert_eq!((limit.as_str(), w.params().len()), ("?5", 5));
    }
}
