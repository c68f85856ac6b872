//! Turning a disclosed file's bytes into text without losing a character.
//!
//! Banks export UTF-8 (with or without a byte-order mark), UTF-16 and Windows-1252 (where
//! `£` is the single byte 0xA3). `auto` honours a BOM, then takes UTF-8 if the bytes are
//! valid UTF-8, else Windows-1252, and says which it chose. A file with NUL bytes and no
//! UTF-16 BOM is binary, not a statement, and is refused. So is a file with a UTF-16 BOM
//! that is not valid UTF-16 (cut mid-character, unpaired surrogates): decoding it would put
//! replacement characters where the bank's text was.

use std::borrow::Cow;

use encoding_rs::{UTF_16BE, UTF_16LE, WINDOWS_1252};

use super::layout::Encoding;

/// Text decoded from a file, with the encoding used. UTF-8 text is the file's own bytes,
/// not a copy of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded<'a> {
    pub text: Cow<'a, str>,
    /// `utf-8`, `utf-8 (BOM)`, `utf-16le (BOM)`, `windows-1252`, ...
    pub encoding: String,
}

/// Why a file could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("the file is binary, not text (NUL byte at offset {offset}); expected a text export of a statement")]
    Binary { offset: usize },
    #[error("the file is not valid UTF-8 (first bad byte at offset {offset}), but the layout declares utf-8; declare encoding = \"windows-1252\" or \"auto\"")]
    NotUtf8 { offset: usize },
    #[error("the file is empty")]
    Empty,
    #[error("the file starts with a {encoding} byte-order mark but is not valid {encoding} ({length} bytes; an odd length or an unpaired surrogate means a cut or damaged file); no character is guessed")]
    NotUtf16 {
        encoding: &'static str,
        length: usize,
    },
}

/// Decode bytes as the layout declares.
pub fn decode(bytes: &[u8], declared: Encoding) -> Result<Decoded<'_>, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    if bytes.starts_with(&[0xFF, 0xFE]) && matches!(declared, Encoding::Auto | Encoding::Utf16) {
        let (text, _, malformed) = UTF_16LE.decode(bytes);
        if malformed {
            return Err(DecodeError::NotUtf16 {
                encoding: "UTF-16LE",
                length: bytes.len(),
            });
        }
        return Ok(Decoded {
            text: Cow::Owned(text.trim_start_matches('\u{feff}').to_string()),
            encoding: "utf-16le (BOM)".into(),
        });
    }
    if bytes.starts_with(&[0xFE, 0xFF]) && matches!(declared, Encoding::Auto | Encoding::Utf16) {
        let (text, _, malformed) = UTF_16BE.decode(bytes);
        if malformed {
            return Err(DecodeError::NotUtf16 {
                encoding: "UTF-16BE",
                length: bytes.len(),
            });
        }
        return Ok(Decoded {
            text: Cow::Owned(text.trim_start_matches('\u{feff}').to_string()),
            encoding: "utf-16be (BOM)".into(),
        });
    }
    if let Some(offset) = memchr::memchr(0, bytes) {
        return Err(DecodeError::Binary { offset });
    }
    let (body, bom) = match bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        Some(rest) => (rest, true),
        None => (bytes, false),
    };
    let as_utf8 = std::str::from_utf8(body);
    match (declared, as_utf8) {
        (Encoding::Windows1252, _) => {
            let (text, _) = WINDOWS_1252.decode_without_bom_handling(body);
            Ok(Decoded {
                text: Cow::Owned(text.into_owned()),
                encoding: "windows-1252".into(),
            })
        }
        (_, Ok(text)) => Ok(Decoded {
            text: Cow::Borrowed(text),
            encoding: if bom {
                "utf-8 (BOM)".into()
            } else {
                "utf-8".into()
            },
        }),
        (Encoding::Utf8, Err(e)) => Err(DecodeError::NotUtf8 {
            offset: e.valid_up_to() + usize::from(bom) * 3,
        }),
        (_, Err(_)) => {
            let (text, _) = WINDOWS_1252.decode_without_bom_handling(body);
            Ok(Decoded {
                text: Cow::Owned(text.into_owned()),
                encoding: "windows-1252 (not valid UTF-8)".into(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pound_sign_survives_every_encoding() {
        let cp1252 = b"Paid in,\xa312.00\r\n";
        let d = decode(cp1252, Encoding::Auto).unwrap();
        assert_eq!(d.text, "Paid in,£12.00\r\n");
        assert_eq!(d.encoding, "windows-1252 (not valid UTF-8)");

        let bom = "\u{feff}Paid in,£12.00".as_bytes();
        let d = decode(bom, Encoding::Auto).unwrap();
        assert_eq!(d.text, "Paid in,£12.00");
        assert_eq!(d.encoding, "utf-8 (BOM)");

        let mut utf16 = vec![0xFF, 0xFE];
        for u in "£5".encode_utf16() {
            utf16.extend_from_slice(&u.to_le_bytes());
        }
        assert_eq!(decode(&utf16, Encoding::Auto).unwrap().text, "£5");
    }

    #[test]
    fn refuses_binary_and_wrong_declarations() {
        assert_eq!(
            decode(b"PK\x03\x04\x00\x00", Encoding::Auto),
            Err(DecodeError::Binary { offset: 4 })
        );
        assert_eq!(
            decode(b"ab\xa3", Encoding::Utf8),
            Err(DecodeError::NotUtf8 { offset: 2 })
        );
        assert_eq!(decode(b"", Encoding::Auto), Err(DecodeError::Empty));
        // A UTF-16 file cut in the middle of a character.
        assert_eq!(
            decode(b"\xff\xfea\x00b", Encoding::Auto),
            Err(DecodeError::NotUtf16 {
                encoding: "UTF-16LE",
                length: 5
            })
        );
        // An unpaired surrogate.
        assert!(decode(b"\xfe\xff\xd8\x00\x00a", Encoding::Utf16).is_err());
    }
}
