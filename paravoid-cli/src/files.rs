//! Notes with files: `send --file` and `open -o DIR`, in the page's format
//! ([`qsmm_shield::attachment`]) and through the page's routes.
//!
//! Sending, each file is read, sealed and uploaded 64 KiB at a time (`POST /api/e2e/files`);
//! then the note, whose plaintext is the [`Bundle`] (message, file key, names, types and
//! sizes), is sealed and stored with the uploads attached. Opening, the note is claimed and
//! opened, its manifest checked ([`crate::saving`]), and each file downloaded, authenticated
//! and written chunk by chunk to a temporary name; the files get their names only once all of
//! them are complete. Memory use is a few chunks whatever the files' sizes.

use std::path::{Path, PathBuf};

use hyper::body::Bytes;
use qsmm_shield::attachment::{
    self, Bundle, ChunkOpener, ChunkSealer, FileEntry, MAX_FILES, SEALED_CHUNK_LEN,
};
use zeroize::Zeroizing;

use crate::commands::{SendOptions, Sent, claim_note, store_note};
use crate::error::{CliError, Result};
use crate::link::{Link, ServerUrl};
use crate::saving::{PartFile, check_names, is_safe_name};
use crate::transfer::{ChunkBody, download, upload};
use crate::wire::ClaimedFiles;

/// The media type the command line gives files (the page gives the browser's guess; neither
/// side renders a file, so the type is informative only).
pub const FILE_MEDIA_TYPE: &str = "application/octet-stream";

/// What [`open_into`] opened.
#[derive(Debug)]
pub struct Opened {
    /// The note's message (may be empty when the note carries files).
    pub message: Zeroizing<Vec<u8>>,
    /// The files written, in the manifest's order.
    pub files: Vec<SavedFile>,
}

/// One file written by [`open_into`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedFile {
    /// Where it was written.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
}

/// Seals `message` and the files at `paths` (at most 32, names from the paths' last
/// components), uploads the files as streams, stores the note and returns its link. The
/// server receives sealed bytes and their lengths, never a name, a type or a key.
///
/// ```no_run
/// # async fn demo() -> Result<(), paravoid_cli::CliError> {
/// use std::path::PathBuf;
/// use paravoid_cli::ServerUrl;
///
/// let server = ServerUrl::parse("https://notes.example")?;
/// let files = [PathBuf::from("report.pdf")];
/// let sent = paravoid_cli::send_files(&server, b"see attached", &files, None, None).await?;
/// println!("{}", sent.link.to_text().as_str());
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// [`CliError::InvalidArgument`] for a path that is not a readable regular file, whose name is
/// not usable (not UTF-8, a control character, over 255 bytes) or repeats another's, or for
/// more than 32 files; [`CliError::Io`] if a file cannot be read or changes size while it is
/// read; the errors of [`send`](crate::send).
pub async fn send_files(
    server: &ServerUrl,
    message: &[u8],
    paths: &[PathBuf],
    passphrase: Option<&[u8]>,
    ttl_secs: Option<u64>,
) -> Result<Sent> {
    send_note(
        server,
        message,
        paths,
        SendOptions::new(passphrase, ttl_secs),
    )
    .await
}

/// [`send_files`] with [`SendOptions`] (for instance a read receipt): `paths` may be empty.
///
/// # Errors
///
/// Those of [`send_files`].
pub async fn send_note(
    server: &ServerUrl,
    message: &[u8],
    paths: &[PathBuf],
    options: SendOptions<'_>,
) -> Result<Sent> {
    if paths.is_empty() {
        return crate::commands::send_message(server, message, options).await;
    }
    if matches!(options.passphrase, Some([])) {
        return Err(CliError::EmptyPassphrase);
    }
    let (bundle, ids) = upload_bundle(server, message, paths).await?;
    store_note(server, &bundle.to_plaintext(), options, ids).await
}

/// Checks the files at `paths` (as [`send_files`] does), makes the [`Bundle`] of `message` and
/// their manifest under a fresh file key, and seals and uploads each file as a stream; returns
/// the bundle and the uploads' ids in manifest order, for the note (or request answer) that
/// attaches them.
pub(crate) async fn upload_bundle(
    server: &ServerUrl,
    message: &[u8],
    paths: &[PathBuf],
) -> Result<(Bundle, Vec<String>)> {
    let attachments = prepare(paths)?;
    let entries = attachments.iter().map(|(_, _, entry)| entry.clone());
    let bundle = Bundle::new(message, entries.collect()).map_err(CliError::Seal)?;
    let mut ids = Vec::with_capacity(attachments.len());
    for (index, (path, file, entry)) in attachments.into_iter().enumerate() {
        let index = u32::try_from(index).map_err(|_| too_many())?;
        let id = upload_file(server, &bundle, index, &path, file, entry.size()).await?;
        ids.push(id.hyphenated().to_string());
    }
    Ok((bundle, ids))
}

/// Claims the note of `link` and opens it. `passphrase` is called only if the note has one
/// (the server's peek says so). The server receives the claim tokens, never the keys or the
/// passphrase; the note is gone from the server once this returns a message.
///
/// Argon2id runs on the calling thread.
///
/// # Errors
///
/// [`CliError::InvalidLink`]; [`CliError::Gone`] if the note is not there (or no longer);
/// what `passphrase` returns; [`CliError::WrongPassphrase`] (the server counted a try);
/// [`CliError::WrongLinkKeys`]; [`CliError::Tampered`] if the note handed out does not open
/// with the link or disagrees with the peek; server and network errors.
///
/// A note with files has them written to the current directory (see
/// [`open_into`]).
pub async fn open(
    link: &Link,
    passphrase: impl FnOnce() -> Result<Zeroizing<Vec<u8>>>,
) -> Result<Zeroizing<Vec<u8>>> {
    open_into(link, passphrase, Path::new("."))
        .await
        .map(|opened| opened.message)
}

/// Claims and opens the note of `link` and writes its files, if any, into `dir` (created if
/// missing) under the names the manifest gives, never replacing an existing file and never
/// leaving a partial or unauthenticated file under a final name.
///
/// # Errors
///
/// The errors of [`open`]; [`CliError::UnsafeFileList`] if the manifest is
/// malformed or names a file unsafely; [`CliError::FileExists`] if a name is taken in `dir`
/// (checked before any download); [`CliError::FileTampered`] if a file does not open (changed,
/// cut short, too long); [`CliError::Gone`] if a file is no longer on the server;
/// [`CliError::Io`].
pub async fn open_into(
    link: &Link,
    passphrase: impl FnOnce() -> Result<Zeroizing<Vec<u8>>>,
    dir: &Path,
) -> Result<Opened> {
    let (plaintext, claimed) = claim_note(link, passphrase).await?;
    save_bundle(&link.server, link.id, plaintext, claimed, dir).await
}

/// After a claim of note `id` on `server`: the opened `plaintext` as a message, or as a
/// [`Bundle`] whose files are downloaded with the claim's `claimed` token, checked and written
/// into `dir` as [`open_into`] says.
pub(crate) async fn save_bundle(
    server: &ServerUrl,
    id: uuid::Uuid,
    plaintext: Zeroizing<Vec<u8>>,
    claimed: Option<ClaimedFiles>,
    dir: &Path,
) -> Result<Opened> {
    let bundle = match Bundle::from_plaintext(&plaintext) {
        Ok(None) => {
            return Ok(Opened {
                message: plaintext,
                files: Vec::new(),
            });
        }
        Ok(Some(bundle)) => bundle,
        Err(_) => return Err(CliError::UnsafeFileList),
    };
    let message = Zeroizing::new(bundle.message().to_vec());
    if bundle.files().is_empty() {
        return Ok(Opened {
            message,
            files: Vec::new(),
        });
    }
    check_names(dir, bundle.files())?;
    let claimed = claimed.ok_or(CliError::FileTampered)?;
    let expected: Vec<u64> = bundle
        .files()
        .iter()
        .map(|file| attachment::sealed_size(file.size()))
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| CliError::UnsafeFileList)?;
    if claimed.sealed_sizes != expected {
        return Err(CliError::FileTampered);
    }
    std::fs::create_dir_all(dir)
        .map_err(|err| CliError::io(format!("create the directory {}", dir.display()), err))?;
    let token = Zeroizing::new(claimed.token.clone());
    let mut parts = Vec::with_capacity(bundle.files().len());
    for (index, entry) in bundle.files().iter().enumerate() {
        let mut part = PartFile::create(dir)?;
        let file_index = u32::try_from(index).map_err(|_| CliError::UnsafeFileList)?;
        let mut opener = ChunkOpener::new(bundle.key(), file_index, entry.size())
            .map_err(|_| CliError::UnsafeFileList)?;
        let mut stream = download(server, id, index, &token).await?;
        receive(&mut stream, &mut opener, &mut part).await?;
        part.finish()?;
        parts.push(part);
    }
    let mut files = Vec::with_capacity(parts.len());
    for (part, entry) in parts.into_iter().zip(bundle.files()) {
        let path = dir.join(entry.name());
        part.persist(&path)?;
        files.push(SavedFile {
            path,
            size: entry.size(),
        });
    }
    Ok(Opened { message, files })
}

/// Reads one sealed stream into whole sealed chunks, opens each and appends it to `part`.
async fn receive(
    stream: &mut crate::transfer::Download,
    opener: &mut ChunkOpener,
    part: &mut PartFile,
) -> Result<()> {
    let mut chunk = Zeroizing::new(Vec::with_capacity(SEALED_CHUNK_LEN));
    while let Some(mut data) = stream.next().await? {
        while !data.is_empty() {
            let want = opener.next_sealed_len().ok_or(CliError::FileTampered)?;
            let take = (want - chunk.len()).min(data.len());
            chunk.extend_from_slice(&data.split_to(take));
            if chunk.len() == want {
                let plain = opener
                    .open_chunk_in_place(&mut chunk)
                    .map_err(|_| CliError::FileTampered)?;
                part.write(plain)?;
                chunk.clear();
            }
        }
    }
    if !chunk.is_empty() || !opener.is_complete() {
        return Err(CliError::FileTampered);
    }
    Ok(())
}

/// Opens each path and makes its manifest entry.
fn prepare(paths: &[PathBuf]) -> Result<Vec<(PathBuf, std::fs::File, FileEntry)>> {
    if paths.len() > MAX_FILES {
        return Err(too_many());
    }
    let mut names = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(paths.len());
    for path in paths {
        let name = path
            .file_name()
            .and_then(|name| name.to_str())
            .filter(|name| is_safe_name(name))
            .ok_or_else(|| {
                CliError::InvalidArgument(format!(
                    "--file {}: the name must be UTF-8 without control characters, at most 255 bytes",
                    printable(path)
                ))
            })?;
        if !names.insert(name.to_owned()) {
            return Err(CliError::InvalidArgument(format!(
                "--file {}: another file has the same name",
                printable(path)
            )));
        }
        let what = format!("read {}", printable(path));
        let file = std::fs::File::open(path).map_err(|err| CliError::io(what.clone(), err))?;
        let metadata = file.metadata().map_err(|err| CliError::io(what, err))?;
        if !metadata.is_file() {
            return Err(CliError::InvalidArgument(format!(
                "--file {}: not a regular file",
                printable(path)
            )));
        }
        let entry = FileEntry::new(name, FILE_MEDIA_TYPE, metadata.len()).map_err(|_| {
            CliError::InvalidArgument(format!("--file {}: too large", printable(path)))
        })?;
        out.push((path.clone(), file, entry));
    }
    Ok(out)
}

/// Seals file `index` of `bundle` from `file` on a blocking thread and uploads it as it is
/// sealed.
async fn upload_file(
    server: &ServerUrl,
    bundle: &Bundle,
    index: u32,
    path: &Path,
    file: std::fs::File,
    size: u64,
) -> Result<uuid::Uuid> {
    let sealer = ChunkSealer::new(bundle.key(), index, size).map_err(CliError::Seal)?;
    let sealed_size = attachment::sealed_size(size).map_err(CliError::Seal)?;
    let (body, chunks, sent) = ChunkBody::new(sealed_size);
    let what = format!("read {}", printable(path));
    let producer = tokio::task::spawn_blocking(move || seal_into(file, sealer, &chunks, &what));
    upload(server, body, sent, producer).await
}

/// The sealing side of an upload: reads `file` chunk by chunk, seals each and queues it.
fn seal_into(
    mut file: std::fs::File,
    mut sealer: ChunkSealer,
    chunks: &tokio::sync::mpsc::Sender<std::io::Result<Bytes>>,
    what: &str,
) -> Result<()> {
    use std::io::Read as _;
    let mut buffer = Zeroizing::new(vec![0u8; attachment::CHUNK_LEN]);
    let changed = || std::io::Error::other("the file changed while it was read");
    let fail = |err: std::io::Error| {
        let kind = err.kind();
        let _closed = chunks.blocking_send(Err(std::io::Error::new(kind, "the upload stopped")));
        CliError::io(what.to_owned(), err)
    };
    while let Some(len) = sealer.next_chunk_len() {
        let chunk = buffer.get_mut(..len).ok_or_else(|| fail(changed()))?;
        file.read_exact(chunk).map_err(|err| {
            if err.kind() == std::io::ErrorKind::UnexpectedEof {
                fail(changed())
            } else {
                fail(err)
            }
        })?;
        let sealed = sealer.seal_chunk(chunk).map_err(CliError::Seal)?;
        if chunks.blocking_send(Ok(Bytes::from(sealed))).is_err() {
            // The connection is gone; the upload reports why.
            return Ok(());
        }
    }
    let mut probe = [0u8; 1];
    match file.read(&mut probe) {
        Ok(0) => Ok(()),
        Ok(_) => Err(fail(changed())),
        Err(err) => Err(fail(err)),
    }
}

fn too_many() -> CliError {
    CliError::InvalidArgument(format!("at most {MAX_FILES} files per note"))
}

/// A path for an error message, without control characters.
fn printable(path: &Path) -> String {
    path.display()
        .to_string()
        .chars()
        .filter(|c| !c.is_control())
        .collect()
}
