//! Reading the web config and the files it names without trusting them: only regular
//! files (a FIFO would block the reader for good, `/dev/zero` never ends), opened
//! without blocking, read up to a cap.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// The web config file: a real one is a few hundred bytes.
pub const MAX_CONFIG_BYTES: u64 = 64 * 1024;
/// A certificate chain, key or client CA bundle.
pub const MAX_PEM_BYTES: u64 = 1024 * 1024;

/// Reads `path` if it is a regular file of at most `cap` bytes. Never blocks: a FIFO is
/// opened non-blocking and refused, as is anything that is not a regular file.
pub fn read_regular(path: &Path, cap: u64) -> Result<Vec<u8>, String> {
    let file: File = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|error| error.to_string())?;
    let meta = file.metadata().map_err(|error| error.to_string())?;
    let kind = meta.file_type();
    if !kind.is_file() {
        let what = if kind.is_fifo() {
            "a FIFO"
        } else if kind.is_char_device() || kind.is_block_device() {
            "a device"
        } else if kind.is_dir() {
            "a directory"
        } else if kind.is_socket() {
            "a socket"
        } else {
            "not a regular file"
        };
        return Err(format!("{what}, not a regular file"));
    }
    if meta.len() > cap {
        return Err(format!("{} bytes, more than the {cap} allowed", meta.len()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // Bounded again: the file may grow while it is read.
    file.take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| error.to_string())?;
    if bytes.len() as u64 > cap {
        return Err(format!("more than the {cap} bytes allowed"));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_up_to_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let small = dir.path().join("small");
        std::fs::write(&small, "tls_server_config: {}\n").unwrap();
        assert_eq!(
            read_regular(&small, 64).unwrap(),
            b"tls_server_config: {}\n"
        );
        assert!(
            read_regular(&small, 4)
                .unwrap_err()
                .contains("more than the 4")
        );

        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let started = std::time::Instant::now();
        assert_eq!(
            read_regular(&fifo, 64).unwrap_err(),
            "a FIFO, not a regular file"
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(1),
            "never blocks"
        );

        for device in ["/dev/zero", "/dev/urandom"] {
            assert_eq!(
                read_regular(Path::new(device), MAX_CONFIG_BYTES).unwrap_err(),
                "a device, not a regular file"
            );
        }
        let link = dir.path().join("link");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        assert_eq!(
            read_regular(&link, 64).unwrap_err(),
            "a device, not a regular file",
            "a symlink is followed, then judged"
        );
        assert!(
            read_regular(dir.path(), 64)
                .unwrap_err()
                .contains("directory")
        );
    }
}
