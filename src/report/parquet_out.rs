//! The ledger as parquet, with provenance in the file's key-value metadata.

use polars::prelude::*;

use super::ReportError;

/// Parquet bytes for a frame, zstd-compressed, with `metadata` as key-value pairs.
pub fn to_parquet_bytes(
    name: &str,
    df: &DataFrame,
    metadata: Vec<(String, String)>,
) -> Result<Vec<u8>, ReportError> {
    let mut buf = Vec::new();
    let mut df = df.clone();
    ParquetWriter::new(&mut buf)
        .with_compression(ParquetCompression::Zstd(None))
        .with_statistics(StatisticsOptions::full())
        .with_key_value_metadata(Some(KeyValueMetadata::from_static(metadata)))
        .finish(&mut df)
        .map_err(|e| ReportError::Encode {
            path: name.into(),
            message: e.to_string(),
        })?;
    Ok(buf)
}
