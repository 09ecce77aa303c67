//! Why a configuration was refused. Every problem carries the key it is about, so that an
//! operator fixes a file in one pass (docs/product.md#operator-interface).

/// One refused key: `key` is its path in the file (`apps[1].upstreams[0]`) or the name of the
/// environment variable that set it.
#[derive(Debug)]
pub struct Problem {
    pub key: String,
    pub message: String,
}

/// Display prints one line per problem, each naming the file and the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read the configuration file: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: invalid TOML: {message}")]
    Syntax { file: String, message: String },
    #[error("{}", render_problems(file, problems))]
    Invalid {
        file: String,
        problems: Vec<Problem>,
    },
}

fn render_problems(file: &str, problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("{file}: key `{}`: {}", p.key, p.message))
        .collect::<Vec<_>>()
        .join("\n")
}
