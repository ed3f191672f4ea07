//! Inline display in evcxr Jupyter notebooks: an HTML table type and a PNG
//! picture type whose `evcxr_display` methods print evcxr's display protocol
//! (`EVCXR_BEGIN_CONTENT <mime>` ... `EVCXR_END_CONTENT`) on stdout. The
//! kernel calls `evcxr_display` on a cell's final value; nothing here depends
//! on evcxr.

use std::fmt::Write as _;

use image::{ImageFormat, RgbImage};

use crate::error::EvalError;

/// A table shown as HTML in a notebook (and as Markdown elsewhere).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HtmlTable {
    /// Column names.
    pub headers: Vec<String>,
    /// Cells, row by row (a short row leaves its last cells empty).
    pub rows: Vec<Vec<String>>,
}

impl HtmlTable {
    /// An empty table with these column names.
    pub fn new<S: Into<String>>(headers: impl IntoIterator<Item = S>) -> Self {
        HtmlTable {
            headers: headers.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row.
    pub fn push_row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    /// The table as an HTML `<table>`, every cell escaped.
    pub fn to_html(&self) -> String {
        let mut out = String::from("<table>\n<thead><tr>");
        for header in &self.headers {
            let _ = write!(out, "<th>{}</th>", escape(header));
        }
        out.push_str("</tr></thead>\n<tbody>\n");
        for row in &self.rows {
            out.push_str("<tr>");
            for index in 0..self.headers.len().max(row.len()) {
                let cell = row.get(index).map_or("", String::as_str);
                let _ = write!(out, "<td>{}</td>", escape(cell));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody>\n</table>");
        out
    }

    /// The table as Markdown (`|` in cells escaped).
    pub fn to_markdown(&self) -> String {
        let line = |cells: &[String]| {
            let cells: Vec<String> = cells.iter().map(|c| c.replace('|', "\\|")).collect();
            format!("| {} |\n", cells.join(" | "))
        };
        let mut out = line(&self.headers);
        out.push_str(&line(&vec!["---".to_owned(); self.headers.len()]));
        for row in &self.rows {
            out.push_str(&line(row));
        }
        out
    }

    /// Shows the table in an evcxr notebook (`text/html`).
    pub fn evcxr_display(&self) {
        println!(
            "EVCXR_BEGIN_CONTENT text/html\n{}\nEVCXR_END_CONTENT",
            self.to_html()
        );
    }
}

/// A PNG picture (the accuracy plot) shown inline in a notebook.
#[derive(Debug, Clone)]
pub struct Picture {
    image: RgbImage,
}

impl Picture {
    /// Wraps an image.
    pub fn new(image: RgbImage) -> Self {
        Picture { image }
    }

    /// The image.
    pub fn image(&self) -> &RgbImage {
        &self.image
    }

    /// The picture encoded as PNG.
    pub fn to_png(&self) -> Result<Vec<u8>, EvalError> {
        let mut bytes = std::io::Cursor::new(Vec::new());
        self.image
            .write_to(&mut bytes, ImageFormat::Png)
            .map_err(|source| EvalError::Image {
                path: "<memory>".into(),
                source,
            })?;
        Ok(bytes.into_inner())
    }

    /// Shows the picture in an evcxr notebook (`image/png`, base64); a
    /// picture that cannot be encoded prints the error as text instead.
    pub fn evcxr_display(&self) {
        match self.to_png() {
            Ok(png) => println!(
                "EVCXR_BEGIN_CONTENT image/png\n{}\nEVCXR_END_CONTENT",
                base64(&png)
            ),
            Err(error) => println!("EVCXR_BEGIN_CONTENT text/plain\n{error}\nEVCXR_END_CONTENT"),
        }
    }
}

/// `&`, `<`, `>` and `"` as HTML entities.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            other => out.push(other),
        }
    }
    out
}

/// Standard base64 with padding (RFC 4648), for the display protocol.
fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_cells_are_escaped_and_rows_padded() {
        let mut table = HtmlTable::new(["q", "a"]);
        table.push_row(["<b>&\"", "x|y"]);
        table.push_row(["only"]);
        let html = table.to_html();
        assert!(
            html.contains("<td>&lt;b&gt;&amp;&quot;</td><td>x|y</td>"),
            "{html}"
        );
        assert!(html.contains("<tr><td>only</td><td></td></tr>"), "{html}");
        assert!(table.to_markdown().contains("| <b>&\" | x\\|y |"));
    }

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn pictures_encode_as_png() {
        let picture = Picture::new(RgbImage::new(3, 2));
        assert_eq!(&picture.to_png().unwrap()[1..4], b"PNG");
    }
}
