/** A URL the streaming Service Worker serves, with what it served so far. */
export interface ServedAttachment {
  /** Same-origin URL under the worker's scope: a `<video>`/`<audio>`/`<img>` src, or for `download()`. */
  url: string;
  /** Requests (Range or whole), plaintext bytes handed to the worker, and each request's [start, end). */
  stats: { requests: number; bytes: number; ranges: [number, number][] };
  /** Stops serving the URL (requests for it then get 404). */
  revoke(): void;
}

/** Anything with the DsClient methods the server uses. */
export interface RangeSource<G, R> {
  download(group: G, reference: R): Promise<ReadableStream<Uint8Array>>;
  downloadRange(group: G, reference: R, start: number, end: number): Promise<Uint8Array>;
}

/** The page side of `mimi-attachments/sw.js`. */
export declare class AttachmentServer {
  /** How often (ms) the page pings the worker while a response streams, so that the browser
   *  does not end the worker mid-download (Firefox ends an idle worker after 30 s). Default 10000. */
  static keepaliveMs: number;
  /** Registers (or reuses) the worker at `swUrl` and waits until it controls this page. */
  static register(swUrl: string, options?: RegistrationOptions): Promise<AttachmentServer>;
  constructor(scope: string);
  /** Serves `size` bytes; `open(start, end)` gives bytes [start, end) as a stream. */
  serve(entry: {
    name?: string;
    type?: string;
    size: number;
    open(start: number, end: number): ReadableStream<Uint8Array> | Promise<ReadableStream<Uint8Array>>;
  }): ServedAttachment;
  /** Serves a received attachment through a DsClient (whole file: hash verified; ranges: chunks verified). */
  serveAttachment<G, R extends { readonly size?: number | undefined }>(
    ds: RangeSource<G, R>,
    group: G,
    reference: R,
    options?: { name?: string; type?: string },
  ): ServedAttachment;
  /** Starts a browser download of a served URL, written to disk as it decrypts. */
  download(url: string): void;
}
