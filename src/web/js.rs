//! JavaScript value helpers shared by every exported function: property get/set, bytes, Promises,
//! and the one check of a JS number argument.

use js_sys::{Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use super::error::js_error;
use crate::Error;

/// `Number.MAX_SAFE_INTEGER` (2^53 - 1): the largest whole number a JS number holds exactly.
pub(crate) const MAX_SAFE: u64 = 9_007_199_254_740_991;

/// Sets a property on a fresh object (cannot fail on one).
pub(crate) fn set(o: &Object, k: &str, v: impl Into<JsValue>) {
    let _ = Reflect::set(o, &JsValue::from_str(k), &v.into());
}

/// A copy of `b` as a `Uint8Array`.
pub(crate) fn bytes(b: &[u8]) -> Uint8Array {
    Uint8Array::from(b)
}

/// Property `k` of an options object; `undefined` when `o` is not an object or has none.
pub(crate) fn get_opt(o: &JsValue, k: &str) -> JsValue {
    if o.is_object() {
        Reflect::get(o, &JsValue::from_str(k)).unwrap_or(JsValue::UNDEFINED)
    } else {
        JsValue::UNDEFINED
    }
}

/// `Promise` of a fallible future, rejecting with a `MimiAttachmentsError`.
pub(crate) fn promise<F, T>(f: F) -> Promise
where
    F: core::future::Future<Output = Result<T, Error>> + 'static,
    T: Into<JsValue>,
{
    // One `future_to_promise` for every export: each instantiation of it carries its own copy of
    // the polling machinery (about a third of the light module was such copies).
    let f: core::pin::Pin<Box<dyn core::future::Future<Output = Result<JsValue, Error>>>> =
        Box::pin(async move { f.await.map(Into::into) });
    settle(f)
}

#[inline(never)]
fn settle(f: core::pin::Pin<Box<dyn core::future::Future<Output = Result<JsValue, Error>>>>) -> Promise {
    future_to_promise(async move { f.await.map_err(js_error) })
}

/// THE check of every JS number argument: a whole number in `0..=max`. A fractional, negative,
/// NaN or infinite value is `InvalidArgument` (a cast would silently make `1.5` into 1 and
/// `undefined` into 0).
pub(crate) fn whole(v: f64, max: u64, what: &str) -> Result<u64, Error> {
    // `max as f64` is exact for every max used here (<= 2^53 - 1).
    if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= max as f64 {
        Ok(v as u64)
    } else {
        // Shown as JS shows it (Rust's f64 formatting would add ~17 KB to the module).
        let got = js_sys::Number::from(v).to_string_with_radix(10).map(String::from).unwrap_or_default();
        Err(Error::InvalidArgument(format!("{what} must be a whole number in 0..={max}, got {got}")))
    }
}

/// [`whole`] of an optional JS value: `None` for `undefined` (and `null`), `InvalidArgument` for
/// anything that is not a number.
pub(crate) fn opt_whole(v: &JsValue, max: u64, what: &str) -> Result<Option<u64>, Error> {
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    let n = v.as_f64().ok_or_else(|| Error::InvalidArgument(format!("{what} must be a number")))?;
    whole(n, max, what).map(Some)
}

/// [`opt_whole`] of a required JS value: `undefined` is `InvalidArgument` too.
pub(crate) fn req_whole(v: &JsValue, max: u64, what: &str) -> Result<u64, Error> {
    opt_whole(v, max, what)?.ok_or_else(|| Error::InvalidArgument(format!("{what} must be a number")))
}

/// The bytes of an optional `Uint8Array` JS value: `None` for `undefined` (and `null`),
/// `InvalidArgument` for anything else that is not a `Uint8Array`.
pub(crate) fn opt_bytes(v: &JsValue, what: &str) -> Result<Option<Vec<u8>>, Error> {
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    v.dyn_ref::<Uint8Array>()
        .map(|a| Some(a.to_vec()))
        .ok_or_else(|| Error::InvalidArgument(format!("{what} must be a Uint8Array")))
}

/// [`whole`] of an optional numeric argument that wasm-bindgen already made an `f64`.
pub(crate) fn opt_whole_f64(v: Option<f64>, max: u64, what: &str) -> Result<Option<u64>, Error> {
    v.map(|n| whole(n, max, what)).transpose()
}
