//! [`FileFlash`]: the [`Flash`] trait over a plain file, so the index runs on
//! a real disk.
//!
//! The file is a flat image of the device, block after block, each page
//! its data then its spare area (see [`Geometry::page_offset`]). Erase writes
//! 0xFF over the block, sync is `fsync`. The NAND rules are enforced exactly
//! as on the simulator (through [`PageStates`]); on open, a page that reads
//! all 0xFF counts as erased.
//!
//! **One writer.** `create` and `open` take an exclusive lock on the file
//! (`File::try_lock`, `flock` on Unix) for as long as the device lives: a
//! second opener, in this process or another, gets
//! [`FlashError::Locked`] and changes nothing (`create` locks before it
//! truncates).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::flash::{BlockAddr, Flash, FlashError, Geometry, PageAddr, PageStates, ERASED};

/// A flash device backed by a file.
#[derive(Debug)]
pub struct FileFlash {
    file: File,
    geometry: Geometry,
    states: PageStates,
}

impl FileFlash {
    /// Creates (or truncates) `path` as a fully erased device. An image
    /// another opener holds is `Locked`, and left as it is.
    pub fn create(path: &Path, geometry: Geometry) -> Result<Self, FlashError> {
        geometry.validate()?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        lock(&file)?;
        file.set_len(0)?;
        let erased_block = vec![ERASED; geometry.raw_block_bytes() as usize];
        for _ in 0..geometry.blocks {
            file.write_all(&erased_block)?;
        }
        file.sync_all()?;
        Ok(FileFlash {
            file,
            geometry,
            states: PageStates::erased(geometry),
        })
    }

    /// Opens an existing image; its size must match `geometry`. An image
    /// another opener holds is `Locked`.
    pub fn open(path: &Path, geometry: Geometry) -> Result<Self, FlashError> {
        geometry.validate()?;
        let mut file = OpenOptions::new().read(true).write(true).open(path)?;
        lock(&file)?;
        let actual = file.metadata()?.len();
        if actual != geometry.image_bytes() {
            return Err(FlashError::ImageSize {
                expected: geometry.image_bytes(),
                actual,
            });
        }
        let mut image = Vec::with_capacity(actual as usize);
        file.read_to_end(&mut image)?;
        let raw_page_bytes = geometry.raw_page_bytes() as usize;
        let states = PageStates::from_pages(geometry, image.chunks(raw_page_bytes));
        Ok(FileFlash {
            file,
            geometry,
            states,
        })
    }

    fn seek_page(&mut self, addr: PageAddr) -> Result<(), FlashError> {
        self.file
            .seek(SeekFrom::Start(self.geometry.page_offset(addr)))?;
        Ok(())
    }
}

/// Takes the image's exclusive lock, released when the file closes.
fn lock(file: &File) -> Result<(), FlashError> {
    if crate::planted::active(crate::planted::Bug::NoFileLock) {
        return Ok(());
    }
    file.try_lock().map_err(|error| match error {
        std::fs::TryLockError::WouldBlock => FlashError::Locked,
        std::fs::TryLockError::Error(io) => FlashError::Io(io),
    })
}

impl Flash for FileFlash {
    fn geometry(&self) -> Geometry {
        self.geometry
    }

    fn read(&mut self, page: PageAddr, buf: &mut [u8]) -> Result<(), FlashError> {
        self.geometry.check_io(page, buf.len())?;
        self.seek_page(page)?;
        self.file.read_exact(buf)?;
        Ok(())
    }

    fn program(&mut self, page: PageAddr, data: &[u8]) -> Result<(), FlashError> {
        self.geometry.check_io(page, data.len())?;
        self.states
            .check_program(page)
            .map_err(|rule| FlashError::Violation { rule, page })?;
        self.seek_page(page)?;
        self.file.write_all(data)?;
        self.states.mark_programmed(page);
        Ok(())
    }

    fn erase(&mut self, block: BlockAddr) -> Result<(), FlashError> {
        self.geometry.check_block(block)?;
        self.seek_page(PageAddr { block, page: 0 })?;
        self.file
            .write_all(&vec![ERASED; self.geometry.raw_block_bytes() as usize])?;
        self.states.mark_erased(block);
        Ok(())
    }

    fn sync(&mut self) -> Result<(), FlashError> {
        self.file.sync_data()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error;
    use std::io::ErrorKind;

    fn geometry() -> Geometry {
        Geometry::new(512, 4, 4).unwrap()
    }

    /// The kind of the host I/O error under `error`, if it is one.
    fn io_kind(error: &FlashError) -> Option<ErrorKind> {
        let source = error.source()?;
        source.downcast_ref::<std::io::Error>().map(|io| io.kind())
    }

    /// A geometry out of limits is refused by `create` and `open` before
    /// any file is made or read.
    #[test]
    fn a_geometry_out_of_limits_touches_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("image");
        let geometry = Geometry {
            page_bytes: 500,
            ..geometry()
        };
        let refused = FlashError::BadGeometry { geometry }.to_string();
        let created = FileFlash::create(&path, geometry).unwrap_err();
        assert_eq!(created.to_string(), refused);
        assert_eq!(io_kind(&created), None);
        assert!(!path.exists());
        let opened = FileFlash::open(&path, geometry).unwrap_err();
        assert_eq!(opened.to_string(), refused);
    }

    /// An image in a directory that does not exist cannot be created, and
    /// one that does not exist cannot be opened: host I/O errors, named.
    #[test]
    fn a_missing_image_or_directory_is_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        let created = FileFlash::create(&missing.join("image"), geometry()).unwrap_err();
        assert_eq!(io_kind(&created), Some(ErrorKind::NotFound));
        let opened = FileFlash::open(&missing, geometry()).unwrap_err();
        assert_eq!(io_kind(&opened), Some(ErrorKind::NotFound));
        assert!(opened.to_string().starts_with("I/O failure: "));
    }

    /// A created image, reopened, has the geometry it was made with and
    /// the page programmed into it; the rules carry over (that page is
    /// programmed).
    #[test]
    fn a_reopened_image_keeps_its_geometry_and_pages() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("image");
        let page = PageAddr::new(2, 0);
        let data = vec![0x3C; 512];
        let mut flash = FileFlash::create(&path, geometry()).unwrap();
        assert_eq!(flash.geometry(), geometry());
        flash.program(page, &data).unwrap();
        flash.sync().unwrap();
        drop(flash);
        let mut flash = FileFlash::open(&path, geometry()).unwrap();
        assert_eq!(flash.geometry(), geometry());
        let mut buf = vec![0; 512];
        flash.read(page, &mut buf).unwrap();
        assert_eq!(buf, data);
        let rule = crate::flash::Rule::ProgramTwice;
        assert_eq!(
            flash.program(page, &data).unwrap_err().to_string(),
            FlashError::Violation { rule, page }.to_string()
        );
    }

    /// An image cut short under an open device (by another process) reads
    /// past its end as a host I/O error, never as zeros or erased bytes.
    #[test]
    fn a_page_past_an_image_cut_short_is_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("image");
        let mut flash = FileFlash::create(&path, geometry()).unwrap();
        let mut buf = vec![0; 512];
        let last = PageAddr::new(3, 3);
        flash.read(last, &mut buf).unwrap();
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(geometry().block_bytes())
            .unwrap();
        let error = flash.read(last, &mut buf).unwrap_err();
        assert_eq!(io_kind(&error), Some(ErrorKind::UnexpectedEof));
        flash.read(PageAddr::new(0, 3), &mut buf).unwrap();
        assert_eq!(buf, vec![ERASED; 512]);
    }
}
