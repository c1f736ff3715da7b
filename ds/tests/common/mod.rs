//! Test helpers: real openmls members that talk to a real DS over HTTP on 127.0.0.1.
#![allow(dead_code)]

use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use mimi_attachments::auth::{body_hash, fresh_nonce, DsRequestTbs, SignedDsRequest, AUTH_HEADER};
use mimi_attachments::wire::{decode_exact, encode, UploadAttachmentRequest, UploadAttachmentResponse};
use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;

pub const CS: Ciphersuite = Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519;

pub fn b64(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

/// A client with one identity and (possibly) several groups.
pub struct Member {
    pub name: String,
    pub provider: OpenMlsRustCrypto,
    pub signer: SignatureKeyPair,
    pub cred: CredentialWithKey,
    pub groups: Vec<MlsGroup>,
}

pub fn join_config() -> MlsGroupJoinConfig {
    MlsGroupJoinConfig::builder()
        .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
        .use_ratchet_tree_extension(true)
        .build()
}

impl Member {
    pub fn new(name: &str) -> Self {
        let provider = OpenMlsRustCrypto::default();
        let signer = SignatureKeyPair::new(CS.signature_algorithm()).unwrap();
        signer.store(provider.storage()).unwrap();
        let cred = CredentialWithKey {
            credential: BasicCredential::new(name.as_bytes().to_vec()).into(),
            signature_key: signer.public().into(),
        };
        Self { name: name.into(), provider, signer, cred, groups: vec![] }
    }

    pub fn client_id(&self) -> String {
        b64(self.name.as_bytes())
    }

    pub fn key_package(&self) -> KeyPackage {
        KeyPackage::builder().build(CS, &self.provider, &self.signer, self.cred.clone()).unwrap().key_package().clone()
    }

    pub fn group(&self, gid: &[u8]) -> &MlsGroup {
        self.groups.iter().find(|g| g.group_id().as_slice() == gid).expect("member of group")
    }
    pub fn group_mut(&mut self, gid: &[u8]) -> &mut MlsGroup {
        self.groups.iter_mut().find(|g| g.group_id().as_slice() == gid).expect("member of group")
    }

    /// Creates a group and registers it with the DS; returns the group id.
    pub async fn create_group(&mut self, ds: &Ds) -> Vec<u8> {
        let cfg = MlsGroupCreateConfig::builder()
            .ciphersuite(CS)
            .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
            .use_ratchet_tree_extension(true)
            .build();
        let g = MlsGroup::new(&self.provider, &self.signer, &cfg, self.cred.clone()).unwrap();
        let gi = g.export_group_info(self.provider.crypto(), &self.signer, true).unwrap();
        let r = ds
            .http
            .post(ds.url("/v1/groups"))
            .bearer_auth(ds.token(&self.name).await)
            .body(gi.tls_serialize_detached().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "register: {}", r.text().await.unwrap());
        let gid = g.group_id().as_slice().to_vec();
        self.groups.push(g);
        gid
    }

    /// The handshake body for the pending commit: commit || GroupInfo [|| Welcome].
    pub fn commit_body(&mut self, gid: &[u8], commit: MlsMessageOut, welcome: Option<MlsMessageOut>) -> Vec<u8> {
        let (provider, signer) = (&self.provider, &self.signer);
        let g = self.groups.iter_mut().find(|g| g.group_id().as_slice() == gid).unwrap();
        g.merge_pending_commit(provider).unwrap();
        let gi = g.export_group_info(provider.crypto(), signer, true).unwrap();
        let mut body = commit.tls_serialize_detached().unwrap();
        body.extend(gi.tls_serialize_detached().unwrap());
        if let Some(w) = welcome {
            body.extend(w.tls_serialize_detached().unwrap());
        }
        body
    }

    /// Adds `new` (using a key package published to and claimed from the DS); `others` are the
    /// remaining members, who process the commit from the DS relay.
    pub async fn add(&mut self, ds: &Ds, gid: &[u8], new: &mut Member, others: &mut [&mut Member]) {
        let kp = MlsMessageOut::from(new.key_package());
        let r = ds
            .http
            .post(ds.url(&format!("/v1/clients/{}/key-packages", new.client_id())))
            .bearer_auth(ds.token(&new.name).await)
            .body(kp.tls_serialize_detached().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        let r = ds
            .http
            .post(ds.url(&format!("/v1/clients/{}/key-packages/claim", new.client_id())))
            .bearer_auth(ds.token(&self.name).await)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let kp_bytes = r.bytes().await.unwrap();
        let kp = match MlsMessageIn::tls_deserialize_exact(&kp_bytes).unwrap().extract() {
            MlsMessageBodyIn::KeyPackage(kp) => kp.validate(self.provider.crypto(), ProtocolVersion::Mls10).unwrap(),
            _ => panic!("not a key package"),
        };
        let (provider, signer) = (&self.provider, &self.signer);
        let g = self.groups.iter_mut().find(|g| g.group_id().as_slice() == gid).unwrap();
        let (commit, welcome, _) = g.add_members(provider, signer, &[kp]).unwrap();
        let commit_bytes = commit.tls_serialize_detached().unwrap();
        let body = self.commit_body(gid, commit, Some(welcome));
        ds.handshake(gid, body).await;
        // The new member fetches its Welcome from its mailbox.
        let r = ds
            .http
            .get(ds.url(&format!("/v1/clients/{}/welcome", new.client_id())))
            .bearer_auth(ds.token(&new.name).await)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let w = match MlsMessageIn::tls_deserialize_exact(r.bytes().await.unwrap()).unwrap().extract() {
            MlsMessageBodyIn::Welcome(w) => w,
            _ => panic!("not a welcome"),
        };
        let g = StagedWelcome::new_from_welcome(&new.provider, &join_config(), w, None)
            .unwrap()
            .into_group(&new.provider)
            .unwrap();
        new.groups.push(g);
        for o in others.iter_mut() {
            o.process_commit(gid, &commit_bytes);
        }
    }

    /// Removes the member at `leaf`; `others` process the commit.
    pub async fn remove(&mut self, ds: &Ds, gid: &[u8], leaf: u32, others: &mut [&mut Member]) {
        let (provider, signer) = (&self.provider, &self.signer);
        let g = self.groups.iter_mut().find(|g| g.group_id().as_slice() == gid).unwrap();
        let (commit, _, _) = g.remove_members(provider, signer, &[LeafNodeIndex::new(leaf)]).unwrap();
        let commit_bytes = commit.tls_serialize_detached().unwrap();
        let body = self.commit_body(gid, commit, None);
        ds.handshake(gid, body).await;
        for o in others.iter_mut() {
            o.process_commit(gid, &commit_bytes);
        }
    }

    pub fn process_commit(&mut self, gid: &[u8], bytes: &[u8]) {
        let provider = &self.provider;
        let g = self.groups.iter_mut().find(|g| g.group_id().as_slice() == gid).unwrap();
        let pm = MlsMessageIn::tls_deserialize_exact(bytes).unwrap().try_into_protocol_message().unwrap();
        let processed = g.process_message(provider, pm).unwrap();
        if let ProcessedMessageContent::StagedCommitMessage(sc) = processed.into_content() {
            g.merge_staged_commit(provider, *sc).unwrap();
        } else {
            panic!("not a commit");
        }
    }

    pub fn leaf(&self, gid: &[u8]) -> u32 {
        self.group(gid).own_leaf_index().u32()
    }
    pub fn epoch(&self, gid: &[u8]) -> u64 {
        self.group(gid).epoch().as_u64()
    }

    /// The signed-request header for this member in group `gid` (its current epoch and leaf).
    pub fn auth(&self, gid: &[u8], method: &str, target: &str, body: &[u8]) -> String {
        // A non-member claims leaf 0 at epoch 1.
        let (epoch, leaf) = match self.groups.iter().find(|g| g.group_id().as_slice() == gid) {
            Some(g) => (g.epoch().as_u64(), g.own_leaf_index().u32()),
            None => (1, 0),
        };
        self.auth_with(gid, epoch, leaf, method, target, body_hash(body), now_ms())
    }

    #[allow(clippy::too_many_arguments)]
    pub fn auth_with(
        &self,
        gid: &[u8],
        epoch: u64,
        leaf: u32,
        method: &str,
        target: &str,
        hash: [u8; 32],
        ts: u64,
    ) -> String {
        let tbs = DsRequestTbs::new(gid, epoch, leaf, method, target, hash, ts, fresh_nonce().unwrap());
        SignedDsRequest::sign(tbs, &self.signer).unwrap().to_header().unwrap()
    }

    /// One-shot upload; returns (status, token or error code).
    pub async fn upload(&self, ds: &Ds, gid: &[u8], content: &[u8]) -> Result<Vec<u8>, (u16, String)> {
        let body = encode(&UploadAttachmentRequest { group_id: gid.to_vec().into(), content: content.to_vec().into() })
            .unwrap();
        let h = self.auth(gid, "POST", "/v1/attachments", &body);
        let r = ds.http.post(ds.url("/v1/attachments")).header(AUTH_HEADER, h).body(body).send().await.unwrap();
        token_or_code(r).await
    }

    /// Resumable upload in chunks of `chunk` bytes; returns the token.
    pub async fn upload_resumable(
        &self,
        ds: &Ds,
        gid: &[u8],
        content: &[u8],
        chunk: usize,
    ) -> Result<Vec<u8>, (u16, String)> {
        let loc = self.create_upload(ds, gid, content.len() as u64).await?;
        let mut off = 0usize;
        loop {
            let end = (off + chunk).min(content.len());
            let r = self.patch(ds, gid, &loc, off as u64, content[off..end].to_vec()).await;
            if end == content.len() {
                assert_eq!(r.status(), 201);
                assert_eq!(r.headers()["upload-complete"], "?1");
                return token_or_code(r).await;
            }
            if r.status() != 204 {
                return Err(code_of(r).await);
            }
            assert_eq!(r.headers()["upload-offset"].to_str().unwrap(), end.to_string());
            off = end;
        }
    }

    /// Creates a resumable upload; returns its Location.
    pub async fn create_upload(&self, ds: &Ds, gid: &[u8], len: u64) -> Result<String, (u16, String)> {
        let h = self.auth(gid, "POST", "/v1/uploads", b"");
        let r = ds
            .http
            .post(ds.url("/v1/uploads"))
            .header(AUTH_HEADER, h)
            .header("upload-length", len)
            .send()
            .await
            .unwrap();
        if r.status() != 201 {
            return Err(code_of(r).await);
        }
        assert_eq!(r.headers()["upload-offset"], "0");
        Ok(r.headers()["location"].to_str().unwrap().to_owned())
    }

    pub async fn patch(&self, ds: &Ds, gid: &[u8], loc: &str, offset: u64, data: Vec<u8>) -> reqwest::Response {
        let h = self.auth(gid, "PATCH", loc, &data);
        ds.http
            .patch(ds.url(loc))
            .header(AUTH_HEADER, h)
            .header("upload-offset", offset)
            .header("content-type", "application/partial-upload")
            .body(data)
            .send()
            .await
            .unwrap()
    }

    pub async fn head_upload(&self, ds: &Ds, gid: &[u8], loc: &str) -> reqwest::Response {
        let h = self.auth(gid, "HEAD", loc, b"");
        ds.http.head(ds.url(loc)).header(AUTH_HEADER, h).send().await.unwrap()
    }

    /// GET download; returns (status, body or error code).
    pub async fn download(&self, ds: &Ds, gid: &[u8], token: &[u8]) -> Result<Vec<u8>, (u16, String)> {
        let path = format!("/v1/attachments/{}", b64(token));
        let h = self.auth(gid, "GET", &path, b"");
        let r = ds.http.get(ds.url(&path)).header(AUTH_HEADER, h).send().await.unwrap();
        if r.status() != 200 {
            return Err(code_of(r).await);
        }
        Ok(r.bytes().await.unwrap().to_vec())
    }

    pub async fn delete(&self, ds: &Ds, gid: &[u8], token: &[u8]) -> u16 {
        let path = format!("/v1/attachments/{}", b64(token));
        let h = self.auth(gid, "DELETE", &path, b"");
        ds.http.delete(ds.url(&path)).header(AUTH_HEADER, h).send().await.unwrap().status().as_u16()
    }
}

pub async fn code_of(r: reqwest::Response) -> (u16, String) {
    let s = r.status().as_u16();
    let t = r.text().await.unwrap();
    let v: serde_json::Value = serde_json::from_str(&t).unwrap_or_else(|_| panic!("not JSON: {t}"));
    (s, v["code"].as_str().unwrap().to_owned())
}

pub async fn token_or_code(r: reqwest::Response) -> Result<Vec<u8>, (u16, String)> {
    if r.status() == 201 {
        let b = r.bytes().await.unwrap();
        let resp: UploadAttachmentResponse = decode_exact(&b).unwrap();
        Ok(resp.token.as_slice().to_vec())
    } else {
        Err(code_of(r).await)
    }
}

/// The default configuration with development identity (`--dev-identity`) on `data`.
pub fn dev_config(data: &Path) -> mimi_ds::Config {
    let mut c = mimi_ds::Config::for_data_dir(data).unwrap();
    c.dev_identity = true;
    c
}

/// A DS under test (in-process) and an HTTP client.
pub struct Ds {
    pub base: String,
    pub http: reqwest::Client,
    pub running: Option<mimi_ds::RunningDs>,
    pub dir: Option<tempfile::TempDir>,
    /// Token-mode secret shared by several DS processes (replicas): tokens are minted here
    /// instead of by one replica's development login, whose key is per process.
    pub secret: Option<Vec<u8>>,
}

impl Ds {
    pub async fn start(tune: impl FnOnce(&mut mimi_ds::Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = mimi_ds::Config::for_data_dir(dir.path()).unwrap();
        backend::configure(&mut cfg);
        cfg.dev_identity = true;
        tune(&mut cfg);
        let running = mimi_ds::start(cfg).await.unwrap();
        Self { base: running.url(), http: reqwest::Client::new(), running: Some(running), dir: Some(dir), secret: None }
    }

    pub fn at(base: String) -> Self {
        Self { base, http: reqwest::Client::new(), running: None, dir: None, secret: None }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A bearer token for `client` from the development login (`--dev-identity`), or minted with
    /// the shared token secret.
    pub async fn token(&self, client: &str) -> String {
        if let Some(secret) = &self.secret {
            return mimi_ds::identity::Identity::with_secret(secret).issue(client, 3600).unwrap();
        }
        let r = self
            .http
            .post(self.url("/v1/dev/login"))
            .json(&serde_json::json!({ "client": client }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "dev login");
        let v: serde_json::Value = r.json().await.unwrap();
        v["token"].as_str().unwrap().to_owned()
    }

    pub fn app(&self) -> &mimi_ds::App {
        &self.running.as_ref().unwrap().app
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.as_ref().unwrap().path()
    }

    pub async fn handshake(&self, gid: &[u8], body: Vec<u8>) {
        let r =
            self.http.post(self.url(&format!("/v1/groups/{}/handshake", b64(gid)))).body(body).send().await.unwrap();
        assert_eq!(r.status(), 200, "handshake: {}", r.text().await.unwrap());
    }
}

pub mod backend;

/// Number of files in `<data>/<sub>`.
/// With `MIMI_DS_TEST_BACKEND=pg-s3`, the same count in the DS's bucket prefix.
pub fn files_in(data: &Path, sub: &str) -> usize {
    if let Some(url) = backend::blobs_for(data) {
        return backend::count_objects(&url, sub);
    }
    std::fs::read_dir(data.join(sub)).map(|d| d.count()).unwrap_or(0)
}

pub fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    use rand::{RngCore, SeedableRng};
    let mut r = rand::rngs::StdRng::seed_from_u64(seed);
    let mut v = vec![0u8; n];
    r.fill_bytes(&mut v);
    v
}
