//! Value encoding: the one place that names bincode.
//!
//! bincode 2 with serde and the standard configuration. bincode is not self-describing, so types
//! encoded here must not hold `serde_json::Value` or use `#[serde(flatten)]`: JSON travels as text.

use super::StorageError;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Encodes a value.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StorageError> {
    bincode::serde::encode_to_vec(value, bincode::config::standard())
        .map_err(|e| StorageError::Codec(e.to_string()))
}

/// Decodes a value, refusing trailing bytes.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StorageError> {
    let (value, read) = bincode::serde::decode_from_slice(bytes, bincode::config::standard())
        .map_err(|e| StorageError::Codec(e.to_string()))?;
    if read != bytes.len() {
        return Err(StorageError::Codec(format!("{} trailing bytes", bytes.len() - read)));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_garbage() {
        let v = (String::from("x"), 7u64, vec![1u8, 2]);
        let bytes = encode(&v).unwrap();
        assert_eq!(decode::<(String, u64, Vec<u8>)>(&bytes).unwrap(), v);
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode::<(String, u64, Vec<u8>)>(&longer).is_err());
        assert!(decode::<(String, u64, Vec<u8>)>(&[0xff, 0xff]).is_err());
    }
}
