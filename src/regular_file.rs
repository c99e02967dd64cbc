//! Opening a path someone else chose (a snapshot file, the web config, a certificate)
//! without trusting it: opened without blocking, then judged by what was opened, so a
//! FIFO cannot hang the reader, `/dev/zero` cannot fill memory, and a file swapped for
//! either between a check and the open is still caught.

use std::fs::{File, FileType, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("file not found")]
    NotFound,
    #[error("cannot read: {0}")]
    Io(io::Error),
    #[error("is {0}; only regular files (or symlinks to them) are read")]
    NotRegular(&'static str),
    #[error("{len} bytes, more than the {cap} allowed")]
    TooLarge { len: u64, cap: u64 },
}

/// The regular file at `path` (symlinks followed) if it holds at most `cap` bytes,
/// positioned at its start; reads from it end after `cap` bytes even if it grows.
pub fn open(path: &Path, cap: u64) -> Result<io::Take<File>, OpenError> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|error| match error.kind() {
            io::ErrorKind::NotFound => OpenError::NotFound,
            _ => OpenError::Io(error),
        })?;
    let meta = file.metadata().map_err(OpenError::Io)?;
    if !meta.is_file() {
        return Err(OpenError::NotRegular(kind(&meta.file_type())));
    }
    if meta.len() > cap {
        return Err(OpenError::TooLarge {
            len: meta.len(),
            cap,
        });
    }
    Ok(file.take(cap))
}

/// The whole regular file at `path`, at most `cap` bytes.
pub fn read(path: &Path, cap: u64) -> Result<Vec<u8>, OpenError> {
    let mut reader = open(path, cap)?;
    let mut bytes = Vec::new();
    reader.read_to_end(&mut bytes).map_err(OpenError::Io)?;
    Ok(bytes)
}

fn kind(file_type: &FileType) -> &'static str {
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_up_to_the_cap_and_never_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let small = dir.path().join("small");
        std::fs::write(&small, "tls_server_config: {}\n").unwrap();
        assert_eq!(read(&small, 64).unwrap(), b"tls_server_config: {}\n");
        assert!(matches!(
            read(&small, 4),
            Err(OpenError::TooLarge { len: 22, cap: 4 })
        ));
        assert!(matches!(
            read(&dir.path().join("none"), 4),
            Err(OpenError::NotFound)
        ));

        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let started = std::time::Instant::now();
        assert!(matches!(
            read(&fifo, 64),
            Err(OpenError::NotRegular("a FIFO"))
        ));
        assert!(
            started.elapsed() < std::time::Duration::from_secs(1),
            "never blocks"
        );
        for device in ["/dev/zero", "/dev/urandom"] {
            assert!(matches!(
                read(Path::new(device), 1 << 20),
                Err(OpenError::NotRegular("a character device"))
            ));
        }
        let link = dir.path().join("link");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        assert!(
            matches!(
                read(&link, 64),
                Err(OpenError::NotRegular("a character device"))
            ),
            "a symlink is followed, then judged"
        );
        assert!(matches!(
            read(dir.path(), 64),
            Err(OpenError::NotRegular("a directory"))
        ));
    }
}
