//! Static files: the demo page (`--www <DIR>`, at `/`) and the package build (`--www-pkg <DIR>`,
//! at `/pkg/`). Only regular files below the directory are served: a request path is
//! percent-decoded and split into segments, and any empty segment, any segment starting with
//! `.` (so `..`, `.` and dotfiles), or containing `\`, `:` or NUL is refused; the resolved file
//! (after symlinks) must still lie inside the canonical directory. Everything refused or missing
//! gets the API's JSON 404.

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio_util::io::ReaderStream;

use crate::error::ApiError;

/// The Content-Security-Policy of every HTML (and SVG) file served.
pub const PAGE_CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; img-src 'self' blob: data:; \
     media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/// URL prefix of the `--www-pkg` directory.
pub const PKG_PREFIX: &str = "/pkg/";

/// The directories to serve, canonicalized at startup.
#[derive(Debug, Clone, Default)]
pub struct StaticRoots {
    /// `--www`: served at `/`.
    pub www: Option<PathBuf>,
    /// `--www-pkg`: served at `/pkg/`.
    pub pkg: Option<PathBuf>,
}

fn canonical_dir(flag: &str, dir: &Path) -> std::io::Result<PathBuf> {
    let c = std::fs::canonicalize(dir)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{flag} {}: {e}", dir.display())))?;
    if !c.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotADirectory,
            format!("{flag} {}: not a directory", dir.display()),
        ));
    }
    Ok(c)
}

impl StaticRoots {
    /// Canonicalizes the configured directories; fails if one is not a directory.
    pub fn open(www: Option<&Path>, pkg: Option<&Path>) -> std::io::Result<Self> {
        Ok(Self {
            www: www.map(|d| canonical_dir("--www", d)).transpose()?,
            pkg: pkg.map(|d| canonical_dir("--www-pkg", d)).transpose()?,
        })
    }

    /// Whether anything is served.
    pub fn is_enabled(&self) -> bool {
        self.www.is_some() || self.pkg.is_some()
    }

    /// The response for a request outside `/v1` (the router's fallback).
    pub async fn serve(&self, method: &Method, path: &str) -> Response {
        let (root, rel) = match (&self.pkg, path.strip_prefix(PKG_PREFIX)) {
            (Some(pkg), Some(rel)) => (pkg, rel),
            _ => match (&self.www, path.strip_prefix('/')) {
                (Some(www), Some(rel)) => (www, rel),
                _ => return ApiError::not_found().into_response(),
            },
        };
        if method != Method::GET && method != Method::HEAD {
            return ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", "only GET and HEAD")
                .with_header("allow", "GET, HEAD")
                .into_response();
        }
        match open_below(root, rel).await {
            Some((file, len, ext)) => file_response(method, file, len, &ext),
            None => ApiError::not_found().into_response(),
        }
    }
}

/// Decodes `%XX` escapes; `None` for a malformed escape or a result that is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The path below `root` named by the URL path `rel` (without its leading `/`); `None` if any
/// segment could leave the directory or names a hidden file. An empty `rel` is `index.html`.
pub fn resolve(root: &Path, rel: &str) -> Option<PathBuf> {
    let decoded = percent_decode(rel)?;
    if decoded.is_empty() {
        return Some(root.join("index.html"));
    }
    let mut p = root.to_path_buf();
    for seg in decoded.split('/') {
        if seg.is_empty() || seg.starts_with('.') || seg.contains(['\\', ':', '\0']) {
            return None;
        }
        p.push(seg);
    }
    Some(p)
}

/// Opens the regular file `rel` below `root` (symlinks allowed only if they stay inside).
async fn open_below(root: &Path, rel: &str) -> Option<(tokio::fs::File, u64, String)> {
    let p = resolve(root, rel)?;
    let real = tokio::fs::canonicalize(&p).await.ok()?;
    if !real.starts_with(root) {
        return None;
    }
    let file = tokio::fs::File::open(&real).await.ok()?;
    let meta = file.metadata().await.ok()?;
    if !meta.is_file() {
        return None;
    }
    let ext = real.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    Some((file, meta.len(), ext))
}

/// The Content-Type of a file extension (lower case).
pub fn content_type(ext: &str) -> &'static str {
    match ext {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "ico" => "image/x-icon",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "ts" | "txt" | "md" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn file_response(method: &Method, file: tokio::fs::File, len: u64, ext: &str) -> Response {
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        Body::from_stream(ReaderStream::with_capacity(file, 64 * 1024))
    };
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(ext)));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if matches!(ext, "html" | "htm" | "svg") {
        h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_CSP));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_refuses_everything_that_could_leave_the_directory() {
        let root = Path::new("/srv/www");
        assert_eq!(resolve(root, ""), Some(root.join("index.html")));
        assert_eq!(resolve(root, "app.js"), Some(root.join("app.js")));
        assert_eq!(resolve(root, "a/b%20c.js"), Some(root.join("a/b c.js")));
        for bad in [
            "..",
            "../x",
            "a/../../x",
            "%2e%2e/x",
            "%2E%2E%2Fx",
            "a/..%2f..%2fx",
            "/etc/passwd",
            "%2fetc%2fpasswd",
            "a//b",
            "a/",
            ".git/config",
            ".env",
            "a\\..\\x",
            "a%5c..%5cx",
            "c:/x",
            "a%00.js",
            "%zz",
            "%2",
            "%ff",
        ] {
            assert_eq!(resolve(root, bad), None, "{bad}");
        }
    }

    #[test]
    fn mime_types() {
        assert_eq!(content_type("html"), "text/html; charset=utf-8");
        assert_eq!(content_type("mjs"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("wasm"), "application/wasm");
        assert_eq!(content_type("ts"), "text/plain; charset=utf-8");
        assert_eq!(content_type("exe"), "application/octet-stream");
    }
}
