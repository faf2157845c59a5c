//! Credential letters: one A4 page per new account, one PDF per class, in French. The PDF is
//! written directly (PDF 1.4, the standard Helvetica fonts in WinAnsi encoding, compressed
//! page contents): a letter is a few lines of text and needs no layout engine.

use std::io::Write as _;

use flate2::Compression;
use flate2::write::ZlibEncoder;

/// What one letter says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Letter {
    pub school_name: String,
    pub uai: String,
    /// "Léa MARTIN", "Madame Claire MARTIN".
    pub addressee: String,
    /// For a pupil: "Classe : 4e A"; for a guardian: "Responsable de : Léa MARTIN (4e A)".
    pub context: String,
    /// `Élève` or `Responsable d'élève`: the profile to choose on the sign-in page.
    pub profile: String,
    pub identifier: String,
    pub temporary_password: String,
    /// "1 mars 2027".
    pub valid_until: String,
    /// Where to sign in.
    pub sign_in_url: String,
    /// The school gave a new temporary password to an account that existed already.
    pub renewal: bool,
}

/// "Madame Claire MARTIN", "Monsieur Marc PETIT", or the names alone.
pub fn guardian_addressee(civility: Option<&str>, first_name: &str, last_name: &str) -> String {
    let title = match civility {
        Some("Mme") => "Madame ",
        Some("M.") => "Monsieur ",
        _ => "",
    };
    format!("{title}{first_name} {last_name}")
}

/// "Élève, classe : 4e A".
pub fn pupil_context(class: Option<&str>) -> String {
    match class.filter(|c| !c.is_empty()) {
        Some(class) => format!("Élève, classe : {class}"),
        None => "Élève".to_owned(),
    }
}

/// "Responsable de : Léa MARTIN (4e A), Hugo MARTIN (6e B)".
pub fn guardian_context(children: &[String]) -> String {
    if children.is_empty() {
        "Responsable d'élève".to_owned()
    } else {
        format!("Responsable de : {}", children.join(", "))
    }
}

impl Letter {
    /// The lines of the page, each with its font size and whether it is bold.
    fn lines(&self) -> Vec<(f32, bool, String)> {
        let (title, intro) = if self.renewal {
            (
                "Votre nouveau mot de passe provisoire",
                "Votre établissement vous a attribué un nouveau mot de passe provisoire. Il donne",
            )
        } else {
            (
                "Vos identifiants de connexion",
                "Un compte a été créé pour vous. Il donne accès, avec un seul identifiant, aux",
            )
        };
        let intro_end = if self.renewal {
            "accès, avec votre identifiant, aux services en ligne de l'établissement."
        } else {
            "services en ligne de l'établissement (ENT, vie scolaire, téléservices)."
        };
        let lines = vec![
            (10.0, false, format!("{} ({})", self.school_name, self.uai)),
            (10.0, false, String::new()),
            (18.0, true, title.to_owned()),
            (10.0, false, String::new()),
            (12.0, true, self.addressee.clone()),
            (11.0, false, self.context.clone()),
            (11.0, false, String::new()),
            (11.0, false, intro.to_owned()),
            (11.0, false, intro_end.to_owned()),
            (11.0, false, String::new()),
            (13.0, true, format!("Identifiant : {}", self.identifier)),
            (
                13.0,
                true,
                format!("Mot de passe provisoire : {}", self.temporary_password),
            ),
            (
                11.0,
                false,
                format!(
                    "Le mot de passe provisoire est valable jusqu'au {}.",
                    self.valid_until
                ),
            ),
            (11.0, false, String::new()),
            (12.0, true, "Pour activer votre compte".into()),
            (
                11.0,
                false,
                format!("1. Rendez-vous sur {}", self.sign_in_url),
            ),
            (
                11.0,
                false,
                format!("2. Choisissez le profil « {} ».", self.profile),
            ),
            (
                11.0,
                false,
                "3. Saisissez l'identifiant et le mot de passe provisoire ci-dessus.".into(),
            ),
            (
                11.0,
                false,
                "4. Choisissez votre propre mot de passe, puis confirmez votre date de naissance."
                    .into(),
            ),
            (11.0, false, String::new()),
            (
                11.0,
                false,
                "Conservez votre identifiant : il vous servira pendant toute la scolarité.".into(),
            ),
            (
                11.0,
                false,
                "Ne communiquez jamais votre mot de passe, même à l'établissement.".into(),
            ),
            (
                11.0,
                false,
                "Mot de passe provisoire expiré ou perdu : adressez-vous à l'établissement.".into(),
            ),
        ];
        // a guardian of many children has a long context line: wrapped, never cut
        lines
            .into_iter()
            .flat_map(|(size, bold, text)| {
                wrap(&text, 88)
                    .into_iter()
                    .map(move |part| (size, bold, part))
            })
            .collect()
    }
}

/// Splits text into lines of at most `width` characters, at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split(' ') {
        let last = lines.last_mut().expect("never empty");
        if !last.is_empty() && last.chars().count() + 1 + word.chars().count() > width {
            lines.push(word.to_owned());
        } else {
            if !last.is_empty() {
                last.push(' ');
            }
            last.push_str(word);
        }
    }
    lines
}

/// Encodes text for the standard fonts' WinAnsi encoding (Windows-1252) as a PDF string
/// literal; characters it lacks become `?`.
fn pdf_string(text: &str) -> Vec<u8> {
    let mut out = vec![b'('];
    for c in text.chars() {
        let byte = match c {
            '(' | ')' | '\\' => {
                out.push(b'\\');
                c as u8
            }
            ' '..='~' => c as u8,
            '\u{a0}'..='\u{ff}' => c as u32 as u8,
            '€' => 0x80,
            '…' => 0x85,
            '‘' => 0x91,
            '’' => 0x92,
            '“' => 0x93,
            '”' => 0x94,
            '–' => 0x96,
            '—' => 0x97,
            'Œ' => 0x8c,
            'œ' => 0x9c,
            'Ÿ' => 0x9f,
            '\u{202f}' => 0xa0,
            _ => b'?',
        };
        out.push(byte);
    }
    out.push(b')');
    out
}

fn page_content(letter: &Letter) -> Vec<u8> {
    let mut content = Vec::new();
    let mut y = 780.0_f32;
    for (size, bold, text) in letter.lines() {
        y -= size * 1.5;
        if text.is_empty() {
            continue;
        }
        let font = if bold { "F2" } else { "F1" };
        content.extend_from_slice(format!("BT /{font} {size} Tf 60 {y:.1} Td ").as_bytes());
        content.extend_from_slice(&pdf_string(&text));
        content.extend_from_slice(b" Tj ET\n");
    }
    content
}

/// A PDF document with one page per letter.
pub fn pdf(letters: &[Letter]) -> Vec<u8> {
    // objects: 1 catalog, 2 page tree, 3 and 4 fonts, then a page and its content per letter
    let mut objects: Vec<Vec<u8>> = Vec::new();
    let kids: Vec<String> = (0..letters.len())
        .map(|i| format!("{} 0 R", 5 + 2 * i))
        .collect();
    objects.push(b"<< /Type /Catalog /Pages 2 0 R >>".to_vec());
    objects.push(
        format!(
            "<< /Type /Pages /Kids [{}] /Count {} /MediaBox [0 0 595 842] >>",
            kids.join(" "),
            letters.len()
        )
        .into_bytes(),
    );
    for font in ["Helvetica", "Helvetica-Bold"] {
        objects.push(
            format!(
                "<< /Type /Font /Subtype /Type1 /BaseFont /{font} /Encoding /WinAnsiEncoding >>"
            )
            .into_bytes(),
        );
    }
    for (i, letter) in letters.iter().enumerate() {
        objects.push(
            format!(
                "<< /Type /Page /Parent 2 0 R /Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> \
                 /Contents {} 0 R >>",
                6 + 2 * i
            )
            .into_bytes(),
        );
        let mut encoder = ZlibEncoder::new(Vec::new(), Compression::fast());
        encoder
            .write_all(&page_content(letter))
            .expect("writing to memory");
        let compressed = encoder.finish().expect("writing to memory");
        let mut stream = format!(
            "<< /Length {} /Filter /FlateDecode >>\nstream\n",
            compressed.len()
        )
        .into_bytes();
        stream.extend_from_slice(&compressed);
        stream.extend_from_slice(b"\nendstream");
        objects.push(stream);
    }

    let mut out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, object) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(object);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for offset in offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// A file name for a class's letters: `0141234A-4e_A.pdf`.
pub fn file_name(uai: &str, class_name: &str) -> String {
    let class: String = class_name
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' => c.to_string(),
            c if c.is_alphabetic() => crate::domain::names::fold_letters(&c.to_string()),
            _ => "_".to_owned(),
        })
        .collect();
    let class = class.trim_matches('_');
    if class.is_empty() {
        format!("{uai}-sans-classe.pdf")
    } else {
        format!("{uai}-{class}.pdf")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter() -> Letter {
        Letter {
            school_name: "Collège Jean Moulin".into(),
            uai: "0141234A".into(),
            addressee: "Léa MARTIN".into(),
            context: "Classe : 4e A".into(),
            profile: "Élève".into(),
            identifier: "lea.martin".into(),
            temporary_password: "abcd-efgh-jkmn".into(),
            valid_until: "1 mars 2027".into(),
            sign_in_url: "https://educ.example.fr".into(),
            renewal: false,
        }
    }

    #[test]
    fn strings_are_winansi_and_escaped() {
        assert_eq!(pdf_string("Léa (4e)"), b"(L\xe9a \\(4e\\))".to_vec());
        assert_eq!(pdf_string("« œuvre »"), b"(\xab \x9cuvre \xbb)".to_vec());
        assert_eq!(pdf_string("日"), b"(?)".to_vec());
    }

    #[test]
    fn the_cross_reference_table_points_at_every_object() {
        let doc = pdf(&[letter(), letter()]);
        let text = String::from_utf8_lossy(&doc);
        assert!(text.starts_with("%PDF-1.4"));
        let startxref: usize = text
            .rsplit("startxref\n")
            .next()
            .and_then(|t| t.lines().next())
            .and_then(|n| n.parse().ok())
            .unwrap();
        assert!(doc[startxref..].starts_with(b"xref\n0 9\n"));
        let table = String::from_utf8_lossy(&doc[startxref..]);
        for (i, entry) in table.lines().skip(3).take(8).enumerate() {
            let offset: usize = entry[..10].parse().unwrap();
            assert!(
                doc[offset..].starts_with(format!("{} 0 obj", i + 1).as_bytes()),
                "object {}",
                i + 1
            );
        }
        assert!(text.contains("/Count 2"));
    }

    #[test]
    fn the_page_says_identifier_password_and_where_to_go() {
        let content = String::from_utf8_lossy(&page_content(&letter())).into_owned();
        assert!(content.contains("(Identifiant : lea.martin)"));
        assert!(content.contains("(Mot de passe provisoire : abcd-efgh-jkmn)"));
        assert!(content.contains("https://educ.example.fr"));
        assert!(content.contains("valable jusqu'au 1 mars 2027"));
    }

    #[test]
    fn long_lines_are_wrapped_at_spaces() {
        assert_eq!(wrap("un deux trois", 8), vec!["un deux", "trois"]);
        assert_eq!(wrap("", 8), vec![""]);
        let mut many = letter();
        many.context = format!("Responsable de : {}", ["Prénom NOM (CM2)"; 12].join(", "));
        let content = String::from_utf8_lossy(&page_content(&many)).into_owned();
        assert_eq!(
            content.matches("Pr\u{e9}nom NOM").count(),
            0,
            "WinAnsi, not UTF-8"
        );
        assert_eq!(
            content.matches(r"\(CM2\)").count(),
            12,
            "escaped, and nothing cut"
        );
        let context_lines = content.lines().filter(|l| l.contains("CM2")).count();
        assert!(context_lines >= 3, "the context takes several lines");
    }

    #[test]
    fn class_file_names_are_plain() {
        assert_eq!(file_name("0141234A", "4e A"), "0141234A-4e_A.pdf");
        assert_eq!(
            file_name("0141234A", "Moyenne Section é"),
            "0141234A-Moyenne_Section_e.pdf"
        );
        assert_eq!(file_name("0141234A", ""), "0141234A-sans-classe.pdf");
    }
}
