//! Opening the files a user names without being led astray: no symbolic link is followed,
//! nothing but a regular file is read (a FIFO or a device is refused at once, never waited on),
//! and never more than a limit is read.
//!
//! Shared with build.rs (through src/package.rs), so it uses nothing else of the crate.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::path::Path;

/// Opens `path` for reading (and writing, creating it if missing, with `write`), refusing a
/// symbolic link and anything that is not a regular file.
pub fn open_regular(path: &Path, write: bool) -> io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.read(true);
    if write {
        opts.write(true).create(true).truncate(false);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below anyway.
        opts.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC);
    }
    let file = opts.open(path).map_err(|e| {
        #[cfg(unix)]
        if e.raw_os_error() == Some(libc::ELOOP) {
            return io::Error::other(
                "it is a symbolic link, which serverless-cli does not follow here; put the file itself there",
            );
        }
        e
    })?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::other(
            "it is not a regular file (a folder, FIFO, socket or device); give a plain file",
        ));
    }
    Ok(file)
}

/// Reads a whole regular file of at most `max` bytes.
pub fn read_capped(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let file = open_regular(path, false)?;
    let len = file.metadata()?.len();
    if len > max {
        return Err(too_large(len, max));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(too_large(bytes.len() as u64, max));
    }
    Ok(bytes)
}

fn too_large(len: u64, max: u64) -> io::Error {
    io::Error::other(format!(
        "it is {len} bytes, more than the {max} bytes this file may hold"
    ))
}

/// A folder only this user can enter (the journal names the stack's resources): made so, or,
/// if it was already there with wider modes, narrowed to them. A link in its place is refused
/// (never followed).
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let meta = std::fs::symlink_metadata(dir)?;
        if !meta.is_dir() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{} is a link or not a folder", dir.display()),
            ));
        }
        if meta.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_fifos_devices_and_oversized_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"12345").unwrap();
        assert_eq!(read_capped(&file, 5).unwrap(), b"12345");
        assert!(read_capped(&file, 4)
            .unwrap_err()
            .to_string()
            .contains("more than the 4 bytes"));
        let link = dir.path().join("l");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert!(read_capped(&link, 100)
            .unwrap_err()
            .to_string()
            .contains("symbolic link"));
        assert!(open_regular(&link, true)
            .unwrap_err()
            .to_string()
            .contains("symbolic link"));
        let fifo = dir.path().join("p");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(read_capped(&fifo, 100)
            .unwrap_err()
            .to_string()
            .contains("not a regular file"));
        assert!(read_capped(Path::new("/dev/zero"), 100)
            .unwrap_err()
            .to_string()
            .contains("not a regular file"));
        assert!(read_capped(dir.path(), 100).is_err());
    }
}
