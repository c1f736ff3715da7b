//! The openmls store of a client: every entity openmls persists (group state, secrets, key
//! pairs, key packages), in one ordered map that `Client::export_state` writes out whole.
//!
//! Values and keys are serde-encoded with postcard (compact, and far less code than the JSON
//! that openmls_memory_storage uses: serde_json was the largest part of the module), except the
//! group's join config, which needs a self-describing format (MessagePack, `msgpack.rs`). Every
//! read decodes with an error, never a panic: a damaged or tampered state fails `import_state` or
//! `load_group` with `Codec`/`Mls`, where openmls_memory_storage 0.6 `unwrap`s.

use std::collections::BTreeMap;
use std::sync::RwLock;

use openmls_traits::storage::{traits, StorageProvider, CURRENT_VERSION};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Why the store refused an operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A value or key did not encode or decode (a damaged state).
    #[error("store codec: {0}")]
    Codec(String),
    /// The map's lock was poisoned (a panic while it was held).
    #[error("store lock poisoned")]
    Lock,
}

type Res<T> = Result<T, StoreError>;

/// Labels of the entities (one per kind; a key is `label || 0 || postcard(key)`).
mod label {
    pub const JOIN_CONFIG: &[u8] = b"JoinConfig";
    pub const OWN_LEAF_NODES: &[u8] = b"OwnLeafNodes";
    pub const PROPOSAL: &[u8] = b"QueuedProposal";
    pub const PROPOSAL_REFS: &[u8] = b"ProposalQueueRefs";
    pub const TREE: &[u8] = b"Tree";
    pub const TRANSCRIPT: &[u8] = b"InterimTranscriptHash";
    pub const CONTEXT: &[u8] = b"GroupContext";
    pub const CONFIRMATION_TAG: &[u8] = b"ConfirmationTag";
    pub const GROUP_STATE: &[u8] = b"GroupState";
    pub const MESSAGE_SECRETS: &[u8] = b"MessageSecrets";
    pub const RESUMPTION_PSK: &[u8] = b"ResumptionPskStore";
    pub const OWN_LEAF_INDEX: &[u8] = b"OwnLeafIndex";
    pub const EPOCH_SECRETS: &[u8] = b"GroupEpochSecrets";
    pub const SIGNATURE_KEY: &[u8] = b"SignatureKeyPair";
    pub const ENCRYPTION_KEY: &[u8] = b"EncryptionKeyPair";
    pub const EPOCH_KEYS: &[u8] = b"EpochKeyPairs";
    pub const KEY_PACKAGE: &[u8] = b"KeyPackage";
    pub const PSK: &[u8] = b"Psk";
}

fn enc<T: Serialize + ?Sized>(v: &T) -> Res<Vec<u8>> {
    postcard::to_allocvec(v).map_err(|e| StoreError::Codec(e.to_string()))
}

fn dec<T: DeserializeOwned>(b: &[u8]) -> Res<T> {
    postcard::from_bytes(b).map_err(|e| StoreError::Codec(e.to_string()))
}

/// The self-describing codec (MessagePack, structs as maps, the bytes `rmp_serde::to_vec_named`
/// writes) for the one entity whose serde impl needs it: `MlsGroupJoinConfig` (its
/// `PastEpochDeletionPolicy` deserializes an untagged enum, which postcard cannot).
fn enc_sd<T: Serialize + ?Sized>(v: &T) -> Res<Vec<u8>> {
    super::msgpack::to_vec(v).map_err(|e| StoreError::Codec(e.to_string()))
}

fn dec_sd<T: DeserializeOwned>(b: &[u8]) -> Res<T> {
    super::msgpack::from_slice(b).map_err(|e| StoreError::Codec(e.to_string()))
}

fn key<K: Serialize + ?Sized>(label: &[u8], k: &K) -> Res<Vec<u8>> {
    let mut out = label.to_vec();
    out.push(0);
    out.extend_from_slice(&enc(k)?);
    Ok(out)
}

/// The in-memory store.
#[derive(Default, Debug)]
pub struct Store {
    values: RwLock<BTreeMap<Vec<u8>, Vec<u8>>>,
}

impl Store {
    /// Every `(key, value)` entry, in key order (secret: the state's keys and secrets).
    pub fn entries(&self) -> Res<Vec<(Vec<u8>, Vec<u8>)>> {
        let m = self.values.read().map_err(|_| StoreError::Lock)?;
        Ok(m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
    }

    /// A store holding `entries` (from [`Store::entries`]).
    pub fn from_entries(entries: impl IntoIterator<Item = (Vec<u8>, Vec<u8>)>) -> Store {
        Store { values: RwLock::new(entries.into_iter().collect()) }
    }

    fn put(&self, k: Vec<u8>, v: Vec<u8>) -> Res<()> {
        self.values.write().map_err(|_| StoreError::Lock)?.insert(k, v);
        Ok(())
    }

    fn get(&self, k: &[u8]) -> Res<Option<Vec<u8>>> {
        Ok(self.values.read().map_err(|_| StoreError::Lock)?.get(k).cloned())
    }

    fn remove(&self, k: &[u8]) -> Res<()> {
        self.values.write().map_err(|_| StoreError::Lock)?.remove(k);
        Ok(())
    }

    fn write<K: Serialize + ?Sized, V: Serialize + ?Sized>(&self, label: &[u8], k: &K, v: &V) -> Res<()> {
        self.put(key(label, k)?, enc(v)?)
    }

    fn read<K: Serialize + ?Sized, V: DeserializeOwned>(&self, label: &[u8], k: &K) -> Res<Option<V>> {
        match self.get(&key(label, k)?)? {
            Some(b) => dec(&b).map(Some),
            None => Ok(None),
        }
    }

    fn delete<K: Serialize + ?Sized>(&self, label: &[u8], k: &K) -> Res<()> {
        self.remove(&key(label, k)?)
    }

    /// The encoded items of the list under `label`/`k` (empty when there is none).
    fn items<K: Serialize + ?Sized>(&self, label: &[u8], k: &K) -> Res<Vec<Vec<u8>>> {
        match self.get(&key(label, k)?)? {
            Some(b) => dec(&b),
            None => Ok(Vec::new()),
        }
    }

    fn push<K: Serialize + ?Sized, V: Serialize + ?Sized>(&self, label: &[u8], k: &K, item: &V) -> Res<()> {
        let mut list = self.items(label, k)?;
        list.push(enc(item)?);
        self.put(key(label, k)?, enc(&list)?)
    }

    fn list<K: Serialize + ?Sized, V: DeserializeOwned>(&self, label: &[u8], k: &K) -> Res<Vec<V>> {
        self.items(label, k)?.iter().map(|b| dec(b)).collect()
    }
}

/// The writer, reader and deleter of an entity stored whole under one key. `kv`/`vk`: whether
/// openmls declares the key's or the value's type parameter first (the writer's, then the
/// reader's).
macro_rules! entity {
    ($label:expr, $k:ident, $v:ident, $wo:ident, $ro:ident, $write:ident, $read:ident, $delete:ident) => {
        entity!(@write $wo, $label, $k, $v, $write);
        entity!(@read $ro, $label, $k, $v, $read);
        fn $delete<K: traits::$k<CURRENT_VERSION>>(&self, key: &K) -> Res<()> {
            self.delete($label, key)
        }
    };
    (@write kv, $label:expr, $k:ident, $v:ident, $write:ident) => {
        fn $write<K: traits::$k<CURRENT_VERSION>, V: traits::$v<CURRENT_VERSION>>(&self, key: &K, value: &V) -> Res<()> {
            self.write($label, key, value)
        }
    };
    (@write vk, $label:expr, $k:ident, $v:ident, $write:ident) => {
        fn $write<V: traits::$v<CURRENT_VERSION>, K: traits::$k<CURRENT_VERSION>>(&self, key: &K, value: &V) -> Res<()> {
            self.write($label, key, value)
        }
    };
    (@read kv, $label:expr, $k:ident, $v:ident, $read:ident) => {
        fn $read<K: traits::$k<CURRENT_VERSION>, V: traits::$v<CURRENT_VERSION>>(&self, key: &K) -> Res<Option<V>> {
            self.read($label, key)
        }
    };
    (@read vk, $label:expr, $k:ident, $v:ident, $read:ident) => {
        fn $read<V: traits::$v<CURRENT_VERSION>, K: traits::$k<CURRENT_VERSION>>(&self, key: &K) -> Res<Option<V>> {
            self.read($label, key)
        }
    };
}

impl StorageProvider<CURRENT_VERSION> for Store {
    type Error = StoreError;

    // Entities stored whole under one key: (label, key trait, value trait, the order of the
    // writer's and the reader's type parameters as openmls declares them, writer, reader, deleter).
    entity!(label::TREE, GroupId, TreeSync, kv, kv, write_tree, tree, delete_tree);
    entity!(
        label::TRANSCRIPT,
        GroupId,
        InterimTranscriptHash,
        kv,
        kv,
        write_interim_transcript_hash,
        interim_transcript_hash,
        delete_interim_transcript_hash
    );
    entity!(label::CONTEXT, GroupId, GroupContext, kv, kv, write_context, group_context, delete_context);
    entity!(
        label::CONFIRMATION_TAG,
        GroupId,
        ConfirmationTag,
        kv,
        kv,
        write_confirmation_tag,
        confirmation_tag,
        delete_confirmation_tag
    );
    entity!(label::GROUP_STATE, GroupId, GroupState, vk, vk, write_group_state, group_state, delete_group_state);
    entity!(
        label::MESSAGE_SECRETS,
        GroupId,
        MessageSecrets,
        kv,
        kv,
        write_message_secrets,
        message_secrets,
        delete_message_secrets
    );
    entity!(
        label::RESUMPTION_PSK,
        GroupId,
        ResumptionPskStore,
        kv,
        kv,
        write_resumption_psk_store,
        resumption_psk_store,
        delete_all_resumption_psk_secrets
    );
    entity!(
        label::OWN_LEAF_INDEX,
        GroupId,
        LeafNodeIndex,
        kv,
        kv,
        write_own_leaf_index,
        own_leaf_index,
        delete_own_leaf_index
    );
    entity!(
        label::EPOCH_SECRETS,
        GroupId,
        GroupEpochSecrets,
        kv,
        kv,
        write_group_epoch_secrets,
        group_epoch_secrets,
        delete_group_epoch_secrets
    );
    entity!(
        label::SIGNATURE_KEY,
        SignaturePublicKey,
        SignatureKeyPair,
        kv,
        kv,
        write_signature_key_pair,
        signature_key_pair,
        delete_signature_key_pair
    );
    entity!(
        label::ENCRYPTION_KEY,
        EncryptionKey,
        HpkeKeyPair,
        kv,
        vk,
        write_encryption_key_pair,
        encryption_key_pair,
        delete_encryption_key_pair
    );
    entity!(label::KEY_PACKAGE, HashReference, KeyPackage, kv, kv, write_key_package, key_package, delete_key_package);
    entity!(label::PSK, PskId, PskBundle, kv, vk, write_psk, psk, delete_psk);

    fn write_mls_join_config<G: traits::GroupId<CURRENT_VERSION>, C: traits::MlsGroupJoinConfig<CURRENT_VERSION>>(
        &self,
        group_id: &G,
        config: &C,
    ) -> Res<()> {
        self.put(key(label::JOIN_CONFIG, group_id)?, enc_sd(config)?)
    }

    fn append_own_leaf_node<G: traits::GroupId<CURRENT_VERSION>, L: traits::LeafNode<CURRENT_VERSION>>(
        &self,
        group_id: &G,
        leaf_node: &L,
    ) -> Res<()> {
        self.push(label::OWN_LEAF_NODES, group_id, leaf_node)
    }

    fn queue_proposal<
        G: traits::GroupId<CURRENT_VERSION>,
        R: traits::ProposalRef<CURRENT_VERSION>,
        P: traits::QueuedProposal<CURRENT_VERSION>,
    >(
        &self,
        group_id: &G,
        proposal_ref: &R,
        proposal: &P,
    ) -> Res<()> {
        self.write(label::PROPOSAL, &(group_id, proposal_ref), proposal)?;
        self.push(label::PROPOSAL_REFS, group_id, proposal_ref)
    }

    fn write_encryption_epoch_key_pairs<
        G: traits::GroupId<CURRENT_VERSION>,
        E: traits::EpochKey<CURRENT_VERSION>,
        K: traits::HpkeKeyPair<CURRENT_VERSION>,
    >(
        &self,
        group_id: &G,
        epoch: &E,
        leaf_index: u32,
        pairs: &[K],
    ) -> Res<()> {
        self.write(label::EPOCH_KEYS, &(group_id, epoch, leaf_index), pairs)
    }

    fn mls_group_join_config<G: traits::GroupId<CURRENT_VERSION>, C: traits::MlsGroupJoinConfig<CURRENT_VERSION>>(
        &self,
        group_id: &G,
    ) -> Res<Option<C>> {
        match self.get(&key(label::JOIN_CONFIG, group_id)?)? {
            Some(b) => dec_sd(&b).map(Some),
            None => Ok(None),
        }
    }

    fn own_leaf_nodes<G: traits::GroupId<CURRENT_VERSION>, L: traits::LeafNode<CURRENT_VERSION>>(
        &self,
        group_id: &G,
    ) -> Res<Vec<L>> {
        self.list(label::OWN_LEAF_NODES, group_id)
    }

    fn queued_proposal_refs<G: traits::GroupId<CURRENT_VERSION>, R: traits::ProposalRef<CURRENT_VERSION>>(
        &self,
        group_id: &G,
    ) -> Res<Vec<R>> {
        self.list(label::PROPOSAL_REFS, group_id)
    }

    fn queued_proposals<
        G: traits::GroupId<CURRENT_VERSION>,
        R: traits::ProposalRef<CURRENT_VERSION>,
        P: traits::QueuedProposal<CURRENT_VERSION>,
    >(
        &self,
        group_id: &G,
    ) -> Res<Vec<(R, P)>> {
        let refs: Vec<R> = self.list(label::PROPOSAL_REFS, group_id)?;
        refs.into_iter()
            .map(|r| {
                let p = self
                    .read(label::PROPOSAL, &(group_id, &r))?
                    .ok_or_else(|| StoreError::Codec("a listed proposal is missing".into()))?;
                Ok((r, p))
            })
            .collect()
    }

    fn encryption_epoch_key_pairs<
        G: traits::GroupId<CURRENT_VERSION>,
        E: traits::EpochKey<CURRENT_VERSION>,
        K: traits::HpkeKeyPair<CURRENT_VERSION>,
    >(
        &self,
        group_id: &G,
        epoch: &E,
        leaf_index: u32,
    ) -> Res<Vec<K>> {
        Ok(self.read(label::EPOCH_KEYS, &(group_id, epoch, leaf_index))?.unwrap_or_default())
    }

    fn remove_proposal<G: traits::GroupId<CURRENT_VERSION>, R: traits::ProposalRef<CURRENT_VERSION>>(
        &self,
        group_id: &G,
        proposal_ref: &R,
    ) -> Res<()> {
        let gone = enc(proposal_ref)?;
        let mut refs = self.items(label::PROPOSAL_REFS, group_id)?;
        refs.retain(|r| *r != gone);
        self.put(key(label::PROPOSAL_REFS, group_id)?, enc(&refs)?)?;
        self.delete(label::PROPOSAL, &(group_id, proposal_ref))
    }

    fn delete_own_leaf_nodes<G: traits::GroupId<CURRENT_VERSION>>(&self, group_id: &G) -> Res<()> {
        self.delete(label::OWN_LEAF_NODES, group_id)
    }

    fn delete_group_config<G: traits::GroupId<CURRENT_VERSION>>(&self, group_id: &G) -> Res<()> {
        self.delete(label::JOIN_CONFIG, group_id)
    }

    fn clear_proposal_queue<G: traits::GroupId<CURRENT_VERSION>, R: traits::ProposalRef<CURRENT_VERSION>>(
        &self,
        group_id: &G,
    ) -> Res<()> {
        let refs: Vec<R> = self.list(label::PROPOSAL_REFS, group_id)?;
        for r in &refs {
            self.delete(label::PROPOSAL, &(group_id, r))?;
        }
        self.delete(label::PROPOSAL_REFS, group_id)
    }

    fn delete_encryption_epoch_key_pairs<G: traits::GroupId<CURRENT_VERSION>, E: traits::EpochKey<CURRENT_VERSION>>(
        &self,
        group_id: &G,
        epoch: &E,
        leaf_index: u32,
    ) -> Res<()> {
        self.delete(label::EPOCH_KEYS, &(group_id, epoch, leaf_index))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn damaged_values_are_errors_not_panics() {
        let s = Store::default();
        s.write(label::TREE, &[1u8, 2], &vec![7u32, 8]).unwrap();
        let ok: Option<Vec<u32>> = s.read(label::TREE, &[1u8, 2]).unwrap();
        assert_eq!(ok, Some(vec![7, 8]));
        s.put(key(label::TREE, &[1u8, 2]).unwrap(), vec![0xff; 3]).unwrap();
        assert!(matches!(s.read::<_, Vec<u32>>(label::TREE, &[1u8, 2]), Err(StoreError::Codec(_))));
        s.put(key(label::PROPOSAL_REFS, &[1u8]).unwrap(), vec![0x05]).unwrap();
        assert!(s.items(label::PROPOSAL_REFS, &[1u8]).is_err());
    }

    #[test]
    fn lists_append_and_remove_by_value() {
        let s = Store::default();
        for r in [3u16, 4, 5] {
            s.push(label::PROPOSAL_REFS, &9u8, &r).unwrap();
        }
        let refs: Vec<u16> = s.list(label::PROPOSAL_REFS, &9u8).unwrap();
        assert_eq!(refs, vec![3, 4, 5]);
        let gone = enc(&4u16).unwrap();
        let mut items = s.items(label::PROPOSAL_REFS, &9u8).unwrap();
        items.retain(|r| *r != gone);
        assert_eq!(items.len(), 2);
        // Labels do not run into each other ("Tree" vs a label starting with "Tree").
        assert_ne!(key(b"Tree", &1u8).unwrap()[..5], key(b"TreeX", &1u8).unwrap()[..5]);
    }
}
