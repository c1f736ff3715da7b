//! Client identity at the Delivery Service: the bearer token of the key-package, Welcome and
//! group-registration routes (issued by the operator's login, or by a development-mode DS's
//! `POST /v1/dev/login`).

use js_sys::{Object, Reflect};
use wasm_bindgen::prelude::*;

use super::super::error::describe;
use super::super::js::set;
use super::http::{json_of, Req};
use super::DsClient;
use crate::Error;

/// The bearer token (shared by the clones of a `DsClient`); `dev_login`: fetch one from a
/// development-mode DS when none was given.
#[derive(Clone, Default)]
pub(super) struct ClientAuth {
    token: std::rc::Rc<std::cell::RefCell<Option<String>>>,
    dev_login: bool,
    /// The development login's client name in the light build (`options.identity`).
    #[cfg(not(feature = "mls"))]
    identity: String,
}

impl ClientAuth {
    /// From the constructor's `options` (`{authToken?, devLogin?}`; anything else is ignored).
    pub(super) fn from_options(options: &JsValue) -> ClientAuth {
        let get = |k: &str| Reflect::get(options, &k.into()).ok().filter(|v| !v.is_undefined() && !v.is_null());
        ClientAuth {
            token: std::rc::Rc::new(std::cell::RefCell::new(get("authToken").and_then(|v| v.as_string()))),
            dev_login: get("devLogin").and_then(|v| v.as_bool()).unwrap_or(false),
            #[cfg(not(feature = "mls"))]
            identity: get("identity").and_then(|v| v.as_string()).unwrap_or_else(|| "external".into()),
        }
    }

    pub(super) fn set(&self, token: Option<String>) {
        self.token.replace(token);
    }
}

impl DsClient {
    /// `Authorization: Bearer` for the client routes: the configured token, else (with
    /// `devLogin`) one from the development login; none otherwise.
    pub(super) async fn bearer(&self) -> Result<Option<String>, Error> {
        if let Some(t) = self.auth.token.borrow().clone() {
            return Ok(Some(format!("Bearer {t}")));
        }
        if !self.auth.dev_login {
            return Ok(None);
        }
        #[cfg(feature = "mls")]
        let name = String::from_utf8_lossy(self.h.client().identity()).into_owned();
        #[cfg(not(feature = "mls"))]
        let name = self.auth.identity.clone();
        let body = js_sys::JSON::stringify(&{
            let o = Object::new();
            set(&o, "client", name.as_str());
            o.into()
        })
        .map_err(|e| Error::Platform(describe(&e)))?;
        let req =
            || Req::new("POST", "/v1/dev/login".into()).header("content-type", "application/json").body(body.clone());
        let v = json_of(self.send(None, req).await?).await?;
        let t = Reflect::get(&v, &"token".into()).ok().and_then(|t| t.as_string());
        let t = t.ok_or_else(|| Error::Platform("the development login returned no token".into()))?;
        self.auth.token.replace(Some(t.clone()));
        Ok(Some(format!("Bearer {t}")))
    }

    /// `req` with the bearer token, if any.
    pub(super) fn with_bearer(req: Req, bearer: &Option<String>) -> Req {
        match bearer {
            Some(b) => req.header("authorization", b.clone()),
            None => req,
        }
    }
}
