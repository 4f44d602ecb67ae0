//! cel-go's sets extension: `sets.contains`, `sets.equivalent`, `sets.intersects` on lists,
//! with CEL equality (`1`, `1u` and `1.0` are one element).

use super::{elements, owned, take};
use cel::common::types::{CelBool, LIST_TYPE};
use cel::common::value::{CowVal, Val};
use cel::{DeclarationError, Env, ExecutionError};

pub(super) fn register(env: &mut Env) -> Result<(), DeclarationError> {
    let lists = || vec![LIST_TYPE, LIST_TYPE];
    env.add_overload(
        "sets.contains",
        "sets.contains(list,list)",
        lists(),
        contains,
    )?;
    env.add_overload(
        "sets.equivalent",
        "sets.equivalent(list,list)",
        lists(),
        equivalent,
    )?;
    env.add_overload(
        "sets.intersects",
        "sets.intersects(list,list)",
        lists(),
        intersects,
    )?;
    Ok(())
}

fn includes_all(function: &str, a: &dyn Val, b: &dyn Val) -> Result<bool, ExecutionError> {
    let (a, b) = (elements(function, a)?, elements(function, b)?);
    Ok(b.iter()
        .all(|x| a.iter().any(|y| y.equals(*x) || x.equals(*y))))
}

fn contains<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let [a, b] = take(args)?;
    let result = includes_all("sets.contains", a.as_ref(), b.as_ref())?;
    Ok(owned(CelBool::from(result)))
}

fn equivalent<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let [a, b] = take(args)?;
    let result = includes_all("sets.equivalent", a.as_ref(), b.as_ref())?
        && includes_all("sets.equivalent", b.as_ref(), a.as_ref())?;
    Ok(owned(CelBool::from(result)))
}

fn intersects<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let [a, b] = take(args)?;
    let (a, b) = (
        elements("sets.intersects", a.as_ref())?,
        elements("sets.intersects", b.as_ref())?,
    );
    let result = a
        .iter()
        .any(|x| b.iter().any(|y| x.equals(*y) || y.equals(*x)));
    Ok(owned(CelBool::from(result)))
}
