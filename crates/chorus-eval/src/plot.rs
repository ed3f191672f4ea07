//! Small PNG charts drawn with `image` and labelled with the `font8x8` bitmap
//! font (no system fonts needed): a line chart of accuracy (y, 0–100%)
//! against the number of paraphrases (x), one coloured line per series
//! ([`render_plot`]), and grouped bars of accuracy, one group per result set
//! and one bar per method ([`render_bars`]), whose y axis ends at the first
//! 10 % above the highest bar (small accuracies stay readable).

use font8x8::UnicodeFonts;
use image::{Rgb, RgbImage};

const WIDTH: u32 = 800;
const HEIGHT: u32 = 500;
const LEFT: i64 = 70;
const RIGHT: i64 = 250;
const TOP: i64 = 40;
const BOTTOM: i64 = 60;
const WHITE: Rgb<u8> = Rgb([255, 255, 255]);
const BLACK: Rgb<u8> = Rgb([0, 0, 0]);
const GRID: Rgb<u8> = Rgb([225, 225, 225]);
const PALETTE: [Rgb<u8>; 8] = [
    Rgb([31, 119, 180]),
    Rgb([255, 127, 14]),
    Rgb([44, 160, 44]),
    Rgb([214, 39, 40]),
    Rgb([148, 103, 189]),
    Rgb([140, 86, 75]),
    Rgb([227, 119, 194]),
    Rgb([127, 127, 127]),
];

/// One line of the chart: `(number of paraphrases, accuracy in 0..=1)` points.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text (e.g. `"SmolLM2 avg"`).
    pub label: String,
    /// Points, drawn in the given order.
    pub points: Vec<(usize, f64)>,
}

/// Draws the chart. The x axis spans 1 to the largest paraphrase count.
pub fn render_plot(series: &[Series]) -> RgbImage {
    let mut image = RgbImage::from_pixel(WIDTH, HEIGHT, WHITE);
    let max_x = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .max()
        .unwrap_or(1)
        .max(2);
    let frame = Frame { max_x, max_y: 1.0 };
    frame.draw_axes(&mut image);
    for (index, line) in series.iter().enumerate() {
        let colour = PALETTE[index % PALETTE.len()];
        let pixels: Vec<(i64, i64)> = line
            .points
            .iter()
            .map(|&(x, y)| frame.to_pixel(x, y))
            .collect();
        for pair in pixels.windows(2) {
            draw_line(&mut image, pair[0], pair[1], colour);
        }
        for &(x, y) in &pixels {
            fill_rect(&mut image, x - 3, y - 3, 7, 7, colour);
        }
        let legend_y = TOP + 10 + 16 * index as i64;
        let legend_x = i64::from(WIDTH) - RIGHT + 20;
        fill_rect(&mut image, legend_x, legend_y, 10, 8, colour);
        draw_text(&mut image, legend_x + 16, legend_y, &line.label, BLACK);
    }
    image
}

/// One group of bars: a result set (e.g. a dataset and paraphrase setting)
/// with one accuracy per method.
#[derive(Debug, Clone, PartialEq)]
pub struct BarGroup {
    /// Text under the group.
    pub label: String,
    /// `(method, accuracy in 0..=1)`; a method's colour is its place in the
    /// legend, the union of every group's methods in first-seen order.
    pub bars: Vec<(String, f64)>,
}

/// Draws grouped bars: one group per [`BarGroup`] along x, accuracy on y (up
/// to the first multiple of 10 % above the highest bar), one colour per
/// method with a legend.
pub fn render_bars(groups: &[BarGroup]) -> RgbImage {
    let mut legend: Vec<&str> = Vec::new();
    for group in groups {
        for (method, _) in &group.bars {
            if !legend.contains(&method.as_str()) {
                legend.push(method);
            }
        }
    }
    let mut image = RgbImage::from_pixel(WIDTH, HEIGHT, WHITE);
    let highest = groups
        .iter()
        .flat_map(|g| g.bars.iter().map(|b| b.1))
        .fold(0.0f64, f64::max);
    let frame = Frame {
        max_x: 2,
        max_y: axis_end(highest),
    };
    frame.draw_y_axis(&mut image, "result set");
    let slot = Frame::plot_width() / groups.len().max(1) as i64;
    let most = groups
        .iter()
        .map(|g| g.bars.len())
        .max()
        .unwrap_or(1)
        .max(1);
    let bar = ((slot - 16) / most as i64).clamp(2, 40);
    let bottom = TOP + Frame::plot_height();
    for (index, group) in groups.iter().enumerate() {
        let start = LEFT + slot * index as i64 + (slot - bar * group.bars.len() as i64) / 2;
        for (offset, (method, accuracy)) in group.bars.iter().enumerate() {
            let colour_index = legend.iter().position(|m| m == method).unwrap_or(0);
            let colour = PALETTE[colour_index % PALETTE.len()];
            let (_, top) = frame.to_pixel(1, *accuracy);
            let x = start + bar * offset as i64;
            fill_rect(&mut image, x, top, bar - 1, bottom - top, colour);
        }
        // Labels that would touch their neighbours alternate between two
        // lines; longer than two slots, they keep their end (the distinctive part).
        let crowded = groups
            .iter()
            .any(|g| 8 * g.label.chars().count() as i64 > slot - 8);
        let line = if crowded { 11 * (index as i64 % 2) } else { 0 };
        let room = usize::try_from(2 * slot / 8 - 1).unwrap_or(1).max(1);
        let chars: Vec<char> = group.label.chars().collect();
        let label: String = chars[chars.len().saturating_sub(room)..].iter().collect();
        let label_x = LEFT + slot * index as i64 + slot / 2 - 4 * label.chars().count() as i64;
        draw_text(&mut image, label_x, bottom + 6 + line, &label, BLACK);
    }
    for (index, method) in legend.iter().enumerate() {
        let colour = PALETTE[index % PALETTE.len()];
        let legend_y = TOP + 10 + 16 * index as i64;
        let legend_x = i64::from(WIDTH) - RIGHT + 20;
        fill_rect(&mut image, legend_x, legend_y, 10, 8, colour);
        draw_text(&mut image, legend_x + 16, legend_y, method, BLACK);
    }
    image
}

/// The top of a bar chart's accuracy axis: the first multiple of 10 % above
/// `highest` (10 % at least, 100 % at most).
fn axis_end(highest: f64) -> f64 {
    (((highest * 10.0).floor() + 1.0) / 10.0).clamp(0.1, 1.0)
}

/// Maps data coordinates to pixels.
struct Frame {
    max_x: usize,
    /// The accuracy at the top of the plot area.
    max_y: f64,
}

impl Frame {
    fn plot_width() -> i64 {
        i64::from(WIDTH) - LEFT - RIGHT
    }

    fn plot_height() -> i64 {
        i64::from(HEIGHT) - TOP - BOTTOM
    }

    fn to_pixel(&self, x: usize, accuracy: f64) -> (i64, i64) {
        let span = (self.max_x - 1) as f64;
        let px = LEFT + ((x.max(1) - 1) as f64 / span * Self::plot_width() as f64).round() as i64;
        let clamped = accuracy.clamp(0.0, self.max_y) / self.max_y;
        let py = TOP + Self::plot_height() - (clamped * Self::plot_height() as f64).round() as i64;
        (px, py)
    }

    fn draw_axes(&self, image: &mut RgbImage) {
        let step = self.max_x.div_ceil(10).max(1);
        for x in (1..=self.max_x).filter(|x| (x - 1) % step == 0 || *x == self.max_x) {
            let (px, _) = self.to_pixel(x, 0.0);
            draw_line(image, (px, TOP), (px, TOP + Self::plot_height()), GRID);
            let label = x.to_string();
            draw_text(
                image,
                px - 4 * label.len() as i64,
                TOP + Self::plot_height() + 8,
                &label,
                BLACK,
            );
        }
        // Last, so that the frame is drawn over the grid.
        self.draw_y_axis(image, "number of paraphrases");
    }

    /// The accuracy grid and labels, the frame and the x axis' title.
    fn draw_y_axis(&self, image: &mut RgbImage, x_title: &str) {
        // Lines every 10 %, or every 5 % on an axis of at most 50 %.
        let step = if self.max_y <= 0.5 { 5 } else { 10 };
        let top = (self.max_y * 100.0).round() as u32;
        for percent in (0..=top).step_by(step) {
            let (_, y) = self.to_pixel(1, f64::from(percent) / 100.0);
            draw_line(image, (LEFT, y), (LEFT + Self::plot_width(), y), GRID);
            draw_text(image, LEFT - 40, y - 4, &format!("{percent:>3}%"), BLACK);
        }
        let bottom = TOP + Self::plot_height();
        draw_line(image, (LEFT, TOP), (LEFT, bottom), BLACK);
        draw_line(
            image,
            (LEFT, bottom),
            (LEFT + Self::plot_width(), bottom),
            BLACK,
        );
        draw_text(
            image,
            LEFT + Self::plot_width() / 2 - 4 * x_title.len() as i64,
            bottom + 34,
            x_title,
            BLACK,
        );
        draw_text(
            image,
            LEFT,
            TOP - 25,
            "accuracy (lemma partial match)",
            BLACK,
        );
    }
}

fn put(image: &mut RgbImage, x: i64, y: i64, colour: Rgb<u8>) {
    if let (Ok(x), Ok(y)) = (u32::try_from(x), u32::try_from(y))
        && x < image.width()
        && y < image.height()
    {
        image.put_pixel(x, y, colour);
    }
}

fn fill_rect(image: &mut RgbImage, x: i64, y: i64, width: i64, height: i64, colour: Rgb<u8>) {
    for dy in 0..height {
        for dx in 0..width {
            put(image, x + dx, y + dy, colour);
        }
    }
}

/// Bresenham's line.
fn draw_line(image: &mut RgbImage, from: (i64, i64), to: (i64, i64), colour: Rgb<u8>) {
    let (mut x, mut y) = from;
    let dx = (to.0 - x).abs();
    let dy = -(to.1 - y).abs();
    let sx = if x < to.0 { 1 } else { -1 };
    let sy = if y < to.1 { 1 } else { -1 };
    let mut error = dx + dy;
    loop {
        put(image, x, y, colour);
        if (x, y) == to {
            break;
        }
        let doubled = 2 * error;
        if doubled >= dy {
            error += dy;
            x += sx;
        }
        if doubled <= dx {
            error += dx;
            y += sy;
        }
    }
}

/// Draws text with the 8x8 bitmap font; characters it lacks become `?`.
fn draw_text(image: &mut RgbImage, x: i64, y: i64, text: &str, colour: Rgb<u8>) {
    for (index, c) in text.chars().enumerate() {
        let glyph = font8x8::BASIC_FONTS
            .get(c)
            .or_else(|| font8x8::LATIN_FONTS.get(c))
            .or_else(|| font8x8::BASIC_FONTS.get('?'))
            .unwrap_or([0; 8]);
        let origin = x + 8 * index as i64;
        for (row, bits) in glyph.iter().enumerate() {
            for column in 0..8 {
                if bits & (1 << column) != 0 {
                    put(image, origin + column, y + row as i64, colour);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_are_drawn_in_their_colour() {
        let series = [Series {
            label: "model avg".to_owned(),
            points: vec![(1, 0.0), (3, 0.5), (5, 1.0)],
        }];
        let image = render_plot(&series);
        assert_eq!((image.width(), image.height()), (WIDTH, HEIGHT));
        let frame = Frame {
            max_x: 5,
            max_y: 1.0,
        };
        for &(x, y) in &series[0].points {
            let (px, py) = frame.to_pixel(x, y);
            assert_eq!(*image.get_pixel(px as u32, py as u32), PALETTE[0]);
        }
        // The top-right corner of the plot area holds the last point.
        assert_eq!(frame.to_pixel(5, 1.0), (LEFT + Frame::plot_width(), TOP));
    }

    #[test]
    fn bars_reach_their_accuracy_in_their_method_colour() {
        let groups = [
            BarGroup {
                label: "webqa".to_owned(),
                bars: vec![("origin".to_owned(), 0.5), ("avg".to_owned(), 1.0)],
            },
            BarGroup {
                label: "lama".to_owned(),
                bars: vec![("avg".to_owned(), 0.25)],
            },
        ];
        let image = render_bars(&groups);
        let frame = Frame {
            max_x: 2,
            max_y: 1.0,
        };
        let bottom = TOP + Frame::plot_height();
        let slot = Frame::plot_width() / 2;
        let bar = ((slot - 16) / 2).clamp(2, 40);
        // Group 0: origin (colour 0) up to 50%, avg (colour 1) up to 100%.
        let x0 = LEFT + (slot - 2 * bar) / 2;
        let (_, half) = frame.to_pixel(1, 0.5);
        assert_eq!(*image.get_pixel(x0 as u32, half as u32 + 1), PALETTE[0]);
        assert_eq!(*image.get_pixel(x0 as u32, half as u32 - 2), WHITE);
        assert_eq!(
            *image.get_pixel((x0 + bar) as u32, TOP as u32 + 1),
            PALETTE[1]
        );
        // Group 1: avg keeps its colour.
        let x1 = LEFT + slot + (slot - bar) / 2;
        assert_eq!(*image.get_pixel(x1 as u32, bottom as u32 - 2), PALETTE[1]);
    }

    #[test]
    fn low_bars_get_a_short_axis() {
        assert_eq!(axis_end(0.245), 0.3);
        assert_eq!(axis_end(0.3), 0.4);
        assert_eq!(axis_end(0.0), 0.1);
        assert_eq!(axis_end(0.97), 1.0);
        let groups = [BarGroup {
            label: "lama".to_owned(),
            bars: vec![("origin".to_owned(), 0.15)],
        }];
        let image = render_bars(&groups);
        let frame = Frame {
            max_x: 2,
            max_y: 0.2,
        };
        // 15 % of a 20 % axis: three quarters of the plot height.
        let (_, top) = frame.to_pixel(1, 0.15);
        assert_eq!(top, TOP + Frame::plot_height() / 4);
        let x = LEFT + Frame::plot_width() / 2;
        assert_eq!(*image.get_pixel(x as u32, top as u32 + 1), PALETTE[0]);
        assert_ne!(*image.get_pixel(x as u32, top as u32 - 2), PALETTE[0]);
    }

    #[test]
    fn empty_chart_still_has_axes() {
        let image = render_plot(&[]);
        let bottom = (TOP + Frame::plot_height()) as u32;
        assert_eq!(*image.get_pixel(LEFT as u32, bottom), BLACK);
    }
}
