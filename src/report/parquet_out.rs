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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::csv_out::frame_to_csv;

    /// The ledger leaves a column no source fills as polars' `full_null` (buffers allocated
    /// zeroed, never written); the outputs must not tell it from nulls written row by row.
    #[test]
    fn a_null_column_never_written_is_written_as_nulls_written_row_by_row() {
        let n = 70_000; // more than one CSV batch and parquet page
        let frame = |text: Column, day: Column, rate: Column| {
            let ids =
                StringChunked::from_iter_values("txn_id".into(), (0..n).map(|i| format!("T{i}")));
            DataFrame::new(n, vec![ids.into_column(), text, day, rate]).unwrap()
        };
        let never_written = frame(
            StringChunked::full_null("party_name".into(), n).into_column(),
            Series::full_null("value_date".into(), n, &DataType::Date).into_column(),
            Series::full_null("fx_rate".into(), n, &DataType::Decimal(18, 8)).into_column(),
        );
        let written = frame(
            StringChunked::from_iter_options("party_name".into(), (0..n).map(|_| None::<&str>))
                .into_column(),
            Int32Chunked::from_iter_options("value_date".into(), (0..n).map(|_| None))
                .into_date()
                .into_column(),
            Int128Chunked::from_iter_options("fx_rate".into(), (0..n).map(|_| None))
                .into_decimal(18, 8)
                .unwrap()
                .into_column(),
        );
        assert_eq!(never_written.schema(), written.schema());
        assert_eq!(
            frame_to_csv("a.csv", &never_written).unwrap(),
            frame_to_csv("a.csv", &written).unwrap()
        );
        let meta = || vec![("k".to_string(), "v".to_string())];
        assert_eq!(
            to_parquet_bytes("a.parquet", &never_written, meta()).unwrap(),
            to_parquet_bytes("a.parquet", &written, meta()).unwrap()
        );
    }
}
