//! A small MessagePack codec (serde), byte-compatible with `rmp_serde::to_vec_named` for the
//! serde data model openmls' `MlsGroupJoinConfig` uses: structs as maps with field names, unit
//! variants as their name, newtype variants as a one-entry map, integers in their shortest form.
//!
//! The store needs a self-describing format for that one entity (its `PastEpochDeletionPolicy`
//! deserializes an untagged enum, so `deserialize_any` must work). rmp-serde did it at ~40 KB of
//! the wasm module; this does the part the store uses. States written with rmp-serde (client
//! state version 2) read back unchanged: `tests::same_bytes_as_rmp_serde`.
//!
//! Floats, extension types and maps/arrays over 2^32 entries are refused with an error; input is
//! untrusted (an imported state): every read is bounds-checked, nesting is capped at
//! [`MAX_DEPTH`], and lengths never size an allocation.

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};
use serde::ser::{self, Serialize};

/// Deepest nesting of maps/arrays accepted when decoding.
pub const MAX_DEPTH: usize = 32;

/// A codec error (its message names what was wrong).
#[derive(Debug)]
pub struct Error(String);

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Error {}
impl ser::Error for Error {
    fn custom<T: core::fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}
impl de::Error for Error {
    fn custom<T: core::fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

fn err<T>(what: &str) -> Result<T, Error> {
    Err(Error(format!("MessagePack: {what}")))
}

/// `value` as MessagePack (structs as maps with field names, as `rmp_serde::to_vec_named`).
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    let mut enc = Enc(Vec::new());
    value.serialize(&mut enc)?;
    Ok(enc.0)
}

/// A `T` from MessagePack; the whole input must be one value.
pub fn from_slice<T: de::DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let mut dec = Dec { input: bytes, depth: 0 };
    let v = T::deserialize(&mut dec)?;
    if !dec.input.is_empty() {
        return err("trailing bytes");
    }
    Ok(v)
}

struct Enc(Vec<u8>);

impl Enc {
    fn uint(&mut self, v: u64) {
        match v {
            0..=0x7f => self.0.push(v as u8),
            0x80..=0xff => self.0.extend_from_slice(&[0xcc, v as u8]),
            0x100..=0xffff => self.tagged(0xcd, &(v as u16).to_be_bytes()),
            0x1_0000..=0xffff_ffff => self.tagged(0xce, &(v as u32).to_be_bytes()),
            _ => self.tagged(0xcf, &v.to_be_bytes()),
        }
    }
    fn sint(&mut self, v: i64) {
        match v {
            0.. => self.uint(v as u64),
            -32..=-1 => self.0.push(v as u8),
            -128..=-33 => self.0.extend_from_slice(&[0xd0, v as u8]),
            -32768..=-129 => self.tagged(0xd1, &(v as i16).to_be_bytes()),
            -2147483648..=-32769 => self.tagged(0xd2, &(v as i32).to_be_bytes()),
            _ => self.tagged(0xd3, &v.to_be_bytes()),
        }
    }
    fn tagged(&mut self, marker: u8, bytes: &[u8]) {
        self.0.push(marker);
        self.0.extend_from_slice(bytes);
    }
    /// A length header: the fix form `fix | n` up to `fix_max`, else the 8-bit form `marker8`
    /// (strings and bins only), the 16-bit form `marker16` or the 32-bit form `marker16 + 1`.
    fn len(&mut self, n: usize, fix: Option<(u8, usize)>, marker8: Option<u8>, marker16: u8) -> Result<(), Error> {
        match (fix, marker8) {
            (Some((fix, max)), _) if n <= max => self.0.push(fix | n as u8),
            (_, Some(m)) if n <= 0xff => self.0.extend_from_slice(&[m, n as u8]),
            _ if n <= 0xffff => self.tagged(marker16, &(n as u16).to_be_bytes()),
            _ => match u32::try_from(n) {
                Ok(n) => self.tagged(marker16 + 1, &n.to_be_bytes()),
                Err(_) => return err("length over 2^32-1"),
            },
        }
        Ok(())
    }
    fn str(&mut self, s: &str) -> Result<(), Error> {
        self.len(s.len(), Some((0xa0, 31)), Some(0xd9), 0xda)?;
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
    fn map(&mut self, n: Option<usize>) -> Result<&mut Self, Error> {
        self.len(n.ok_or(Error("MessagePack: a map of unknown length".into()))?, Some((0x80, 15)), None, 0xde)?;
        Ok(self)
    }
    fn array(&mut self, n: Option<usize>) -> Result<&mut Self, Error> {
        self.len(n.ok_or(Error("MessagePack: a sequence of unknown length".into()))?, Some((0x90, 15)), None, 0xdc)?;
        Ok(self)
    }
}

impl ser::Serializer for &mut Enc {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.0.push(if v { 0xc3 } else { 0xc2 });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        self.sint(v);
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.serialize_u64(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.serialize_u64(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.serialize_u64(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        self.uint(v);
        Ok(())
    }
    fn serialize_f32(self, _: f32) -> Result<(), Error> {
        err("floats are not supported")
    }
    fn serialize_f64(self, _: f64) -> Result<(), Error> {
        err("floats are not supported")
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.str(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.str(v)
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        self.len(v.len(), None, Some(0xc4), 0xc5)?;
        self.0.extend_from_slice(v);
        Ok(())
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.serialize_unit()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), Error> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.0.push(0xc0);
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Error> {
        self.array(Some(0)).map(|_| ())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<(), Error> {
        self.str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, v: &T) -> Result<(), Error> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        v: &T,
    ) -> Result<(), Error> {
        self.map(Some(1))?.str(variant)?;
        v.serialize(self)
    }
    fn serialize_seq(self, n: Option<usize>) -> Result<Self, Error> {
        self.array(n)
    }
    fn serialize_tuple(self, n: usize) -> Result<Self, Error> {
        self.array(Some(n))
    }
    fn serialize_tuple_struct(self, _: &'static str, n: usize) -> Result<Self, Error> {
        self.array(Some(n))
    }
    fn serialize_tuple_variant(self, _: &'static str, _: u32, variant: &'static str, n: usize) -> Result<Self, Error> {
        self.map(Some(1))?.str(variant)?;
        self.array(Some(n))
    }
    fn serialize_map(self, n: Option<usize>) -> Result<Self, Error> {
        self.map(n)
    }
    fn serialize_struct(self, _: &'static str, n: usize) -> Result<Self, Error> {
        self.map(Some(n))
    }
    fn serialize_struct_variant(self, _: &'static str, _: u32, variant: &'static str, n: usize) -> Result<Self, Error> {
        self.map(Some(1))?.str(variant)?;
        self.map(Some(n))
    }
}

macro_rules! compound {
    ($($trait:ident :: $f:ident ($($arg:ident : $t:ty),*)),* $(,)?) => {$(
        impl ser::$trait for &mut Enc {
            type Ok = ();
            type Error = Error;
            fn $f<T: Serialize + ?Sized>(&mut self, $($arg: $t,)* v: &T) -> Result<(), Error> {
                $(let _ = $arg;)*
                v.serialize(&mut **self)
            }
            fn end(self) -> Result<(), Error> {
                Ok(())
            }
        }
    )*};
}
compound!(
    SerializeSeq::serialize_element(),
    SerializeTuple::serialize_element(),
    SerializeTupleStruct::serialize_field(),
    SerializeTupleVariant::serialize_field(),
);

impl ser::SerializeMap for &mut Enc {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), Error> {
        k.serialize(&mut **self)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        v.serialize(&mut **self)
    }
    fn end(self) -> Result<(), Error> {
        Ok(())
    }
}

impl ser::SerializeStruct for &mut Enc {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, v: &T) -> Result<(), Error> {
        self.str(key)?;
        v.serialize(&mut **self)
    }
    fn end(self) -> Result<(), Error> {
        Ok(())
    }
}

impl ser::SerializeStructVariant for &mut Enc {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, v: &T) -> Result<(), Error> {
        ser::SerializeStruct::serialize_field(self, key, v)
    }
    fn end(self) -> Result<(), Error> {
        Ok(())
    }
}

struct Dec<'de> {
    input: &'de [u8],
    depth: usize,
}

impl<'de> Dec<'de> {
    fn take(&mut self, n: usize) -> Result<&'de [u8], Error> {
        if n > self.input.len() {
            return err("truncated");
        }
        let (head, rest) = self.input.split_at(n);
        self.input = rest;
        Ok(head)
    }
    fn byte(&mut self) -> Result<u8, Error> {
        let b = self.peek()?;
        self.take(1)?;
        Ok(b)
    }
    fn peek(&self) -> Result<u8, Error> {
        match self.input.first() {
            Some(b) => Ok(*b),
            None => err("truncated"),
        }
    }
    /// A big-endian unsigned integer of `n` (1, 2, 4 or 8) bytes.
    fn be(&mut self, n: usize) -> Result<u64, Error> {
        Ok(self.take(n)?.iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b)))
    }
    fn str_of(&mut self, n: u64) -> Result<&'de str, Error> {
        let n = usize::try_from(n).or_else(|_| err("length overflows"))?;
        core::str::from_utf8(self.take(n)?).or_else(|_| err("a string that is not UTF-8"))
    }
    /// Runs `f` one nesting level deeper (at most [`MAX_DEPTH`] levels).
    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, Error>) -> Result<T, Error> {
        if self.depth >= MAX_DEPTH {
            return err("nesting too deep");
        }
        self.depth += 1;
        let v = f(self);
        self.depth -= 1;
        v
    }
    /// The length of a map (`map`) or array header, consumed.
    fn compound_len(&mut self, map: bool) -> Result<u64, Error> {
        let (fix, m16) = if map { (0x80, 0xde) } else { (0x90, 0xdc) };
        match self.byte()? {
            b if b & 0xf0 == fix => Ok(u64::from(b & 0x0f)),
            b if b == m16 => self.be(2),
            b if b == m16 + 1 => self.be(4),
            _ => err(if map { "expected a map" } else { "expected an array" }),
        }
    }
}

struct Items<'a, 'de> {
    dec: &'a mut Dec<'de>,
    left: u64,
}

impl<'de> de::SeqAccess<'de> for Items<'_, 'de> {
    type Error = Error;
    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Error> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(&mut *self.dec).map(Some)
    }
}

impl<'de> de::MapAccess<'de> for Items<'_, 'de> {
    type Error = Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(&mut *self.dec).map(Some)
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        seed.deserialize(&mut *self.dec)
    }
}

impl<'de> de::EnumAccess<'de> for &mut Dec<'de> {
    type Error = Error;
    type Variant = Self;
    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), Error> {
        Ok((seed.deserialize(&mut *self)?, self))
    }
}

impl<'de> de::VariantAccess<'de> for &mut Dec<'de> {
    type Error = Error;
    fn unit_variant(self) -> Result<(), Error> {
        Ok(())
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(self)
    }
    fn tuple_variant<V: Visitor<'de>>(self, _: usize, visitor: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_any(self, visitor)
    }
    fn struct_variant<V: Visitor<'de>>(self, _: &'static [&'static str], visitor: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_any(self, visitor)
    }
}

impl<'de> de::Deserializer<'de> for &mut Dec<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let b = self.peek()?;
        match b {
            0x80..=0x9f | 0xdc..=0xdf => {
                let map = matches!(b, 0x80..=0x8f | 0xde | 0xdf);
                let left = self.compound_len(map)?;
                return self.nested(|dec| {
                    let items = Items { dec, left };
                    if map {
                        visitor.visit_map(items)
                    } else {
                        visitor.visit_seq(items)
                    }
                });
            }
            _ => {}
        }
        self.byte()?;
        match b {
            0x00..=0x7f => visitor.visit_u64(b.into()),
            0xe0..=0xff => visitor.visit_i64(i64::from(b as i8)),
            0xa0..=0xbf => visitor.visit_borrowed_str(self.str_of(u64::from(b & 0x1f))?),
            0xc0 => visitor.visit_unit(),
            0xc2 => visitor.visit_bool(false),
            0xc3 => visitor.visit_bool(true),
            0xc4..=0xc6 => {
                let n = self.be(1 << (b - 0xc4))?;
                let n = usize::try_from(n).or_else(|_| err("length overflows"))?;
                visitor.visit_borrowed_bytes(self.take(n)?)
            }
            0xcc..=0xcf => visitor.visit_u64(self.be(1 << (b - 0xcc))?),
            0xd0 => visitor.visit_i64(i64::from(self.be(1)? as u8 as i8)),
            0xd1 => visitor.visit_i64(i64::from(self.be(2)? as u16 as i16)),
            0xd2 => visitor.visit_i64(i64::from(self.be(4)? as u32 as i32)),
            0xd3 => visitor.visit_i64(self.be(8)? as i64),
            0xd9..=0xdb => {
                let n = self.be(1 << (b - 0xd9))?;
                visitor.visit_borrowed_str(self.str_of(n)?)
            }
            _ => err("unsupported type (float, extension or reserved marker)"),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.peek()? == 0xc0 {
            self.byte()?;
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _: &'static str, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.peek()? {
            // A unit variant: its name.
            0xa0..=0xbf | 0xd9..=0xdb => {
                let name: &'de str = de::Deserialize::deserialize(&mut *self)?;
                visitor.visit_enum(name.into_deserializer())
            }
            // Any other variant: { name: content }.
            _ => {
                if self.compound_len(true)? != 1 {
                    return err("an enum variant must be a map of one entry");
                }
                self.nested(|dec| visitor.visit_enum(dec))
            }
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use openmls::prelude::*;

    fn configs() -> Vec<MlsGroupJoinConfig> {
        let mut out = vec![
            MlsGroupJoinConfig::default(),
            MlsGroupJoinConfig::builder().set_past_epoch_deletion_policy(PastEpochDeletionPolicy::KeepAll).build(),
        ];
        for (policy, psks, tree, pad, ooo, fwd) in [
            (MIXED_PLAINTEXT_WIRE_FORMAT_POLICY, 0, true, 0, 5, 1000),
            (PURE_CIPHERTEXT_WIRE_FORMAT_POLICY, 7, false, 300, 200, 70_000),
            (PURE_PLAINTEXT_WIRE_FORMAT_POLICY, 300, true, 65_536, 0, u32::MAX),
            (MIXED_CIPHERTEXT_WIRE_FORMAT_POLICY, 128, false, 127, 128, 255),
        ] {
            for epochs in [0, 1, 31, 32, 255, 256, 70_000, usize::MAX - 1] {
                out.push(
                    MlsGroupJoinConfig::builder()
                        .wire_format_policy(policy)
                        .number_of_resumption_psks(psks)
                        .use_ratchet_tree_extension(tree)
                        .padding_size(pad)
                        .sender_ratchet_configuration(SenderRatchetConfiguration::new(ooo, fwd))
                        .max_past_epochs(epochs)
                        .build(),
                );
            }
        }
        out
    }

    #[test]
    fn same_bytes_as_rmp_serde() {
        for c in configs() {
            let ours = super::to_vec(&c).unwrap();
            let theirs = rmp_serde::to_vec_named(&c).unwrap();
            assert_eq!(ours, theirs, "{c:?}");
            // Both read each other's bytes back to the same config.
            assert_eq!(super::from_slice::<MlsGroupJoinConfig>(&theirs).unwrap(), c);
            assert_eq!(rmp_serde::from_slice::<MlsGroupJoinConfig>(&ours).unwrap(), c);
        }
    }

    #[test]
    fn reads_the_older_tagged_past_epoch_policy() {
        // openmls before 8bdba6f wrote `max_past_epochs` as the enum { "MaxEpochs": n } (or
        // "KeepAll"): the untagged fallback of its Deserialize must still find it.
        let c = MlsGroupJoinConfig::builder().max_past_epochs(3).build();
        let now = super::to_vec(&c).unwrap();
        let field = b"\xbapast_epoch_deletion_policy\x03";
        let at = now.windows(field.len()).position(|w| w == field).unwrap() + field.len() - 1;
        let old = [&now[..at], b"\x81\xa9MaxEpochs\x03", &now[at + 1..]].concat();
        assert_eq!(rmp_serde::from_slice::<MlsGroupJoinConfig>(&old).unwrap(), c);
        let keep_all = [&now[..at], b"\xa7KeepAll", &now[at + 1..]].concat();
        let keep_all_now = MlsGroupJoinConfig::builder()
            .max_past_epochs(3)
            .set_past_epoch_deletion_policy(PastEpochDeletionPolicy::KeepAll)
            .build();
        assert_eq!(super::from_slice::<MlsGroupJoinConfig>(&keep_all).unwrap(), keep_all_now);
        assert_eq!(super::from_slice::<MlsGroupJoinConfig>(&old).unwrap(), c);
    }

    #[test]
    fn every_other_value_round_trips_as_rmp_serde_writes_it() {
        #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq, Clone)]
        enum E {
            Unit,
            New(i64),
            Tuple(u8, String),
            Struct { a: Option<u16>, b: Vec<u8> },
        }
        #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
        struct T {
            ints: Vec<i64>,
            e: Vec<E>,
            s: String,
            bytes: serde_bytes_like::Bytes,
            nothing: Option<u8>,
            map: std::collections::BTreeMap<String, bool>,
            t: (u8, char),
        }
        mod serde_bytes_like {
            #[derive(Debug, PartialEq)]
            pub struct Bytes(pub Vec<u8>);
            impl serde::Serialize for Bytes {
                fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                    s.serialize_bytes(&self.0)
                }
            }
            impl<'de> serde::Deserialize<'de> for Bytes {
                fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                    struct V;
                    impl serde::de::Visitor<'_> for V {
                        type Value = Bytes;
                        fn expecting(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
                            f.write_str("bytes")
                        }
                        fn visit_bytes<E>(self, v: &[u8]) -> Result<Bytes, E> {
                            Ok(Bytes(v.to_vec()))
                        }
                    }
                    d.deserialize_bytes(V)
                }
            }
        }
        let ints: Vec<i64> = [0i64, 1, 127, 128, 255, 256, 65535, 65536, u32::MAX as i64, 1 << 40, i64::MAX]
            .into_iter()
            .flat_map(|v| [v, -v, v.wrapping_neg().wrapping_sub(1)])
            .chain([-32, -33, -128, -129, -32768, -32769, i32::MIN as i64, i64::MIN])
            .collect();
        for len in [0usize, 1, 15, 16, 31, 32, 255, 256, 65_536] {
            let t = T {
                ints: if len == 0 { vec![] } else { ints.clone() },
                e: (0..len.min(20))
                    .map(|i| {
                        [
                            E::Unit,
                            E::New(-(i as i64)),
                            E::Tuple(i as u8, "x".repeat(i)),
                            E::Struct { a: Some(i as u16), b: vec![i as u8; i] },
                        ][i % 4]
                            .clone()
                    })
                    .collect(),
                s: "é".repeat(len / 2),
                bytes: serde_bytes_like::Bytes(vec![7; len]),
                nothing: None,
                map: (0..len.min(40)).map(|i| (i.to_string(), i % 2 == 0)).collect(),
                t: (len as u8, 'ß'),
            };
            let ours = super::to_vec(&t).unwrap();
            assert_eq!(ours, rmp_serde::to_vec_named(&t).unwrap(), "len {len}");
            assert_eq!(super::from_slice::<T>(&ours).unwrap(), t);
        }
    }

    #[test]
    fn damaged_input_is_an_error_never_a_panic() {
        for c in configs().iter().take(6) {
            let good = super::to_vec(c).unwrap();
            for cut in 0..good.len() {
                assert!(super::from_slice::<MlsGroupJoinConfig>(&good[..cut]).is_err(), "cut at {cut}");
            }
            for at in 0..good.len() {
                for flip in [0x01, 0x10, 0x80, 0xff] {
                    let mut bad = good.clone();
                    bad[at] ^= flip;
                    let _ = super::from_slice::<MlsGroupJoinConfig>(&bad);
                }
            }
            let mut long = good.clone();
            long.push(0);
            assert!(super::from_slice::<MlsGroupJoinConfig>(&long).is_err());
        }
        // Deep nesting is refused before the stack is.
        let deep = [vec![0x91u8; 100_000], vec![0x90]].concat();
        assert!(super::from_slice::<serde::de::IgnoredAny>(&deep).is_err());
        let deep = [vec![0x81u8, 0xa1, b'k'].repeat(50_000), vec![0xc0]].concat();
        assert!(super::from_slice::<serde::de::IgnoredAny>(&deep).is_err());
        // Floats and extensions are refused, huge declared lengths do not allocate.
        for bad in
            [&[0xcau8, 0, 0, 0, 0][..], &[0xd4, 1, 2], &[0xdd, 0xff, 0xff, 0xff, 0xff], &[0xdb, 0xff, 0xff, 0xff, 0xff]]
        {
            assert!(super::from_slice::<serde::de::IgnoredAny>(bad).is_err(), "{bad:?}");
        }
    }
}
