//! The media type a file gets in a note's manifest, from its name's extension: a small table of
//! common types, `application/octet-stream` for anything else. The type is informative only —
//! neither the page nor this client renders a file — so a guess by name is enough.

/// The media type of files whose extension is not in the table.
pub const FILE_MEDIA_TYPE: &str = "application/octet-stream";

/// Extensions (lower case) and their media types.
const TABLE: &[(&str, &str)] = &[
    ("7z", "application/x-7z-compressed"),
    ("csv", "text/csv"),
    ("doc", "application/msword"),
    (
        "docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    ("gif", "image/gif"),
    ("gz", "application/gzip"),
    ("htm", "text/html"),
    ("html", "text/html"),
    ("jpeg", "image/jpeg"),
    ("jpg", "image/jpeg"),
    ("json", "application/json"),
    ("md", "text/markdown"),
    ("mp3", "audio/mpeg"),
    ("mp4", "video/mp4"),
    ("odt", "application/vnd.oasis.opendocument.text"),
    ("pdf", "application/pdf"),
    ("pem", "application/x-pem-file"),
    ("png", "image/png"),
    ("svg", "image/svg+xml"),
    ("tar", "application/x-tar"),
    ("txt", "text/plain"),
    ("webp", "image/webp"),
    (
        "xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    ("xml", "application/xml"),
    ("zip", "application/zip"),
];

/// The media type for a file called `name`: by its extension (any case), or
/// [`FILE_MEDIA_TYPE`].
///
/// ```
/// use paravoid_cli::media_type::media_type_for;
///
/// assert_eq!(media_type_for("Report.PDF"), "application/pdf");
/// assert_eq!(media_type_for("id_ed25519"), "application/octet-stream");
/// ```
#[must_use]
pub fn media_type_for(name: &str) -> &'static str {
    let Some((stem, extension)) = name.rsplit_once('.') else {
        return FILE_MEDIA_TYPE;
    };
    if stem.is_empty() {
        return FILE_MEDIA_TYPE;
    }
    TABLE
        .iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(extension))
        .map_or(FILE_MEDIA_TYPE, |(_, media_type)| media_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_extensions_in_any_case_and_the_fallback() {
        assert_eq!(media_type_for("notes.txt"), "text/plain");
        assert_eq!(media_type_for("photo.JPG"), "image/jpeg");
        assert_eq!(media_type_for("backup.tar.gz"), "application/gzip");
        for unknown in ["id_ed25519", ".bashrc", "archive.", "data.bin", "x.unknown"] {
            assert_eq!(media_type_for(unknown), FILE_MEDIA_TYPE, "{unknown}");
        }
    }

    #[test]
    fn every_type_fits_the_manifest() {
        for (extension, media_type) in TABLE {
            assert_eq!(*extension, extension.to_ascii_lowercase());
            qsmm_shield::attachment::FileEntry::new("a", media_type, 0).unwrap();
        }
    }
}
