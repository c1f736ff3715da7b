//! `--www` / `--www-pkg`: the DS serves the demo page and the package build, with MIME types,
//! security headers and no way out of the directories.

mod common;

use std::path::Path;

use clap::Parser as _;
use common::*;

const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; img-src 'self' blob: data:; \
media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

const SECRET: &str = "TOP-SECRET-OUTSIDE-THE-WWW-DIR";

struct Site {
    _tmp: tempfile::TempDir,
    www: std::path::PathBuf,
    pkg: std::path::PathBuf,
}

fn write(p: &Path, data: &[u8]) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
}

/// `<tmp>/www` (the page), `<tmp>/pkg` (the package), `<tmp>/secret.txt` and `<tmp>/private/`
/// outside both, and symlinks pointing in and out.
fn site() -> Site {
    let tmp = tempfile::tempdir().unwrap();
    let (www, pkg) = (tmp.path().join("www"), tmp.path().join("pkg"));
    write(&www.join("index.html"), b"<!doctype html><title>demo</title>");
    write(&www.join("app.js"), b"console.log('app');");
    write(&www.join("mod.mjs"), b"export const x = 1;");
    write(&www.join("x.wasm"), b"\0asm\x01\0\0\0");
    write(&www.join("style.css"), b"body{}");
    write(&www.join("icon.svg"), b"<svg xmlns='http://www.w3.org/2000/svg'/>");
    write(&www.join("img.png"), b"\x89PNG\r\n\x1a\n");
    write(&www.join("data.json"), b"{}");
    write(&www.join("types.d.ts"), b"export type A = 1;");
    write(&www.join("blob.bin"), b"\x01\x02");
    write(&www.join("sub/page.html"), b"<p>sub</p>");
    write(&www.join("sub/a b.js"), b"// space");
    write(&www.join(".hidden"), b"dotfile");
    write(&www.join("pkg/shadowed.js"), b"www's own pkg dir");
    write(&pkg.join("mimi_attachments.js"), b"export default function init() {}");
    write(&pkg.join("mimi_attachments_bg.wasm"), b"\0asm\x01\0\0\0pkg");
    write(&pkg.join("package.json"), b"{\"name\":\"mimi-attachments\"}");
    write(&tmp.path().join("secret.txt"), SECRET.as_bytes());
    write(&tmp.path().join("private/secret.js"), SECRET.as_bytes());
    #[cfg(unix)]
    {
        use std::os::unix::fs::symlink;
        symlink(tmp.path().join("secret.txt"), www.join("escape.txt")).unwrap();
        symlink(tmp.path().join("private"), www.join("escape_dir")).unwrap();
        symlink("/etc/passwd", www.join("passwd.txt")).unwrap();
        symlink(tmp.path().join("secret.txt"), pkg.join("escape.js")).unwrap();
        symlink(www.join("app.js"), www.join("inside.js")).unwrap();
    }
    Site { _tmp: tmp, www, pkg }
}

async fn start(s: &Site, pkg: bool) -> Ds {
    let (www, pkgdir) = (s.www.clone(), s.pkg.clone());
    Ds::start(move |c| {
        c.www = Some(www);
        c.www_pkg = pkg.then_some(pkgdir);
    })
    .await
}

/// One raw HTTP/1.1 request with the target exactly as given (reqwest would normalize `..`).
async fn raw_get(base: &str, target: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let addr = base.strip_prefix("http://").unwrap();
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut out)).await.unwrap().unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, text)
}

#[tokio::test]
async fn www_and_www_pkg_serve_files_with_mime_types_and_security_headers() {
    let s = site();
    let ds = start(&s, true).await;
    let get = |p: &str| ds.http.get(ds.url(p)).send();

    let r = get("/").await.unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    assert_eq!(h["cache-control"], "no-cache");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["content-security-policy"], CSP);
    assert_eq!(r.text().await.unwrap(), "<!doctype html><title>demo</title>");

    for (path, mime, body) in [
        ("/index.html", "text/html; charset=utf-8", &b"<!doctype html><title>demo</title>"[..]),
        ("/app.js", "text/javascript; charset=utf-8", b"console.log('app');"),
        ("/mod.mjs", "text/javascript; charset=utf-8", b"export const x = 1;"),
        ("/x.wasm", "application/wasm", b"\0asm\x01\0\0\0"),
        ("/style.css", "text/css; charset=utf-8", b"body{}"),
        ("/icon.svg", "image/svg+xml", b"<svg xmlns='http://www.w3.org/2000/svg'/>"),
        ("/img.png", "image/png", b"\x89PNG\r\n\x1a\n"),
        ("/data.json", "application/json", b"{}"),
        ("/types.d.ts", "text/plain; charset=utf-8", b"export type A = 1;"),
        ("/blob.bin", "application/octet-stream", b"\x01\x02"),
        ("/sub/page.html", "text/html; charset=utf-8", b"<p>sub</p>"),
        ("/sub/a%20b.js", "text/javascript; charset=utf-8", b"// space"),
        ("/inside.js", "text/javascript; charset=utf-8", b"console.log('app');"),
        ("/pkg/mimi_attachments.js", "text/javascript; charset=utf-8", b"export default function init() {}"),
        ("/pkg/mimi_attachments_bg.wasm", "application/wasm", b"\0asm\x01\0\0\0pkg"),
        ("/pkg/package.json", "application/json", b"{\"name\":\"mimi-attachments\"}"),
        ("/app.js?v=123", "text/javascript; charset=utf-8", b"console.log('app');"),
    ] {
        let r = get(path).await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let h = r.headers().clone();
        assert_eq!(h["content-type"], mime, "{path}");
        assert_eq!(h["cache-control"], "no-cache", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["content-length"], body.len().to_string().as_str(), "{path}");
        let is_page = mime.starts_with("text/html") || mime == "image/svg+xml";
        assert_eq!(h.get("content-security-policy").is_some(), is_page, "{path}");
        if is_page {
            assert_eq!(h["content-security-policy"], CSP, "{path}");
        }
        assert_eq!(r.bytes().await.unwrap().as_ref(), body, "{path}");
    }
    // HEAD: headers, no body.
    let r = ds.http.head(ds.url("/pkg/mimi_attachments_bg.wasm")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/wasm");
    assert_eq!(r.headers()["content-length"], "11");
    assert!(r.bytes().await.unwrap().is_empty());

    // /pkg/ is the --www-pkg directory (www's own pkg/ is shadowed); missing files: JSON 404.
    for path in ["/pkg/shadowed.js", "/missing.js", "/pkg/", "/sub", "/pkg/missing.wasm"] {
        let r = get(path).await.unwrap();
        assert_eq!(code_of(r).await, (404, "NotFound".into()), "{path}");
    }
    // Other methods are not allowed.
    let r = ds.http.post(ds.url("/app.js")).body("x").send().await.unwrap();
    assert_eq!(r.headers()["allow"], "GET, HEAD");
    assert_eq!(code_of(r).await, (405, "MethodNotAllowed".into()));

    // The API keeps precedence, and /v1 never falls through to the files.
    assert_eq!(get("/v1/health").await.unwrap().text().await.unwrap(), "ok");
    write(&s.www.join("v1/health"), b"shadow");
    write(&s.www.join("v1/other.js"), b"shadow");
    assert_eq!(get("/v1/health").await.unwrap().text().await.unwrap(), "ok");
    assert_eq!(code_of(get("/v1/other.js").await.unwrap()).await, (404, "NotFound".into()));
    assert_eq!(code_of(get("/v1").await.unwrap()).await, (404, "NotFound".into()));
    // A real API call still works with the page served.
    let mut alice = Member::new("alice");
    let gid = alice.create_group(&ds).await;
    let token = alice.upload(&ds, &gid, b"hello").await.unwrap();
    assert_eq!(alice.download(&ds, &gid, &token).await.unwrap(), b"hello");
}

#[tokio::test]
async fn www_refuses_traversal_absolute_paths_dotfiles_and_symlinks_leading_out() {
    let s = site();
    let ds = start(&s, true).await;
    for target in [
        "/../secret.txt",
        "/../../../../etc/passwd",
        "/sub/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E%2Fsecret.txt",
        "/sub/..%2f..%2fsecret.txt",
        "/pkg/../secret.txt",
        "/pkg/%2e%2e/secret.txt",
        "/pkg/..%2f..%2fsecret.txt",
        "//etc/passwd",
        "/%2fetc%2fpasswd",
        "/pkg//etc/passwd",
        "/..%5csecret.txt",
        "/sub\\..\\..\\secret.txt",
        "/.hidden",
        "/%2ehidden",
        "/./index.html",
        "/index.html%00.js",
        "/escape.txt",
        "/escape_dir/secret.js",
        "/passwd.txt",
        "/pkg/escape.js",
        "/%zz",
        "http://127.0.0.1/../secret.txt",
    ] {
        let (status, text) = raw_get(&ds.base, target).await;
        assert!(status == 404 || status == 400, "{target}: {status}\n{text}");
        assert!(!text.contains(SECRET), "{target} leaked the secret");
        assert!(!text.contains("root:"), "{target} leaked /etc/passwd");
    }
    // Files inside (also through a symlink that stays inside) are served over the same raw path.
    let (status, text) = raw_get(&ds.base, "/inside.js").await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(raw_get(&ds.base, "/sub/page.html").await.0, 200);
}

#[tokio::test]
async fn without_www_nothing_but_the_api_is_served_and_a_bad_dir_fails_at_startup() {
    let s = site();
    let ds = Ds::start(|_| {}).await;
    for path in ["/", "/index.html", "/pkg/mimi_attachments.js"] {
        let r = ds.http.get(ds.url(path)).send().await.unwrap();
        assert_eq!(code_of(r).await, (404, "NotFound".into()), "{path}");
    }
    // Only --www-pkg: /pkg/ served, / not.
    let pkg = s.pkg.clone();
    let ds = Ds::start(move |c| c.www_pkg = Some(pkg)).await;
    assert_eq!(ds.http.get(ds.url("/pkg/package.json")).send().await.unwrap().status(), 200);
    assert_eq!(ds.http.get(ds.url("/")).send().await.unwrap().status(), 404);

    // The flags parse; a missing or non-directory --www refuses to start.
    let c = mimi_ds::Config::try_parse_from(["mimi-ds", "--www", "www", "--www-pkg", "pkg"]).unwrap();
    assert_eq!(c.www.as_deref(), Some(Path::new("www")));
    assert_eq!(c.www_pkg.as_deref(), Some(Path::new("pkg")));
    for bad in [s.www.join("nope"), s.www.join("index.html")] {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = mimi_ds::Config::for_data_dir(dir.path()).unwrap();
        cfg.dev_identity = true;
        cfg.www = Some(bad.clone());
        let err = mimi_ds::start(cfg).await.err().expect("must not start");
        assert!(err.to_string().contains("--www"), "{err}");
    }
}
