//! The CSV import parser: the four files of a school's export (separated in the input by NUL
//! bytes: établissement, élèves, responsables, liens), with either separator, any encoding
//! mistake and any line. Nothing may panic; an accepted export's links only join lines it has.

#![no_main]

use idp::import::files::{ExportFiles, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|b| *b == 0);
    let files = ExportFiles {
        school: parts.next(),
        pupils: parts.next(),
        guardians: parts.next(),
        links: parts.next(),
    };
    match parse(&files, "2026-12-01") {
        Ok(export) => {
            for link in &export.links {
                assert!(
                    export
                        .pupils
                        .iter()
                        .any(|p| p.source_id == link.pupil_source_id)
                );
                assert!(
                    export
                        .guardians
                        .iter()
                        .any(|g| g.source_id == link.guardian_source_id)
                );
            }
        }
        Err(rejections) => assert!(!rejections.is_empty()),
    }
});
