//! Methods and run options: what the binaries parse from the command line.

use std::fmt;
use std::str::FromStr;

use chorus_prompt::{DEFAULT_QUESTIONS_PER_EXAMPLE, FuseFirst};

use crate::error::EnsembleError;

pub use chorus_data::Method;

/// Position ids of a packed flex sequence (docs/DESIGN.md, flex rule 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Positions {
    /// Positions restart in every paraphrase segment, as in a standalone prompt;
    /// the first generated token gets the largest segment end.
    #[default]
    Segment,
    /// `0..N-1` over the whole packed sequence (the Python pipeline).
    Continuous,
}

/// Which visibility rules a flex run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FlexMask {
    /// Paraphrase segments isolated from each other; generated tokens see all.
    #[default]
    Flex,
    /// The MyriadLAMA structured layout and rules (docs/DESIGN.md, "MyriadLAMA variant").
    Structured,
}

/// Options of the `flex` method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlexConfig {
    /// Position ids of the packed sequence.
    pub positions: Positions,
    /// Keep one copy of instruction + few-shot block, with an `ln(k)` score bias
    /// for the queries that see every paraphrase (the default; applies with
    /// [`Positions::Segment`] and [`FlexMask::Flex`] only, see
    /// [`FlexConfig::shares_prefix`]).
    pub share_prefix: bool,
    /// Visibility rules.
    pub mask: FlexMask,
    /// How the first answer token is fused ([`FlexMask::Flex`] only; the
    /// structured layout always ends with a shared `"\nA:"`).
    pub fuse_first: FuseFirst,
    /// Question phrasings shown per few-shot example in the structured layout.
    pub questions_per_example: usize,
}

impl Default for FlexConfig {
    fn default() -> Self {
        Self {
            positions: Positions::Segment,
            share_prefix: true,
            mask: FlexMask::Flex,
            fuse_first: FuseFirst::SharedSuffix,
            questions_per_example: DEFAULT_QUESTIONS_PER_EXAMPLE,
        }
    }
}

impl FlexConfig {
    /// The Python pipeline's flex (and the goldens'): no sharing, no fused first
    /// token, with the given positions.
    pub fn pipeline(positions: Positions) -> Self {
        Self {
            positions,
            share_prefix: false,
            fuse_first: FuseFirst::None,
            ..Self::default()
        }
    }

    /// Whether the layout keeps one shared copy of the prefix: asked for, and
    /// possible (segment positions, flex mask; continuous positions differ per
    /// copy, and the structured layout has one prefix already).
    pub fn shares_prefix(&self) -> bool {
        self.share_prefix && self.positions == Positions::Segment && self.mask == FlexMask::Flex
    }

    /// Rejects combinations that have no meaning.
    pub fn validate(&self) -> Result<(), EnsembleError> {
        if self.questions_per_example == 0 {
            return Err(EnsembleError::Config(
                "questions_per_example must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// How the prediction is cut from the generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PredictionRule {
    /// The first line, trimmed.
    #[default]
    FirstLine,
    /// The first whitespace-separated word of the first line (MyriadLAMA flex).
    FirstWord,
}

impl PredictionRule {
    /// The prediction for a generation.
    pub fn apply(self, generation: &str) -> String {
        let line = generation.split('\n').next().unwrap_or("").trim();
        match self {
            PredictionRule::FirstLine => line.to_owned(),
            PredictionRule::FirstWord => line.split_whitespace().next().unwrap_or("").to_owned(),
        }
    }
}

/// How many questions are decoded together in one batch of forward passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchSize {
    /// Exactly this many (the last batch may hold fewer).
    Fixed(usize),
    /// As many as the device's free memory holds, in equal batches, and at
    /// least two of 256 or more questions each where the run is that long, so
    /// that the host's planning and writing overlap device work (see
    /// [`Engine::batch_size_for`](crate::Engine::batch_size_for)); on the CPU,
    /// where memory is not what limits a batch, [`BatchSize::CPU_DEFAULT`].
    Auto,
}

impl BatchSize {
    /// The batch size `Auto` means on the CPU: larger batches gain little
    /// there (measured in docs/benchmarks/cpu.md) and delay the first checkpoint.
    pub const CPU_DEFAULT: usize = 8;

    /// The fixed size, if any.
    pub fn fixed(self) -> Option<usize> {
        match self {
            BatchSize::Fixed(n) => Some(n),
            BatchSize::Auto => None,
        }
    }
}

impl fmt::Display for BatchSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BatchSize::Fixed(n) => write!(f, "{n}"),
            BatchSize::Auto => f.write_str("auto"),
        }
    }
}

impl FromStr for BatchSize {
    type Err = EnsembleError;

    /// `auto` or a positive number of questions.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("auto") {
            return Ok(BatchSize::Auto);
        }
        match s.parse::<usize>() {
            Ok(n) if n > 0 => Ok(BatchSize::Fixed(n)),
            _ => Err(EnsembleError::Config(format!(
                "batch size `{s}`: expected `auto` or a positive number of questions"
            ))),
        }
    }
}

/// Greedy decoding options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeConfig {
    /// Tokens generated at most per answer.
    pub max_new_tokens: usize,
    /// Questions decoded together in one batch of forward passes.
    pub batch_size: BatchSize,
    /// How the prediction is cut from the generation.
    pub prediction: PredictionRule,
    /// Encode the run's context (instruction + few-shot block) once and let
    /// every row attend to that one copy (exact; the default). `false` encodes
    /// every row whole (`--no-shared-context`, for checking).
    pub shared_context: bool,
}

impl Default for DecodeConfig {
    fn default() -> Self {
        Self {
            max_new_tokens: 10,
            batch_size: BatchSize::Auto,
            prediction: PredictionRule::FirstLine,
            shared_context: true,
        }
    }
}

impl DecodeConfig {
    /// Rejects zero sizes.
    pub fn validate(&self) -> Result<(), EnsembleError> {
        if self.max_new_tokens == 0 || self.batch_size == BatchSize::Fixed(0) {
            return Err(EnsembleError::Config(format!(
                "max_new_tokens ({}) and batch_size ({}) must be at least 1",
                self.max_new_tokens, self.batch_size
            )));
        }
        Ok(())
    }
}

/// Sampling options for paraphrase generation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplingConfig {
    /// Softmax temperature; `0` means greedy.
    pub temperature: f32,
    /// Nucleus mass kept (`1` keeps every token).
    pub top_p: f32,
    /// Seed of the random stream.
    pub seed: u64,
    /// Tokens generated at most.
    pub max_new_tokens: usize,
}

impl Default for SamplingConfig {
    /// The pipeline's paraphrase settings (docs/DESIGN.md): temperature 1.5, top-p 0.9,
    /// 30 new tokens, seed 0.
    fn default() -> Self {
        Self {
            temperature: 1.5,
            top_p: 0.9,
            seed: 0,
            max_new_tokens: 30,
        }
    }
}

impl SamplingConfig {
    /// Rejects negative or non-finite temperatures and top-p outside `(0, 1]`.
    pub fn validate(&self) -> Result<(), EnsembleError> {
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return Err(EnsembleError::Config(format!(
                "temperature must be finite and >= 0, got {}",
                self.temperature
            )));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(EnsembleError::Config(format!(
                "top_p must be in (0, 1], got {}",
                self.top_p
            )));
        }
        if self.max_new_tokens == 0 {
            return Err(EnsembleError::Config(
                "max_new_tokens must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

macro_rules! named_option {
    ($ty:ty, $option:literal, [$(($variant:path, $name:literal)),+ $(,)?]) => {
        impl $ty {
            /// Every value's command-line name (for `--help` and messages).
            pub const NAMES: &'static [&'static str] = &[$($name),+];

            /// The value's command-line name.
            pub fn name(self) -> &'static str {
                match self {
                    $($variant => $name,)+
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }

        impl FromStr for $ty {
            type Err = EnsembleError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $(if s == $name { return Ok($variant); })+
                Err(EnsembleError::UnknownOption {
                    option: $option,
                    name: s.to_owned(),
                    valid: names([$($name),+]),
                })
            }
        }
    };
}

named_option!(
    Positions,
    "positions",
    [
        (Positions::Segment, "segment"),
        (Positions::Continuous, "continuous")
    ]
);
named_option!(
    FlexMask,
    "mask",
    [
        (FlexMask::Flex, "flex"),
        (FlexMask::Structured, "structured")
    ]
);
named_option!(
    PredictionRule,
    "prediction",
    [
        (PredictionRule::FirstLine, "first-line"),
        (PredictionRule::FirstWord, "first-word")
    ]
);

/// The values `--fuse-first` takes, in [`parse_fuse_first`]'s order.
pub const FUSE_FIRST_NAMES: &[&str] = &["shared-suffix", "none"];

/// Parses `--fuse-first`: `shared-suffix` or `none`.
pub fn parse_fuse_first(s: &str) -> Result<FuseFirst, EnsembleError> {
    match s {
        "shared-suffix" => Ok(FuseFirst::SharedSuffix),
        "none" => Ok(FuseFirst::None),
        _ => Err(EnsembleError::UnknownOption {
            option: "fuse-first",
            name: s.to_owned(),
            valid: "shared-suffix, none".into(),
        }),
    }
}

fn names<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    names.into_iter().collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_names_round_trip() {
        for p in [Positions::Segment, Positions::Continuous] {
            assert_eq!(p.to_string().parse::<Positions>().unwrap(), p);
        }
        for m in [FlexMask::Flex, FlexMask::Structured] {
            assert_eq!(m.to_string().parse::<FlexMask>().unwrap(), m);
        }
        assert!(
            "diagonal"
                .parse::<FlexMask>()
                .unwrap_err()
                .to_string()
                .contains("flex, structured")
        );
        assert_eq!(parse_fuse_first("none").unwrap(), FuseFirst::None);
        assert!(parse_fuse_first("all").is_err());
    }

    #[test]
    fn predictions_cut_first_line_or_word() {
        assert_eq!(
            PredictionRule::FirstLine.apply(" Jamaican English\n"),
            "Jamaican English"
        );
        assert_eq!(
            PredictionRule::FirstWord.apply(" Jamaican English\nx"),
            "Jamaican"
        );
        assert_eq!(PredictionRule::FirstLine.apply("\nlater"), "");
        assert_eq!(PredictionRule::FirstWord.apply("   "), "");
    }

    #[test]
    fn invalid_combinations_are_rejected() {
        let continuous = FlexConfig {
            positions: Positions::Continuous,
            ..FlexConfig::default()
        };
        assert!(continuous.validate().is_ok() && !continuous.shares_prefix());
        assert!(FlexConfig::default().shares_prefix());
        assert!(FlexConfig::default().validate().is_ok());
        assert!(
            FlexConfig {
                questions_per_example: 0,
                ..FlexConfig::default()
            }
            .validate()
            .is_err()
        );
        assert!(
            DecodeConfig {
                batch_size: BatchSize::Fixed(0),
                ..DecodeConfig::default()
            }
            .validate()
            .is_err()
        );
        assert_eq!("auto".parse::<BatchSize>().unwrap(), BatchSize::Auto);
        assert_eq!("12".parse::<BatchSize>().unwrap(), BatchSize::Fixed(12));
        assert!("0".parse::<BatchSize>().is_err() && "many".parse::<BatchSize>().is_err());
        assert!(
            SamplingConfig {
                top_p: 0.0,
                ..SamplingConfig::default()
            }
            .validate()
            .is_err()
        );
        assert!(
            SamplingConfig {
                temperature: -1.0,
                ..SamplingConfig::default()
            }
            .validate()
            .is_err()
        );
    }
}
