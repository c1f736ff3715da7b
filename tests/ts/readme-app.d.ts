// What the README's examples leave to the application: its own inputs, transport and storage.
// Declared here so that tests/ts/readme.mjs can compile the examples as written.
declare const file: File;
declare const onProgress: (p: import("mimi-attachments").Progress) => void;
declare const signal: AbortSignal;
/** Uploads a ciphertext to the app's Delivery Service; resolves to its token. */
declare function upload(ciphertext: ReadableStream<Uint8Array>, size: number): Promise<Uint8Array>;
/** Sends an MLS message to the group through the app's transport. */
declare function send(message: Uint8Array): Promise<void>;
/** A received MLS message. */
declare const bytes: Uint8Array;
declare const db: { put(key: string, value: Uint8Array): void; get(key: string): Promise<Uint8Array> };
declare const messageId: string;
declare const url: string;
declare const ciphertextBlob: Blob;
declare const alice: import("mimi-attachments").MlsClient;
declare const bobDs: import("mimi-attachments").DsClient;
/** The bearer token the app's own login issues for this client (ds/README.md "Client identity"). */
declare function myLoginToken(): Promise<string>;
declare const received: import("mimi-attachments").AttachmentRef;
/** A group Bob is a member of (from joinFromWelcome). */
declare const bobsGroup: import("mimi-attachments").MlsGroup;
/** "Using your own MLS stack": the app's ts-mls group state and suite implementation. */
declare const state: import("ts-mls").ClientState;
declare const impl: import("ts-mls").CiphersuiteImpl;
/** The ts-mls member's leaf signature private key (from its key package's private part). */
declare const signaturePrivateKey: Uint8Array;
declare const plaintext: Uint8Array;
declare const ciphertext: Uint8Array;
declare const contentType: string;
declare const senderLeafIndex: number;
/** Uploads ciphertext bytes to the app's Delivery Service; resolves to its token. */
declare function uploadBytes(ciphertext: Uint8Array): Promise<Uint8Array>;
