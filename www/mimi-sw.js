// The demo's Service Worker: only the package's streaming worker (pkg/sw.js), registered from the
// site's root so that its scope covers the page. It answers only …/__mimi-attachments/… URLs.
importScripts("/pkg/sw.js");
