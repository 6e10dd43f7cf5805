//! How values cross to and from both databases: parameters as [`Value`], columns read by
//! [`Col`], integers of every width through i64, enums as their words.

use rusqlite::types::{ToSqlOutput, ValueRef};

use super::{Col, Param, Row, Value};
use crate::clock::Timestamp;
use crate::error::StoreError;

impl rusqlite::ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match *self {
            Value::Int(n) => ToSqlOutput::from(n),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Value::Null => ToSqlOutput::Owned(rusqlite::types::Value::Null),
        })
    }
}

impl postgres::types::ToSql for Value<'_> {
    fn to_sql(
        &self,
        ty: &postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        use postgres::types::Type;
        match *self {
            Value::Null => Ok(postgres::types::IsNull::Yes),
            Value::Text(s) => s.to_sql(ty, out),
            Value::Int(n) => match *ty {
                Type::INT8 => n.to_sql(ty, out),
                Type::INT4 => i32::try_from(n)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(n)?.to_sql(ty, out),
                Type::BOOL => (n != 0).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR => n.to_string().as_str().to_sql(ty, out),
                _ => Err(format!("an integer parameter cannot bind to {ty}").into()),
            },
        }
    }

    fn accepts(_: &postgres::types::Type) -> bool {
        // Checked per value in `to_sql`, which knows whether it holds text or a number.
        true
    }

    postgres::types::to_sql_checked!();
}

/// A PostgreSQL integer of any width (or a boolean), as i64.
struct PgInt(i64);

impl<'a> postgres::types::FromSql<'a> for PgInt {
    fn from_sql(
        ty: &postgres::types::Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        use postgres::types::Type;
        Ok(PgInt(match *ty {
            Type::INT8 => i64::from_sql(ty, raw)?,
            Type::INT4 => i32::from_sql(ty, raw)?.into(),
            Type::INT2 => i16::from_sql(ty, raw)?.into(),
            Type::BOOL => bool::from_sql(ty, raw)?.into(),
            _ => return Err(format!("column of type {ty} read as an integer").into()),
        }))
    }

    fn accepts(ty: &postgres::types::Type) -> bool {
        use postgres::types::Type;
        matches!(*ty, Type::INT8 | Type::INT4 | Type::INT2 | Type::BOOL)
    }
}

/// Whether column `i` is NULL, whatever its type.
struct PgNull;

impl<'a> postgres::types::FromSql<'a> for PgNull {
    fn from_sql(
        _: &postgres::types::Type,
        _: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Err("not NULL".into())
    }

    fn from_sql_null(
        _: &postgres::types::Type,
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(PgNull)
    }

    fn accepts(_: &postgres::types::Type) -> bool {
        true
    }
}

impl Col for i64 {
    fn read(row: &Row<'_>, i: usize) -> Result<Self, StoreError> {
        match row {
            Row::Lite(r) => Ok(r.get(i)?),
            Row::Pg(r) => Ok(r.try_get::<_, PgInt>(i)?.0),
        }
    }
}

impl Col for String {
    fn read(row: &Row<'_>, i: usize) -> Result<Self, StoreError> {
        match row {
            Row::Lite(r) => Ok(r.get(i)?),
            Row::Pg(r) => Ok(r.try_get(i)?),
        }
    }
}

impl<T: Col> Col for Option<T> {
    fn read(row: &Row<'_>, i: usize) -> Result<Self, StoreError> {
        let null = match row {
            Row::Lite(r) => r.get_ref(i)? == ValueRef::Null,
            Row::Pg(r) => r.try_get::<_, PgNull>(i).is_ok(),
        };
        if null { Ok(None) } else { T::read(row, i).map(Some) }
    }
}

/// Integer columns read through i64, refused when out of the type's range.
macro_rules! int_col {
    ($($t:ty),*) => {$(
        impl Col for $t {
            fn read(row: &Row<'_>, i: usize) -> Result<Self, StoreError> {
                let n = i64::read(row, i)?;
                <$t>::try_from(n).map_err(|_| {
                    StoreError::Inconsistent(format!(
                        "column {i} holds {n}, out of range for {}", stringify!($t)
                    ))
                })
            }
        }
        impl Param for $t {
            fn value(&self) -> Value<'_> {
                // Every value nightshift stores fits; saturate rather than wrap if one does not.
                Value::Int(i64::try_from(*self).unwrap_or(i64::MAX))
            }
        }
    )*};
}
int_col!(u32, u64, i32, usize);

impl Col for bool {
    fn read(row: &Row<'_>, i: usize) -> Result<Self, StoreError> {
        Ok(i64::read(row, i)? != 0)
    }
}

impl Col for Timestamp {
    fn read(row: &Row<'_>, i: usize) -> Result<Self, StoreError> {
        i64::read(row, i).map(Timestamp::from_millis)
    }
}

impl Param for i64 {
    fn value(&self) -> Value<'_> {
        Value::Int(*self)
    }
}

impl Param for bool {
    fn value(&self) -> Value<'_> {
        Value::Int(i64::from(*self))
    }
}

impl Param for str {
    fn value(&self) -> Value<'_> {
        Value::Text(self)
    }
}

impl Param for String {
    fn value(&self) -> Value<'_> {
        Value::Text(self)
    }
}

impl Param for Timestamp {
    fn value(&self) -> Value<'_> {
        Value::Int(self.as_millis())
    }
}

impl<T: Param + ?Sized> Param for &T {
    fn value(&self) -> Value<'_> {
        (**self).value()
    }
}

impl<T: Param> Param for Option<T> {
    fn value(&self) -> Value<'_> {
        self.as_ref().map_or(Value::Null, Param::value)
    }
}

/// A type stored as one of its words (`as_str`) and read back by parsing it.
macro_rules! word_col {
    ($($t:ty),*) => {$(
        impl Param for $t {
            fn value(&self) -> Value<'_> {
                Value::Text(self.as_str())
            }
        }
        impl Col for $t {
            fn read(row: &Row<'_>, i: usize) -> Result<Self, StoreError> {
                let word = String::read(row, i)?;
                word.parse().map_err(|e| StoreError::Inconsistent(format!("column {i}: {e}")))
            }
        }
    )*};
}

word_col!(crate::alerts::AlertKind, crate::job::DeadReason);
