//! POSIX-shell word splitting for runner override commands (`VERISCOPE_GPT_RUNNER_CMD`,
//! `VERISCOPE_HF_RUNNER_CMD`) and quoting for the `[veriscope] cmd=` echo line.
//! Supports single quotes, double quotes with backslash escapes and bare backslashes;
//! no expansion of any kind happens.

use thiserror::Error;

/// A command string that cannot be split.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SplitError {
    /// A quote was opened and never closed.
    #[error("unterminated {0} quote in command")]
    UnterminatedQuote(char),
    /// The string ends in a lone backslash.
    #[error("dangling backslash at end of command")]
    DanglingEscape,
}

/// Splits `line` into words the way `sh` would, without expansions.
pub fn split(line: &str) -> Result<Vec<String>, SplitError> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => word.push(ch),
                        None => return Err(SplitError::UnterminatedQuote('\'')),
                    }
                }
            }
            '"' => {
                in_word = true;
                read_double_quoted(&mut chars, &mut word)?;
            }
            '\\' => {
                in_word = true;
                word.push(chars.next().ok_or(SplitError::DanglingEscape)?);
            }
            other => {
                in_word = true;
                word.push(other);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

fn read_double_quoted(
    chars: &mut std::str::Chars<'_>,
    word: &mut String,
) -> Result<(), SplitError> {
    loop {
        match chars.next() {
            Some('"') => return Ok(()),
            Some('\\') => match chars.next() {
                Some(ch @ ('"' | '\\' | '$' | '`')) => word.push(ch),
                Some('\n') => {}
                Some(ch) => {
                    word.push('\\');
                    word.push(ch);
                }
                None => return Err(SplitError::UnterminatedQuote('"')),
            },
            Some(ch) => word.push(ch),
            None => return Err(SplitError::UnterminatedQuote('"')),
        }
    }
}

/// Quotes one word for display so that `split(join(words)) == words`.
pub fn quote(word: &str) -> String {
    let safe = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "@%+=:,./-_".contains(c));
    if safe {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Joins words into one shell-quoted line.
pub fn join(words: &[String]) -> String {
    words.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_quotes_and_escapes() {
        let w = split(r#"python3 'a b' "c \"d\"" e\ f  --x=1"#).unwrap();
        assert_eq!(w, vec!["python3", "a b", r#"c "d""#, "e f", "--x=1"]);
    }

    #[test]
    fn empty_quotes_make_an_empty_word() {
        assert_eq!(split("a '' b").unwrap(), vec!["a", "", "b"]);
    }

    #[test]
    fn rejects_unterminated() {
        assert_eq!(split("a 'b"), Err(SplitError::UnterminatedQuote('\'')));
        assert_eq!(split("a \"b"), Err(SplitError::UnterminatedQuote('"')));
        assert_eq!(split("a \\"), Err(SplitError::DanglingEscape));
    }

    #[test]
    fn join_round_trips() {
        let words: Vec<String> = ["sh", "-c", "echo 'hi' $X", ""]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(split(&join(&words)).unwrap(), words);
    }
}
